"""Private by default: another local user can neither read nor list what a vmfleet home holds.

Checked for real: the reads run as user ``nobody`` (setpriv), in a home whose parent any user
can traverse, so only the home's own permissions stand in the way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from vmfleet.build import store
from vmfleet.cli import main
from vmfleet.deploy.placement import LocalPlacement
from vmfleet.home import Home
from vmfleet.tools.run import run

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="needs root to switch to user nobody")


def as_nobody(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*NOBODY, *argv], capture_output=True, text=True, errors="replace",
                          timeout=30)


@pytest.fixture
def open_parent():
    old = os.umask(0o022)
    path = Path(tempfile.mkdtemp(prefix="vmfleet-private-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        os.umask(old)
        shutil.rmtree(path, ignore_errors=True)


def test_nobody_cannot_read_the_registry_keys_images_overlays_or_logs(open_parent, capsys):
    home = Home(open_parent / "home")
    assert main(["--home", str(home.root), "init"]) == 0
    base = open_parent / "base.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"])
    image = store.add_file(home, base)
    overlay = Path(LocalPlacement(home).create_overlay("web", str(image.path), 0))
    log = home.logs / "build-1.log"
    log.write_text("secret build output\n")
    # the sanity check that makes this test able to fail: nobody reads what is meant to be public
    assert as_nobody("cat", str(base)).returncode == 0
    for path in (home.registry, home.keys / "id_ed25519", image.path, overlay, log):
        res = as_nobody("cat", str(path))
        assert res.returncode != 0 and "Permission denied" in res.stderr, path
    for d in home.dirs():
        assert as_nobody("ls", str(d)).returncode != 0, d
    assert oct(home.registry.stat().st_mode & 0o777) == "0o600"
    assert oct(overlay.stat().st_mode & 0o777) == "0o600"
    assert oct(image.path.stat().st_mode & 0o777) == "0o400"
    # QEMU (another user) can still pass through to a disk that libvirt chowns to it.
    assert home.root.stat().st_mode & 0o001 and home.overlays.stat().st_mode & 0o001


def test_an_old_world_readable_home_becomes_private_on_next_use(open_parent, capsys):
    home = Home(open_parent / "home")
    assert main(["--home", str(home.root), "init"]) == 0
    os.chmod(home.registry, 0o644)
    os.chmod(home.root, 0o755)
    os.chmod(home.work, 0o755)
    assert as_nobody("cat", str(home.registry)).returncode == 0
    assert main(["--home", str(home.root), "systems"]) == 0
    assert as_nobody("cat", str(home.registry)).returncode != 0
    assert as_nobody("ls", str(home.work)).returncode != 0
