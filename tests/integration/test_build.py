"""Building generations through the guix stand-in: cache, lock, errors, signals, SSH build host."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import in_process
from tests.helpers.fleet import channels_scm, os_config
from tests.helpers.sshd import Sshd
from tests.helpers.standin import GUIX, ROOT, standin_env

pytestmark = pytest.mark.integration

NEW = "dc4c48f10281007a0ab3541b8a64198c60c6d5b0"     # revisions the stand-in knows
PRE_1_3 = "a099685659b4bfa6b3218f84953cbb7ff9e88063"  # 2020-11: no 'guix system image' yet
TOO_OLD = "359fdda40f754bbf1b5dc261e7427b75463b59be"  # 2018: before time-machine's horizon
UNKNOWN = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def fleet(tmp_path, monkeypatch, capsys):
    """A home with web (pinned to ``NEW``) recorded; ``vm(*args)`` runs vmfleet in-process."""
    for key, value in standin_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "home"
    vm = in_process(capsys, home)

    def record(system="web", commit=NEW, packages=("nginx",), at="2024-06-01"):
        d = tmp_path / f"src-{system}-{commit[:7]}-{len(packages)}"
        d.mkdir()
        # 'prohibit-password fails to build before ef3f38ea002 (gnu/services/ssh.scm)
        root = "'without-password" if commit == PRE_1_3 else "'prohibit-password"
        (d / "web.scm").write_text(os_config(system, packages, key_file=None, root_login=root))
        (d / "channels.scm").write_text(channels_scm(commit, introduction=True))
        assert vm("add", system, str(d / "web.scm"), "--channels", str(d / "channels.scm"),
                  "--at", at)[0] == 0

    assert vm("init")[0] == 0
    record()
    return vm, record, home, tmp_path


def builds(vm, system="web"):
    return json.loads(vm("builds", system, "--json")[1])


def test_build_then_reuse(fleet):
    vm, _, home, _ = fleet
    code, out, err = vm("build", "web", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["status"] == "succeeded" and not first["cached"]
    assert first["command"][0] == str(GUIX)  # $VMFLEET_GUIX
    assert first["command"][first["command"].index("--"):] == [
        "--", "system", "image", "-t", "qcow2", "--save-provenance", "web.scm"]
    image = Path(first["image_path"])
    assert image.parent == home / "images" and image.name == f"{first['image_sha256']}.qcow2"
    assert image.stat().st_mode & 0o222 == 0  # read-only
    assert first["store_path"].endswith("-image.qcow2")
    assert "building /gnu/store/" in err  # guix's progress, shown as plain lines when piped

    code, out, err = vm("build", "web", "--json")
    again = json.loads(out)
    assert code == 0 and again["cached"] and again["id"] == first["id"]
    assert len(builds(vm)) == 1

    code, out, _ = vm("build", "web", "--rebuild", "--json")
    rebuilt = json.loads(out)
    assert rebuilt["id"] != first["id"] and rebuilt["image_sha256"] == first["image_sha256"]
    code, log, _ = vm("build-log", "web")
    assert "$ " in log and "system image -t qcow2 --save-provenance web.scm" in log
    assert not any((home / "work").iterdir())  # the build directory is gone


def test_image_size_is_part_of_the_cache_key(fleet):
    vm = fleet[0]
    assert vm("build", "web")[0] == 0
    code, out, err = vm("build", "web", "--image-size", "300M", "--json")
    assert code == 0, err
    b = json.loads(out)
    assert not b["cached"] and "--image-size=300M" in b["command"]
    assert len(builds(vm)) == 2


def test_two_builds_of_the_same_inputs_build_once(fleet, monkeypatch):
    _, _, home, _ = fleet
    monkeypatch.setenv("VMFLEET_STANDIN_SLOW", "3")
    cmd = [sys.executable, "-m", "vmfleet", "--home", str(home), "build", "web", "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    outs = [json.loads(out) for out, _ in results]
    assert sorted(o["cached"] for o in outs) == [False, True]
    assert outs[0]["image_sha256"] == outs[1]["image_sha256"]
    assert len(builds(fleet[0])) == 1


def test_missing_guix_is_a_clear_error_and_a_recorded_build(fleet, monkeypatch):
    vm = fleet[0]
    monkeypatch.setenv("VMFLEET_GUIX", str(fleet[3] / "no-such-guix"))
    code, out, err = vm("build", "web")
    assert code == 2 and out == ""
    assert "error: " in err and "not found" in err and "--builder ssh://" in err
    assert [b["status"] for b in builds(vm)] == ["failed"]


@pytest.mark.parametrize("commit,message,hint", [
    (TOO_OLD, "cannot travel past commit", "pin a newer one"),
    (UNKNOWN, "Git error", "cannot be fetched"),
])
def test_unreachable_pins(fleet, commit, message, hint):
    vm, record, *_ = fleet
    record("old", commit)
    code, _, err = vm("build", "old")
    assert code == 2
    error = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and message in error[0]
    assert hint in err and "vmfleet build-log old@1" in err
    b = builds(vm, "old")
    assert [x["status"] for x in b] == ["failed"] and message in b[0]["error"]


def test_a_failing_build_shows_the_error_and_the_log_tail(fleet, monkeypatch):
    vm = fleet[0]
    monkeypatch.setenv("VMFLEET_STANDIN_VANISH", "nginx")
    code, _, err = vm("build", "web")
    assert code == 2
    assert "error: build of web@1 failed" in err
    assert "View build log at" in err  # the tail of the log comes with the error
    code, log, _ = vm("build-log", "web")
    assert "build of /gnu/store/" in log and "failed" in log


def test_pre_1_3_revision_builds_with_vm_image(fleet):
    vm, record, *_ = fleet
    record("legacy", PRE_1_3)
    code, out, err = vm("build", "legacy", "--json")
    assert code == 0, err
    b = json.loads(out)
    assert "vm-image" in b["command"] and "image" not in b["command"]
    assert "predates 'guix system image'" in vm("build-log", "legacy")[1]


def test_timeout_ends_guix_and_records_it(fleet, monkeypatch):
    vm, _, home, _ = fleet
    monkeypatch.setenv("VMFLEET_STANDIN_SLOW", "60")
    t = time.monotonic()
    code, _, err = vm("build", "web", "--timeout", "2s")
    assert time.monotonic() - t < 20
    assert code == 2 and "did not finish within 2 s" in err
    assert [b["status"] for b in builds(vm)] == ["timeout"]
    assert list((home / "images").glob("*.qcow2")) == []


def _processes_in(directory: Path) -> list[int]:
    """PIDs of processes whose working directory is below ``directory`` (read from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(Path(os.readlink(proc / "cwd"))).startswith(str(directory)):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def test_sigterm_interrupts_cleanly(fleet, monkeypatch):
    _, _, home, _ = fleet
    monkeypatch.setenv("VMFLEET_STANDIN_SLOW", "60")
    proc = subprocess.Popen([sys.executable, "-m", "vmfleet", "--home", str(home), "build", "web"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not _processes_in(home / "work") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_in(home / "work"), "guix never started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "error: interrupted" in err
    assert _processes_in(home / "work") == []  # the whole guix process tree is gone
    assert list((home / "images").iterdir()) == []
    assert [b["status"] for b in builds(fleet[0])] == ["interrupted"]


def test_ssh_build_host(fleet, monkeypatch):
    vm, _, home, tmp = fleet
    code, key, _ = vm("key")
    assert code == 0
    # what a real build host has: guix on its side, here the stand-in with its own store
    remote_guix = f"env VMFLEET_STANDIN_STORE={tmp / 'remote-store'} {GUIX}"
    with Sshd(tmp / "sshd", authorized_keys=[key]) as sshd:
        url = f"ssh://root@127.0.0.1:{sshd.port}?guix={remote_guix.replace(' ', '%20')}"
        code, _, err = vm("build", "web", "--builder", url)
        assert code == 2 and "--trust-new-host" in err  # an unknown host is never trusted silently
        before = set(Path("/tmp").glob("vmfleet-build.*"))
        code, out, err = vm("build", "web", "--builder", url, "--trust-new-host", "--json")
        assert code == 0, err
        remote = json.loads(out)
        assert remote["builder"] == f"ssh://root@127.0.0.1:{sshd.port}"
        assert "building /gnu/store/" in err  # stderr streamed from the build host
        assert set(Path("/tmp").glob("vmfleet-build.*")) <= before  # remote directory removed
        known = (home / "keys" / "known_hosts").read_text()
        assert f"[127.0.0.1]:{sshd.port} {sshd.host_key}" in known
    code, out, err = vm("build", "web", "--rebuild", "--json")  # the same inputs, built here
    assert code == 0, err
    assert json.loads(out)["image_sha256"] == remote["image_sha256"]


def test_a_check_on_a_build_host_says_which_files_differ(fleet):
    """`guix build --check --keep-failed` on a build host leaves OUT and OUT-check in that
    host's store: vmfleet copies both (checked against their sha256 there) and compares them
    as it does for a local check."""
    vm, _, home, tmp = fleet
    code, key, _ = vm("key")
    remote_guix = f"env VMFLEET_STANDIN_STORE={tmp / 'remote-store'} {GUIX}"
    with Sshd(tmp / "sshd", authorized_keys=[key]) as sshd:
        # the build host's guix writes a random seed into each image it makes (the knob reaches
        # it, not vmfleet), so its rebuild has other bytes
        flaky = f"ssh://root@127.0.0.1:{sshd.port}?guix=" + \
            f"env VMFLEET_STANDIN_NONDETERMINISTIC=1 {remote_guix[4:]}".replace(" ", "%20")
        code, _, err = vm("build", "web", "--builder", flaky, "--trust-new-host")
        assert code == 0, err
        code, out, err = vm("check", "web", "--builder", flaky, "--json")
    assert code == 1, err
    [result] = json.loads(out)
    assert result["result"] == "image-differs", result
    detail = result["detail"]
    assert detail["kept"] == detail["output"] + "-check"
    assert detail["content"]["verdict"] == "content", detail["content"]
    assert [(d["path"], d["how"]) for d in detail["content"]["differences"]] == [
        ("var/lib/random-seed", "content")]
    assert [p.name for p in (home / "work").iterdir() if p.name.startswith("check-")] == []


def test_unreachable_build_host(fleet):
    from tests.helpers.sshd import free_port

    vm = fleet[0]
    code, _, err = vm("build", "web", "--builder", f"ssh://root@127.0.0.1:{free_port()}")
    assert code == 2 and "cannot connect to 127.0.0.1" in err
    assert [b["status"] for b in builds(vm)] == ["failed"]


def test_stand_in_is_only_reached_as_guix():
    """Product code never names the stand-in: it only runs 'guix' or $VMFLEET_GUIX."""
    src = ROOT / "src" / "vmfleet"
    offenders = [p.name for p in src.rglob("*.py") if "standin" in p.read_text().lower()]
    assert offenders == []


def test_build_host_that_refuses_the_key(fleet):
    vm, _, _, tmp = fleet
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2n1jeq3y0HHqkYGmXkJj5cSgu0kDm2Jz3wPE3oqJ1E other"
    with Sshd(tmp / "sshd", authorized_keys=[other]) as sshd:
        code, _, err = vm("build", "web", "--builder", f"ssh://root@127.0.0.1:{sshd.port}",
                          "--trust-new-host")
    assert code == 2 and "refused vmfleet's key" in err and "vmfleet key" in err
    assert [b["status"] for b in builds(vm)] == ["failed"]


def test_check_rebuilds_what_guix_already_has(fleet, monkeypatch):
    """The realistic case: guix's store still holds the image, so only `guix build --check` of
    its derivation rebuilds it (`guix system` has no --check)."""
    vm = fleet[0]
    assert vm("build", "web")[0] == 0
    code, out, err = vm("check", "web", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["result"] == "reproducible"
    log = vm("build-log", "web")[1]
    assert "-d --save-provenance web.scm" in log and " -- build --check " in log
    monkeypatch.setenv("VMFLEET_STANDIN_NONDETERMINISTIC", "1")
    code, out, err = vm("check", "web", "--json")
    assert code == 1, err
    assert json.loads(out)[0]["result"] == "image-differs"


@pytest.mark.parametrize("knob, suffix", [("partition", "-partition.img.drv"),
                                          ("image", ".drv")])
def test_check_names_the_derivation_that_differs(fleet, monkeypatch, knob, suffix):
    """`guix build --check` rebuilds only the derivation named: the stand-in, like Guix, makes
    the root file system in its own partition.img derivation, so vmfleet re-checks it too and
    says which one gave other bytes."""
    vm = fleet[0]
    code, _out, err = vm("build", "web")
    assert code == 0, err
    monkeypatch.setenv("VMFLEET_STANDIN_NONDETERMINISTIC", knob)
    code, out, err = vm("check", "web", "--json")
    assert code == 1, err
    [result] = json.loads(out)
    assert result["result"] == "image-differs"
    differing = result["detail"]["differing_derivation"]
    assert differing.endswith(suffix)
    assert differing.endswith("-partition.img.drv") == (knob == "partition")
    log = vm("build-log", "web")[1]
    assert " gc --references " in log


def test_a_module_repository_checks_reproducible_after_its_work_directory_is_gone(fleet):
    """Issue 16: `check` of a generation that reads a module through -L said "no longer
    builds: … no code for module" (the stand-in looked for the module against the rebuild's
    directory); `guix build --check DRV` needs only the derivation."""
    vm, _, home, tmp = fleet
    d = tmp / "modrepo"
    (d / "me").mkdir(parents=True)
    (d / "me" / "pkgs.scm").write_text(
        "(define-module (me pkgs) #:use-module (gnu) #:export (%my-packages))\n"
        "(define %my-packages (list (specification->package \"nginx\")))\n")
    (d / "web.scm").write_text(os_config("modweb", (), key_file=None).replace(
        "(use-modules (gnu))", "(use-modules (gnu) (me pkgs))").replace(
        "(append (list ) %base-packages)", "(append %my-packages %base-packages)"))
    (d / "channels.scm").write_text(channels_scm(NEW, introduction=True))
    code, out, err = vm("add", "modweb", str(d / "web.scm"), "--channels",
                        str(d / "channels.scm"), "-L", str(d))
    assert code == 0, err
    # The check builds the reference first (its work directory is removed after it), then
    # `guix build --check` of the derivation, from another directory.
    code, out, err = vm("check", "modweb", "--json")
    assert code == 0, out + err
    [result] = json.loads(out)
    assert result["result"] == "reproducible" and result["detail"]["reference_built_now"]
    assert not any((home / "work").glob("build-*"))
