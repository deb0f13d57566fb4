"""vmfleet check: rebuild, compare, classify, record (with a scripted guix, no real builds)."""

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from tests.helpers import diskimage
from tests.helpers.diskimage import build, layout_web_a
from vmfleet import check
from vmfleet.cli import main
from vmfleet.errors import UsageError
from vmfleet.registry import generations
from vmfleet.registry.db import Registry

FAKE_GUIX = f"""#!{sys.executable}
# Plays 'guix time-machine … system image' and '… build --check DRV': each such call takes the
# next line of $FAKE_GUIX_PLAN, an image file to hand out (as a store item) or FAIL; the '-d'
# call in between names a derivation and takes none.
import os, shutil, sys
if "-d" in sys.argv:
    print("/gnu/store/xyz-image.qcow2.drv")
    sys.exit(0)
if "--references" in sys.argv:  # the image derivation's inputs, partitions when asked for
    if os.environ.get("FAKE_GUIX_PARTITIONS"):
        print("/gnu/store/ppp-partition.img.drv")
        print("/gnu/store/qqq-guile-3.0.9.drv")
    sys.exit(0)
plan = os.environ["FAKE_GUIX_PLAN"]
lines = open(plan).read().splitlines()
step, rest = lines[0], lines[1:]
open(plan, "w").write("\\n".join(rest) + ("\\n" if rest else ""))
print("building /gnu/store/xyz-image.qcow2.drv...", file=sys.stderr)
if step == "NONDET":
    print(f"guix build: error: derivation `{{sys.argv[-1]}}' may not be "
          "deterministic: output `/gnu/store/y-image.qcow2' differs", file=sys.stderr)
    sys.exit(1)
if step == "FAILMOD":  # guix's error line ends at a colon; the reason follows
    print("guix build: error: failed to load '/w/build-13/acme/web.scm':", file=sys.stderr)
    print("ice-9/boot-9.scm:3330:6: In procedure resolve-interface:", file=sys.stderr)
    print("no code for module (acme systems base)", file=sys.stderr)
    sys.exit(1)
if step == "FAIL":
    print("guix system: error: failed to download 'nginx-1.23.3.tar.gz' from all mirrors",
          file=sys.stderr)
    sys.exit(1)
store = os.path.join(os.environ["FAKE_GUIX_STORE"], "store")
os.makedirs(store, exist_ok=True)
n = len(os.listdir(store))
out = os.path.join(store, f"{{n:032d}}-image.qcow2")
shutil.copy(step, out)
print(out)
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """web-a twice (same system, different bytes: mke2fs picks a new UUID) and a drifted one."""
    where = tmp_path_factory.mktemp("check-images")
    a = layout_web_a()
    drifted = dataclasses.replace(a, deps=tuple(
        dataclasses.replace(p, salt="new-source") if p.name == "openssl" else p for p in a.deps))
    return {"a1": build(where / "a1.qcow2", a).path, "a2": build(where / "a2.qcow2", a).path,
            "drift": build(where / "drift.qcow2", drifted).path}


@pytest.fixture
def fleet(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    guix = tmp_path / "guix"
    guix.write_text(FAKE_GUIX)
    guix.chmod(0o755)
    plan = tmp_path / "plan"
    monkeypatch.setenv("VMFLEET_GUIX", str(guix))
    monkeypatch.setenv("FAKE_GUIX_PLAN", str(plan))
    monkeypatch.setenv("FAKE_GUIX_STORE", str(tmp_path / "gnu"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["--home", str(home), "init"]) == 0
    reg = Registry.open(home / "registry.db")
    lay = layout_web_a()
    inputs = generations.Inputs("web.scm", lay.config_text, lay.channels_text,
                                {"vmfleet.pub": diskimage.TEST_KEY.encode()})
    generations.record(reg, "web", inputs, current_from="2023-06-01T00:00:00Z")
    reg.close()
    capsys.readouterr()

    def run(*argv, steps=()):
        plan.write_text("".join(f"{s}\n" for s in steps))
        code = main(["--home", str(home), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_check_results(fleet, images):
    # A never-built generation is built first (the reference), then checked: its image again
    # (guix's store has it), then `build --check` of its derivation: the same bytes each time.
    code, out, err = fleet("check", "web@1", steps=[images["a1"], images["a1"], images["a1"]])
    assert code == 0, err
    assert out.startswith("web@1: reproducible")

    code, out, err = fleet("check", "web@1", steps=[images["a1"], images["a2"]])
    assert code == 1
    assert "web@1: same system, different image bytes" in out

    code, out, err = fleet("check", "web@1", "--json", steps=[images["drift"], images["drift"]])
    assert code == 1
    [result] = json.loads(out)
    assert result["result"] == "drifted"
    changes = result["detail"]["diff"]["layers"]["packages"]["changes"]
    assert {c["name"]: c["change"] for c in changes}["openssl"] == "rebuilt"
    assert result["detail"]["same_system"] is False

    code, out, err = fleet("check", "--all", steps=["FAIL"])
    assert code == 1
    assert "web@1: no longer builds: build of web@1 failed" in out
    assert "failed to download" in out

    code, out, err = fleet("checks", "web", "--json")
    assert code == 0
    history = json.loads(out)
    assert [c["result"] for c in history] == ["reproducible", "image-differs", "drifted", "fails"]
    # Every check compares with the first build, not with the previous check's rebuild.
    assert len({c["reference_build"] for c in history}) == 1
    code, out, err = fleet("checks")
    assert "no longer builds" in out and "same system, different image bytes" in out


def test_a_partition_that_does_not_rebuild_the_same_is_named(fleet, images, monkeypatch):
    # guix build --check rebuilds only the derivation named: the image derivation alone would
    # have said "reproducible" here, where the root partition's derivation differs.
    monkeypatch.setenv("FAKE_GUIX_PARTITIONS", "1")
    code, out, err = fleet("check", "web@1", "--json",
                           steps=[images["a1"], images["a1"], "NONDET"])
    assert code == 1, err
    [result] = json.loads(out)
    assert result["result"] == "image-differs"
    assert result["detail"]["differing_derivation"] == "/gnu/store/ppp-partition.img.drv", result["detail"]
    code, out, err = fleet("check", "web@1", steps=[images["a1"], "NONDET"])
    assert code == 1
    assert "rebuilding /gnu/store/ppp-partition.img.drv gave other bytes" in out
    # Both pass: the partition, then the image, each rebuilt bit-identical.
    code, out, err = fleet("check", "web@1", steps=[images["a1"], images["a1"], images["a1"]])
    assert code == 0 and out.startswith("web@1: reproducible"), out + err


def test_drift_diff_is_shown_in_the_human_output(fleet, images):
    fleet("check", "web@1", steps=[images["a1"], images["a1"], images["a1"]])
    code, out, err = fleet("check", "web@1", steps=[images["drift"], images["drift"]])
    assert code == 1
    assert "web@1: drifted: nginx rebuilt, openssl rebuilt, profile rebuilt" in out
    assert "    packages" in out


def test_nothing_to_check(fleet):
    code, out, err = fleet("check")
    assert code == 2 and "nothing to check" in err


def test_select_since(reg):
    lay = layout_web_a()
    for i, when in enumerate(["2023-01-01T00:00:00Z", "2023-06-01T00:00:00Z",
                              "2024-02-01T00:00:00Z"]):
        generations.record(reg, "web", generations.Inputs(
            "web.scm", lay.config_text + f";; {i}\n", lay.channels_text,
            {"vmfleet.pub": b"k\n"}), current_from=when)
    labels = [g.label for g in check.select(reg, [], since="2024-01")]
    assert labels == ["web@2", "web@3"]  # web@2 was current on 2024-01-01
    assert [g.label for g in check.select(reg, [], all_=True)] == ["web@1", "web@2", "web@3"]
    assert [g.label for g in check.select(reg, ["web@1", "web@1"])] == ["web@1"]
    with pytest.raises(UsageError, match="invalid date .* for --since"):
        check.select(reg, [], since="last week")


def test_compare_builds_without_the_reference_image():
    @dataclasses.dataclass
    class B:
        id: int
        image_sha256: str
        store_path: str
        image_path: str | None

    ref = B(1, "aa", "/gnu/store/x-image.qcow2", None)
    same = check.compare_builds(ref, B(2, "bb", "/gnu/store/x-image.qcow2", str(Path("/x"))))
    assert same[0] is check.Result.IMAGE_DIFFERS and "no longer in the image store" in \
        same[1]["note"]
    other = check.compare_builds(ref, B(3, "cc", "/gnu/store/y-image.qcow2", "/x"))
    assert other[0] is check.Result.DRIFTED
    assert check.compare_builds(ref, B(4, "aa", "/gnu/store/x-image.qcow2", None))[0] is \
        check.Result.REPRODUCIBLE





def test_guix_check_reporting_other_bytes_means_same_system(fleet, images):
    fleet("check", "web@1", steps=[images["a1"], images["a1"]])
    code, out, err = fleet("check", "web@1", "--json", steps=["NONDET"])
    assert code == 1
    [result] = json.loads(out)
    assert result["result"] == "image-differs"
    assert "may not be deterministic" in result["detail"]["error"]
    code, out, err = fleet("checks", "web")
    assert out.count("same system, different image bytes") == 1


NOTIFIER = f"""#!{sys.executable}
# A local notifier: keeps its argv and stdin, so the test sees what a mailer would get.
import json, os, sys
out = os.environ["NOTIFIED"]
with open(out, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "stdin": sys.stdin.read()}}) + "\\n")
sys.exit(int(os.environ.get("NOTIFIER_EXIT", "0")))
"""


@pytest.fixture
def notifier(tmp_path, monkeypatch):
    script = tmp_path / "notifier"
    script.write_text(NOTIFIER)
    script.chmod(0o755)
    log = tmp_path / "notified.jsonl"
    monkeypatch.setenv("NOTIFIED", str(log))

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return f'{script} "$1" --to ops', calls


def test_notify_runs_once_per_run_with_a_regression(fleet, images, notifier):
    command, calls = notifier
    fleet("check", "web@1", steps=[images["a1"], images["a1"], images["a1"]])
    # A reproducible run says nothing.
    code, out, err = fleet("check", "web@1", "--notify", command, steps=[images["a1"], images["a1"]])
    assert code == 0 and calls() == []
    # A run with a regression: one call, the summary as $1, the findings on stdin.
    code, out, err = fleet("check", "web@1", "web@1", "--notify", command, steps=["FAIL"])
    assert code == 1, err
    [call] = calls()
    assert call["argv"][1:] == ["--to", "ops"]
    summary = call["argv"][0]
    assert summary == "vmfleet check: 1 of 1 generations regressed: web@1 no longer builds"
    findings = json.loads(call["stdin"])
    assert findings["summary"] == summary and findings["checked"] == 1
    [reg] = findings["regressions"]
    assert reg["generation"] == "web@1" and reg["result"] == "fails"
    assert "failed to download" in reg["detail"]["error"]
    assert "notified: vmfleet check: 1 of 1" in err


def test_a_failing_notifier_is_reported_and_does_not_change_the_result(fleet, notifier,
                                                                       monkeypatch):
    command, calls = notifier
    monkeypatch.setenv("NOTIFIER_EXIT", "3")
    code, out, err = fleet("check", "web@1", "--notify", command, steps=["FAIL"])
    assert code == 1  # no longer builds, as without --notify
    assert len(calls()) == 1
    assert "warning: --notify failed (exit 3" in err and "the check's result stands" in err
    # A notifier that is missing altogether does not turn the result into an error exit either.
    code, out, err = fleet("check", "web@1", "--notify", "/nonexistent/notifier", steps=["FAIL"])
    assert code == 1 and "warning: --notify failed (exit 127" in err
    code, out, err = fleet("checks", "--json")
    assert [c["result"] for c in json.loads(out)] == ["fails", "fails"]  # both recorded


def test_check_jsonl_is_one_object_a_line_and_follows_the_schema(fleet, images):
    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "docs" / "check.schema.json").read_text())
    code, out, err = fleet("check", "web@1", "web@1", "--jsonl", steps=["FAIL"])
    code2, out2, err2 = fleet("check", "web@1", "--jsonl",
                              steps=[images["a1"], images["a1"], "NONDET"])
    lines = (out + out2).splitlines()
    assert len(lines) == 2, out + out2
    for line in lines:
        jsonschema.validate(json.loads(line), schema)
    assert [json.loads(x)["result"] for x in lines] == ["fails", "image-differs"]
    code, out, err = fleet("checks", "--jsonl")
    assert [json.loads(x)["result"] for x in out.splitlines()] == ["fails", "image-differs"]
    code, out, err = fleet("checks", "--jsonl", "--json")
    assert code == 2 and "--json and --jsonl together" in err


def test_a_failure_quotes_guix_s_whole_reason(fleet, images):
    """Issue 16: 'no longer builds: … failed to load '…/web.scm':' ended at the colon; the
    reason was only in the build log."""
    code, out, err = fleet("check", "web@1", steps=[images["a1"], "FAILMOD"])
    assert code == 1
    assert "no longer builds:" in out and "no code for module (acme systems base)" in out
    code, out, err = fleet("checks", "web", "--json")
    [result] = json.loads(out)
    assert result["detail"]["reason"] == ["ice-9/boot-9.scm:3330:6: In procedure "
                                          "resolve-interface:",
                                          "no code for module (acme systems base)"]
