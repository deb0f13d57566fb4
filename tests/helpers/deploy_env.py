"""A small fleet for deploy tests: a Home with a registry, two generations of 'web', and a tiny
qcow2 image in the store, with 'local' aimed at libvirt's test:///default driver.

test:///default keeps its domains while at least one connection is open, so the fixture holds
one for the test's duration (deploy opens and closes its own) and closes it at the end, which
drops every domain the test defined.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt

from tests.helpers.fleet import channels_scm, os_config
from vmfleet.deploy import lifecycle, vm_access, vm_records
from vmfleet.deploy.placement import Image
from vmfleet.home import Home
from vmfleet.registry import generations
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation
from vmfleet.tools.run import run

C_OLD = "76e39909e886bb51cf9b2fa03a1523545faca880"  # guix revisions the stand-in knows
C_NEW = "dc4c48f10281007a0ab3541b8a64198c60c6d5b0"


@dataclass
class Fleet:
    home: Home
    reg: Registry
    old: Generation  # web@1, current from 2023-06
    new: Generation  # web@2, current from 2024-05
    image: Image
    conn: libvirt.virConnect

    def domains(self) -> list[str]:
        return sorted(d.name() for d in self.conn.listAllDomains() if d.name() != "test")


def record_web(reg: Registry, pubkey: str = "ssh-ed25519 AAAA test") -> tuple[Generation, ...]:
    gens = []
    for when, commit, pkgs in (("2023-06-01T00:00:00Z", C_OLD, ("nginx",)),
                               ("2024-05-01T00:00:00Z", C_NEW, ("nginx", "git"))):
        inputs = generations.Inputs("web.scm", os_config("web", packages=pkgs),
                                    channels_scm(commit, introduction=True),
                                    {"vmfleet.pub": pubkey.encode()})
        gen, _ = generations.record(reg, "web", inputs, current_from=when)
        gens.append(gen)
    return tuple(gens)


def new_home(root: Path) -> tuple[Home, Registry, Generation, Generation]:
    """A home under ``root`` with its directories, a registry, vmfleet's key pair, and web@1
    (2023-06) and web@2 (2024-05) recorded with that key authorized: what a boot needs."""
    from vmfleet.tools import ssh

    home = Home(root)
    for d in home.dirs():
        d.mkdir(parents=True, exist_ok=True)
    reg = Registry.create(home.registry)
    ssh.ensure_keypair(home.keys)
    old, new = record_web(reg, ssh.public_key(home.keys))
    return home, reg, old, new


def tiny_image(home: Home) -> Image:
    """A 64 MiB (virtual) qcow2 in the store under its sha256, read-only like real ones."""
    home.images.mkdir(parents=True, exist_ok=True)
    tmp = home.images / "tmp.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp), "64M"])
    sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
    final = home.images / f"{sha}.qcow2"
    tmp.rename(final)
    final.chmod(0o444)
    return Image(sha, final)


def make_fleet(tmp_path: Path, monkeypatch) -> Iterator[Fleet]:
    """The body of a ``fleet`` fixture: ``yield from make_fleet(tmp_path, monkeypatch)``."""
    monkeypatch.setenv("VMFLEET_LOCAL_URI", "test:///default")
    monkeypatch.setenv("VMFLEET_ACCEL", "tcg")
    monkeypatch.setenv("VMFLEET_SHUTDOWN_TIMEOUT", "0.5")
    home = Home(tmp_path / "home")
    for d in home.dirs():
        d.mkdir(parents=True, exist_ok=True)
    reg = Registry.create(home.registry)
    from vmfleet.tools import ssh

    ssh.ensure_keypair(home.keys)  # the configs give vmfleet's own key to root (guix.logins)
    old, new = record_web(reg, ssh.public_key(home.keys))
    conn = libvirt.open("test:///default")
    try:
        yield Fleet(home, reg, old, new, tiny_image(home), conn)
    finally:
        reg.close()
        conn.close()


# --- real libvirtd (integration) ---------------------------------------------------------------

TEST_URI_ENV = "VMFLEET_TEST_LIBVIRT_URI"


def system_uri() -> str:
    """The libvirtd integration tests use: qemu:///system, or $VMFLEET_TEST_LIBVIRT_URI (e.g.
    ``qemu+unix:///system?socket=/tmp/lv/run/libvirt-sock``, a libvirtd of one's own when the
    machine's is slow; scripts/start-services.sh explains when it is)."""
    return os.environ.get(TEST_URI_ENV) or "qemu:///system"


