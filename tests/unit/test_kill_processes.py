"""kill -9 of real vmfleet processes at the recorded steps of build, images gc and inspect
($VMFLEET_KILL_AT makes the process SIGKILL itself there): the next command converges, with
nothing duplicated and nothing left behind (no 'running' build, no work directory, no
qemu-storage-daemon, FUSE mount or temporary directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import fake_guix
from tests.helpers.fleet import channels_scm, os_config
from tests.helpers.pins import V1_4_0
from vmfleet.home import Home
from vmfleet.inspect import disk
from vmfleet.registry import generations
from vmfleet.registry.db import Registry
from vmfleet.tools.killpoint import KILL_ENV
from vmfleet.tools.run import pid_alive, run


class Env:
    def __init__(self, home: Home, env: dict):
        self.home, self.env = home, env

    def __getattr__(self, name):
        return getattr(self.home, name)


@pytest.fixture
def home(tmp_path):
    (tmp_path / "tmp").mkdir()
    # TMPDIR of its own: the inspect test finds what a killed inspect left there, and must not
    # see what other vmfleet processes (other test workers) have in /tmp at the same time.
    env = {**fake_guix.install(tmp_path),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "TMPDIR": str(tmp_path / "tmp")}
    h = Home(tmp_path / "home")
    assert vmfleet(h, env, "init").returncode == 0
    reg = Registry.open(h.registry)
    inputs = generations.Inputs("web.scm", os_config("web"), channels_scm(V1_4_0),
                                {"vmfleet.pub": b"ssh-ed25519 AAAA test\n"})
    generations.record(reg, "web", inputs, current_from="2023-06-01T00:00:00Z")
    reg.close()
    return Env(h, env)


def vmfleet(home: Home, env: dict, *args: str, kill: str | None = None):
    home = getattr(home, "home", home)
    e = {**os.environ, **env}
    e.pop(KILL_ENV, None)
    if kill:
        e[KILL_ENV] = kill
    return subprocess.run([sys.executable, "-m", "vmfleet", "--home", str(home.root), *args],
                          env=e, capture_output=True, text=True, timeout=120)


def builds(home: Home) -> list[dict]:
    res = vmfleet(home, home.env, "builds", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.parametrize("step", ["build:recorded", "build:materialized", "build:guix-done",
                                  "build:stored"])
def test_a_build_killed_at_any_step_converges_on_retry(home, step):
    killed = vmfleet(home, home.env, "build", "web@1", kill=step)
    assert killed.returncode == -9, killed.stderr
    assert [b["status"] for b in builds(home)] == ["interrupted"]  # not 'running' forever
    again = vmfleet(home, home.env, "build", "web@1")
    assert again.returncode == 0, again.stderr
    assert [b["status"] for b in builds(home)] == ["interrupted", "succeeded"]
    assert len(list(home.images.glob("*.qcow2"))) == 1
    assert list(home.images.glob(".incoming-*")) == []
    assert list(home.work.iterdir()) == []


def test_images_gc_removes_the_work_directory_of_a_killed_build(home):
    assert vmfleet(home, home.env, "build", "web@1", kill="build:materialized").returncode == -9
    assert [p.name for p in home.work.iterdir()] == ["build-1"]
    res = vmfleet(home, home.env, "images", "gc")
    assert res.returncode == 0, res.stderr
    assert list(home.work.iterdir()) == []


def test_a_killed_gc_is_finished_by_the_next(home, tmp_path):
    assert vmfleet(home, home.env, "build", "web@1").returncode == 0
    stray = home.images / ("f" * 64 + ".qcow2")  # a file the registry does not know
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(stray), "1M"])
    assert vmfleet(home, home.env, "images", "gc", kill="gc:unlinking").returncode == -9
    assert len(list(home.images.glob("*.qcow2"))) == 1
    assert vmfleet(home, home.env, "images", "gc").returncode == 0
    assert list(home.images.glob("*.qcow2")) == []
    assert [b["status"] for b in builds(home)] == ["succeeded"]  # history stays


@pytest.mark.skipif(not disk.fuse_available(), reason="needs FUSE and qemu-storage-daemon")
def test_a_killed_inspect_leaves_no_daemon_mount_or_directory_after_the_next_one(home, tmp_path):
    image = tmp_path / "blank.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"])
    killed = vmfleet(home, home.env, "inspect", str(image), kill="inspect:exported")
    assert killed.returncode == -9, killed.stderr
    (left,) = Path(home.env["TMPDIR"]).glob(disk.WORKDIR_PREFIX + "*")
    pid = int((left / "qsd.pid").read_text())
    try:
        assert pid_alive(pid) and disk._is_mounted(left / "view.raw")
        res = vmfleet(home, home.env, "inspect", str(image))  # not a disk: fails, and reaps
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert not left.exists()
        assert not pid_alive(pid)
    finally:
        if left.exists():
            export = disk._FuseExport(None, left / "view.raw", left / "qsd.pid")
            export._read_pid()
            export.stop()
            subprocess.run(["rm", "-rf", str(left)])


CHILD_RUNS_SLEEP = """
import sys
from vmfleet.tools.run import run
run(["sh", "-c", 'echo $$ > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 30', "sh", sys.argv[1]])
"""


def test_a_killed_vmfleet_takes_the_program_it_runs_with_it(tmp_path):
    """A program run() started must not outlive a vmfleet killed with SIGKILL: an orphaned
    qemu-img once created a VM's overlay after 'destroy' had cleaned up the killed deploy."""
    import signal
    import time

    pid_file = tmp_path / "grandchild.pid"
    child = subprocess.Popen([sys.executable, "-c", CHILD_RUNS_SLEEP, str(pid_file)])
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    grandchild = int(pid_file.read_text())
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 5
    while pid_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.01)
    survived = pid_alive(grandchild)
    if survived:
        os.kill(grandchild, signal.SIGKILL)  # ours: started by the child above
    assert not survived, "the program outlived the vmfleet process that ran it"


