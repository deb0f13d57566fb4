"""The leak check finds what its own run left, and only that."""

from __future__ import annotations

import subprocess
import sys

import libvirt

from tests.helpers import leaks
from tests.helpers.deploy_env import traversable_dir, unique_vm_name

DOMAIN = "<domain type='test'><name>{}</name><memory>1024</memory><os><type>hvm</type></os></domain>"


def test_finds_this_runs_directory_process_and_domain(tmp_path):
    directory = traversable_dir("vmfleet-test-home-")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path)])
    conn = libvirt.open("test:///default")
    name = unique_vm_name()
    dom = conn.defineXML(DOMAIN.format(name))
    try:
        found = leaks.leftovers([str(tmp_path)], "test:///default")
        assert f"directory {directory}" in found
        assert any(f.startswith(f"process {sleeper.pid}:") for f in found)
        assert f"domain {name}" in found
    finally:
        dom.undefine()
        sleeper.kill()
        sleeper.wait()
        directory.rmdir()
    # Gone once removed (other things of this run, e.g. a session's booted VM, may still be there).
    after = leaks.leftovers([str(tmp_path)], "test:///default")
    assert f"directory {directory}" not in after and f"domain {name}" not in after
    assert not any(f.startswith(f"process {sleeper.pid}:") for f in after)


def test_ignores_what_another_run_made(tmp_path):
    other = tmp_path / "vmfleet-test-home-ffffff-x"  # another run's token, not ours
    other.mkdir()
    conn = libvirt.open("test:///default")
    dom = conn.defineXML(DOMAIN.format("vmfleet-test-ffffff-abcdef"))
    try:
        assert leaks.RUN != "ffffff"
        assert leaks.leftovers(["no-such-marker-here"], "test:///default", tmp=tmp_path) == []
    finally:
        dom.undefine()
