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
        for spec in ("web@2023-06", "web@2023-10", "web"):
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


GUIX_SOURCE = os.environ.get("VMFLEET_GUIX_SOURCE")


def test_why_and_content_between_june_and_october(fleet, capsys):
    """diff --why --content on the demo's history: every row answered; the grafted curl; items
    rebuilt only for their inputs differ only in references, others in content."""
    home, _where = fleet
    from pathlib import Path as _P

    from vmfleet.diff import compare, human, json_out, operands
    from vmfleet.registry.db import Registry

    # one comparison, rendered both ways (the CLI does exactly this: diff_cmds.diff)
    a, b = operands.load_sides("web@2023-06", "web@2023-10", files=False,
                               registry=lambda: Registry.open(home / "registry.db"))
    d = compare.compare(a, b, layers=("channels", "config", "packages"), why=True,
                        content=True,
                        channel_repos={"guix": _P(GUIX_SOURCE)} if GUIX_SOURCE else None)
    data = json_out.to_json(d)
    text = human.render(d)
    rows = {c["name"]: c for c in data["layers"]["packages"]["changes"]}
    curl = rows["curl"]
    assert (curl["change"], curl["versions_b"], curl["runs_b"]) == ("added", ["7.85.0"],
                                                                    ["8.4.0a"])
    assert curl["why"]["config"][0]["what"] == "curl" and curl["grafted"]
    for name, row in rows.items():     # every row says why, or how to learn it
        w = row["why"]
        assert w["commits"] or w["other_commits"] or w["config"] or w["grafts"] or \
            w["inputs"] or w["notes"], name
    content = data["content"]
    verdicts = {i["name"]: i["verdict"] for i in content["items"]}
    assert content["references"] >= 1 and content["content"] >= 1, verdicts
    assert verdicts.get("configuration.scm") == "content"
    # shepherd.conf changed only because shepherd-openssh.scm (openssh 9.3p1 → 9.4p1) did
    assert verdicts["shepherd.conf"] == "references", verdicts
    # a package rebuilt for its inputs holds the same bytes besides store file names
    rebuilt = [n for n, r in rows.items() if r["change"] == "rebuilt" and any(r["versions_a"])]
    assert all(verdicts[f"{n}-{rows[n]['versions_a'][0]}"] == "references" for n in rebuilt)
    print(text)
    assert text.splitlines()[2].startswith("same bytes: ")
    assert "runs the graft curl 8.4.0a" in text
    if GUIX_SOURCE:
        assert 'guix 72e2bbebf5f "gnu: openssh: Update to 9.4p1." (2023-08-06)' in text
        assert ('guix d6d706a58b8 "gnu: curl/fixed: Update to 8.4.0 [security fixes]." '
                '(2023-10-11)') in text
    else:
        assert "--channel-repo guix=DIR" in text


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
    # guix build --check --keep-failed kept the second result: which files differ, and how
    detail = result["detail"]
    assert detail["kept"] == detail["output"] + "-check"
    assert detail["differing_derivation"].endswith("-partition.img.drv")
    assert detail["content"]["verdict"] == "content", detail["content"]
    assert [(d["path"], d["how"], d["size_a"], d["size_b"])
            for d in detail["content"]["differences"]] == [
        ("var/lib/random-seed", "content", 512, 512)]
    assert "1 file differs: var/lib/random-seed (content 512 → 512 B)" in result["description"]
    code, out, err = cli(capsys, home, "checks", "web")
    assert "var/lib/random-seed" in out


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