def test_a_program_whose_vmfleet_died_before_exec_does_not_start():
    """The race PR_SET_PDEATHSIG leaves open: vmfleet killed between fork and the prctl. The
    child then finds another parent than the one that forked it and ends itself."""
    from vmfleet.tools.run import child_argv

    res = subprocess.run(child_argv(["echo", "survived"], parent=os.getpid() + 1),
                         capture_output=True, text=True, timeout=30)
    assert (res.returncode, res.stdout) == (-9, "")
    res = subprocess.run(child_argv(["echo", "survived"]), capture_output=True, text=True,
                         timeout=30)
    assert (res.returncode, res.stdout) == (0, "survived\n")


def test_no_python_runs_in_a_child_between_fork_and_exec(monkeypatch):
    """preexec_fn is unsafe in a process with threads (fleet apply runs programs from worker
    threads): the child execs setpriv, which sets the parent-death signal, at once."""
    from vmfleet.tools import run as run_mod

    seen = []
    real = subprocess.Popen

    def popen(argv, **kw):
        seen.append((argv, kw))
        return real(argv, **kw)

    monkeypatch.setattr(run_mod.subprocess, "Popen", popen)
    assert run_mod.run(["echo", "hi"]).stdout == "hi\n"
    ((argv, kw),) = seen
    assert kw.get("preexec_fn") is None and kw["start_new_session"]
    assert argv[:3] == [run_mod.SETPRIV, "--pdeathsig", "KILL"]
    assert argv[-2:] == [run_mod.resolve("echo"), "hi"]


START_CALLS = {("subprocess", "Popen"), ("subprocess", "run"), ("subprocess", "call"),
               ("subprocess", "check_call"), ("subprocess", "check_output"),
               ("subprocess", "getoutput"), ("os", "system"), ("os", "popen"), ("os", "fork"),
               ("os", "forkpty"), ("os", "posix_spawn"), ("os", "posix_spawnp")}


def process_starts(text: str) -> list[str]:
    import ast

    found = []
    for node in ast.walk(ast.parse(text)):
        node = node.func if isinstance(node, ast.Call) else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            call = (node.value.id, node.attr)
            if call in START_CALLS or (node.value.id == "os" and node.attr.startswith(("exec", "spawn"))):
                found.append(f"{node.lineno}: {'.'.join(call)}")
    return found


def test_every_child_process_starts_through_spawn():
    """One door: nothing but tools/run.py starts a process (guix builds and git cat-file
    included), so every child ends with vmfleet."""
    src = Path(__file__).resolve().parents[2] / "src" / "vmfleet"
    found = [f"{p.relative_to(src)}:{hit}" for p in sorted(src.rglob("*.py"))
             if p.relative_to(src) != Path("tools/run.py") for hit in process_starts(p.read_text())]
    assert found == []
    assert process_starts("p: subprocess.Popen\nsubprocess.Popen(['x'])\nos.execvp('x', [])\n") == [
        "2: subprocess.Popen", "3: os.execvp"]


def wait_for(path: Path, seconds: float = 60) -> int:
    import time

    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(path.read_text())


def gone_within(pid: int, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not pid_alive(pid)


def test_guix_ends_with_a_vmfleet_killed_while_it_builds(home, tmp_path):
    """kill -9 of vmfleet while guix runs: the kernel ends guix too (guix time-machine execs the
    guix of the pinned revision, guix/scripts/time-machine.scm@43770a9d8ac:211, so the signal
    reaches it), and the next command finds the build interrupted and its directory gone."""
    pids = tmp_path / "guix.pid"
    env = {**home.env, "FAKE_GUIX_PIDS": str(pids)}
    killed = vmfleet(home, env, "build", "web@1", kill="build:guix-running")
    assert killed.returncode == -9, killed.stderr
    guix = wait_for(pids)
    died = gone_within(guix, 5)
    if not died:
        os.kill(guix, 9)  # ours: the fake guix the build above started
    assert died, "guix outlived the vmfleet that started it"
    assert vmfleet(home, home.env, "images", "gc").returncode == 0
    assert [b["status"] for b in builds(home)] == ["interrupted"]
    assert list(home.work.iterdir()) == []


def test_the_next_command_keeps_the_work_of_a_guix_still_running(home, tmp_path):
    """A process still working in a killed build's directory (a guix that outlived its vmfleet)
    keeps that directory: the build is recorded as interrupted, and the directory goes once
    nothing works there any more."""
    pids = tmp_path / "guix.pid"
    env = {**home.env, "FAKE_GUIX_PIDS": str(pids), "FAKE_GUIX_HELPER": "1"}
    killed = vmfleet(home, env, "build", "web@1", kill="build:guix-running")
    assert killed.returncode == -9, killed.stderr
    wait_for(pids)
    helper = wait_for(Path(str(pids) + ".helper"))
    try:
        assert vmfleet(home, home.env, "images", "gc").returncode == 0
        assert [b["status"] for b in builds(home)] == ["interrupted"]
        assert [p.name for p in home.work.iterdir()] == ["build-1"]
    finally:
        os.kill(helper, 9)  # ours: started by the fake guix of this test
    assert gone_within(helper, 5)
    assert vmfleet(home, home.env, "images", "gc").returncode == 0
    assert list(home.work.iterdir()) == []
