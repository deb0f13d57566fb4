"""--jsonl on the listings: one compact object a line, the same objects --json prints."""

import json

import pytest

from tests.helpers.fleet import channels_scm, os_config
from tests.helpers.pins import V1_4_0
from vmfleet.cli import main
from vmfleet.registry import generations
from vmfleet.registry.db import Registry

LISTINGS = [("systems",), ("generations", "web"), ("builds",), ("images",), ("hosts",),
            ("checks",), ("log",), ("fleet", "history"), ("fleet", "applies")]


@pytest.fixture
def home(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["--home", str(home), "init"]) == 0
    reg = Registry.open(home / "registry.db")
    for i, when in enumerate(["2023-06-01T00:00:00Z", "2024-01-01T00:00:00Z"]):
        generations.record(reg, "web", generations.Inputs(
            "web.scm", os_config("web", packages=("nginx",) * (i + 1)) + f";; {i}\n",
            channels_scm(V1_4_0), {"vmfleet.pub": b"k\n"}), current_from=when,
            message="a\nmessage over\nlines")
    reg.close()
    capsys.readouterr()
    return home


@pytest.mark.parametrize("argv", LISTINGS, ids=" ".join)
def test_jsonl_is_the_json_array_one_element_a_line(home, capsys, argv):
    assert main(["--home", str(home), *argv, "--json"]) == 0
    as_array = json.loads(capsys.readouterr().out)
    assert main(["--home", str(home), *argv, "--jsonl"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [json.loads(line) for line in lines] == as_array
    assert out == "".join(line + "\n" for line in lines) and "" not in lines
    if argv[0] == "generations":
        assert len(lines) == 2 and "\\n" in lines[0]  # a message's newlines stay inside its line


def test_json_and_jsonl_together_are_refused(home, capsys):
    assert main(["--home", str(home), "systems", "--json", "--jsonl"]) == 2
    assert "--json and --jsonl together" in capsys.readouterr().err