def system_socket() -> str | None:
    """The socket path in ``system_uri()``, if it names one (remote-host tests reach it over SSH)."""
    from urllib.parse import parse_qs, urlsplit

    return (parse_qs(urlsplit(system_uri()).query).get("socket") or [None])[0]


def aim_local_at_system(environ=os.environ) -> None:
    """Point vmfleet's 'local' host at ``system_uri()``."""
    if system_uri() == "qemu:///system":
        environ.pop("VMFLEET_LOCAL_URI", None)
    else:
        environ["VMFLEET_LOCAL_URI"] = system_uri()

def traversable_dir(prefix: str) -> Path:
    """A new directory under /tmp that QEMU (user libvirt-qemu) can reach.

    pytest's tmp_path lives below a 0700 directory, which QEMU run by qemu:///system may not
    traverse; images and overlays for real domains go here instead. The caller removes it.
    """
    import tempfile

    from tests.helpers.leaks import RUN

    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{RUN}-", dir="/tmp"))
    path.chmod(0o755)
    return path


def unique_vm_name() -> str:
    """Test domains are named vmfleet-test-<run>-<random>: recognisable, never clashing, and
    found by the leak check of their own run only (tests.helpers.leaks)."""
    import secrets

    from tests.helpers.leaks import DOMAIN_PREFIX

    return f"{DOMAIN_PREFIX}{secrets.token_hex(3)}"


def unique_pool_name() -> str:
    """A storage pool name of this run (its directory is /tmp/<name>)."""
    return unique_vm_name().replace("vmfleet-test-", "vmfleet-test-pool-")


def cleanup_fleet(reg: Registry, home: Home) -> None:
    """Remove every VM of this home (registry rows and this home's domains on every host)."""
    import contextlib

    from vmfleet.deploy import hosts
    from vmfleet.errors import VmfleetError
    from vmfleet.tools import virt

    for vm in vm_records.list_vms(reg):
        with contextlib.suppress(VmfleetError):
            lifecycle.destroy(reg, home, vm.name)
    me = vm_access.controller_id(home)
    for host in hosts.list_hosts(reg):
        with contextlib.suppress(VmfleetError), virt.connect(host.uri) as conn:
            for dom in conn.domains():
                if dom.metadata is not None and dom.metadata.controller == me:
                    conn.destroy(dom.name)
                    conn.undefine(dom.name)


STANDIN_GUIX = Path(__file__).resolve().parents[1] / "standin" / "bin" / "guix"
BOOT_ENV = {"VMFLEET_ACCEL": "tcg", "VMFLEET_SHUTDOWN_TIMEOUT": "2", "VMFLEET_GUIX": str(STANDIN_GUIX)}


@contextlib.contextmanager
def boot_home(prefix: str) -> Iterator[tuple[Home, Registry, Generation, Generation]]:
    """``new_home`` in a directory QEMU can reach, on qemu:///system with TCG and the stand-in;
    afterwards every VM of it is destroyed, the directory removed and the environment restored."""
    import shutil

    saved = {k: os.environ.get(k) for k in [*BOOT_ENV, "VMFLEET_LOCAL_URI", "VMFLEET_STANDIN_STORE"]}
    os.environ.update(BOOT_ENV)
    aim_local_at_system()
    root = traversable_dir(prefix)
    os.environ["VMFLEET_STANDIN_STORE"] = str(root / "standin-store")  # removed with root
    home, reg, old, new = new_home(root)
    home.secure()  # private, as the CLI makes it: QEMU must still reach the disks (home.py)
    try:
        yield home, reg, old, new
    finally:
        cleanup_fleet(reg, home)
        reg.close()
        shutil.rmtree(root, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
