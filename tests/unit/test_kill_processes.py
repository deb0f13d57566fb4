"""kill -9 of real vmfleet processes at the recorded steps of build, images gc and inspect
($VMFLEET_KILL_AT makes the process SIGKILL itself there): the next command converges, with
nothing duplicated and nothing left behind (no 'running' build, no work directory, no
qemu-storage-daemon, FUSE mount or temporary directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers.fleet import channels_scm, os_config
from vmfleet.home import Home
from vmfleet.inspect import disk
from vmfleet.registry import generations
from vmfleet.registry.db import Registry
from vmfleet.tools.killpoint import KILL_ENV
from vmfleet.tools.run import pid_alive, run

# A guix that hands out one fixed qcow2 as its build result (what matters here is vmfleet).
FAKE_GUIX = """#!/usr/bin/env python3
import os, shutil, subprocess, sys
store = os.environ["FAKE_GUIX_STORE"]
os.makedirs(store, exist_ok=True)
out = os.path.join(store, "0000-image.qcow2")
if not os.path.exists(out):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", out, "16M"], check=True)
print(out)
"""


class Env:
    def __init__(self, home: Home, env: dict):
        self.home, self.env = home, env

    def __getattr__(self, name):
        return getattr(self.home, name)


@pytest.fixture
def home(tmp_path):
    guix = tmp_path / "guix"
    guix.write_text(FAKE_GUIX)
    guix.chmod(0o755)
    env = {"VMFLEET_GUIX": str(guix), "FAKE_GUIX_STORE": str(tmp_path / "gnu"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    h = Home(tmp_path / "home")
    assert vmfleet(h, env, "init").returncode == 0
    reg = Registry.open(h.registry)
    inputs = generations.Inputs("web.scm", os_config("web"), channels_scm("a" * 40),
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
    before = set(Path(tempfile.gettempdir()).glob(disk.WORKDIR_PREFIX + "*"))
    killed = vmfleet(home, home.env, "inspect", str(image), kill="inspect:exported")
    assert killed.returncode == -9, killed.stderr
    (left,) = set(Path(tempfile.gettempdir()).glob(disk.WORKDIR_PREFIX + "*")) - before
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
