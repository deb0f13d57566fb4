"""diff and check on images the guix stand-in builds from the example fleet history.

The stand-in (tests/standin) names store items as Guix does and makes real qcow2 images, so
these outputs are what a user sees. Expected outputs are stored in tests/unit/expected/diff/
(``VMFLEET_UPDATE_EXPECTED=1`` rewrites them). Its switches make a build non-deterministic,
drift a package or make a source vanish, which is what ``vmfleet check`` must catch.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vmfleet.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.helpers import example_history, golden  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(None in example_history.GUIX_COMMITS.values(),
                       reason="tests/helpers/example_history.py has no stand-in commits yet"),
]

ROOT = Path(__file__).resolve().parents[2]
GUIX = ROOT / "tests" / "standin" / "bin" / "guix"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A registry with the example history imported and web@2023-06 and web@latest built."""
    where = tmp_path_factory.mktemp("standin-fleet")
    home = where / "home"
    saved = dict(os.environ)
    # The stand-in's cache (its kernel download) stays where it is; its store is ours.
    cache = os.environ.get("VMFLEET_STANDIN_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vmfleet-standin")
    os.environ["VMFLEET_STANDIN_CACHE"] = cache
    os.environ["VMFLEET_GUIX"] = str(GUIX)
    os.environ["VMFLEET_STANDIN_STORE"] = str(where / "store")
    os.environ["XDG_CACHE_HOME"] = str(where / "xdg")   # no Guix checkouts of this machine
    try:
        assert main(["--home", str(home), "init"]) == 0
        subprocess.run([sys.executable, str(ROOT / "tests/helpers/example_history.py"),
                        str(where / "fleet")], check=True, capture_output=True)
        assert main(["--home", str(home), "import", str(where / "fleet"),
                     "--system", "web=systems/web.scm", "--system", "db=systems/db.scm",
                     "--channels", "channels.scm"]) == 0
        for spec in ("web@2023-06", "web"):
            assert main(["--home", str(home), "build", spec]) == 0
        yield home, where
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cli(capsys, home, *argv):
    capsys.readouterr()
    code = main(["--home", str(home), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_diff_between_the_oldest_and_the_newest_web(fleet, capsys):
    home, _where = fleet
    code, out, err = cli(capsys, home, "diff", "web@2023-06", "web", "--files")
    assert code == 1, err
    golden.check("diff/standin-web-2023-06-latest.txt", out)
    assert "upgraded   openssh      9.3p1 → 9.7p1" in out  # gnu/packages/ssh.scm at the 2023-06 and 2024-05 pins
    code, out, err = cli(capsys, home, "diff", "web@2023-06", "web", "--json")
    assert code == 1
    data = json.loads(out)
    for side in ("a", "b"):  # image files live in a temporary home
        data[side]["source"] = Path(data[side]["source"]).name[:12] + "….qcow2"
    golden.check("diff/standin-web-2023-06-latest.json", json.dumps(data, indent=2) + "\n")
    code, out, _ = cli(capsys, home, "diff", "web", "web")
    assert code == 0


def test_inspect_and_adopt_a_built_image(fleet, capsys):
    home, _where = fleet
    code, out, err = cli(capsys, home, "inspect", "web", "--json")
    assert code == 0, err
    facts = json.loads(out)
    assert facts["provenance"]["channels"][0]["name"] == "guix"
    assert facts["closure"]["source"] == "database"
    image = facts["source"]
    code, out, err = cli(capsys, home, "adopt", image, "--system", "found")
    assert code == 0, err
    code, out, err = cli(capsys, home, "diff", "found", "web", "--layers", "channels,config")
    assert code == 0, out + err  # the adopted generation has the same inputs


def _check(capsys, home, monkeypatch, where, name, **env):
    monkeypatch.setenv("VMFLEET_STANDIN_STORE", str(where / f"standin-{name}" / "store"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cli(capsys, home, "check", "web@2023-06", "--json")


def test_check_reproducible(fleet, capsys, monkeypatch):
    home, where = fleet
    code, out, err = _check(capsys, home, monkeypatch, where, "clean")
    assert code == 0, err
    assert json.loads(out)[0]["result"] == "reproducible"


def test_check_catches_a_non_deterministic_build(fleet, capsys, monkeypatch):
    home, where = fleet
    code, out, err = _check(capsys, home, monkeypatch, where, "nondet",
                            VMFLEET_STANDIN_NONDETERMINISTIC="1")
    assert code == 1, err
    [result] = json.loads(out)
    assert result["result"] == "image-differs", result


def test_check_catches_drift(fleet, capsys, monkeypatch):
    home, where = fleet
    code, out, err = _check(capsys, home, monkeypatch, where, "drift",
                            VMFLEET_STANDIN_DRIFT="nginx")
    assert code == 1, err
    [result] = json.loads(out)
    assert result["result"] == "drifted"
    changes = result["detail"]["diff"]["layers"]["packages"]["changes"]
    assert {c["name"]: c["change"] for c in changes}["nginx"] == "rebuilt"


def test_check_of_a_generation_that_no_longer_builds(fleet, capsys, monkeypatch):
    home, where = fleet
    code, out, err = _check(capsys, home, monkeypatch, where, "vanish",
                            VMFLEET_STANDIN_VANISH="nginx")
    assert code == 1, err
    [result] = json.loads(out)
    assert result["result"] == "fails"
    assert "failed" in result["detail"]["error"]
    code, out, err = cli(capsys, home, "checks", "web", "--json")
    assert [c["result"] for c in json.loads(out)][-1] == "fails"
