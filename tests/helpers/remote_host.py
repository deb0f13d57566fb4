"""A 'remote' libvirt host for tests and the bench: qemu+ssh:// through a private sshd on 127.0.0.1
(tests.helpers.sshd) to the tests' libvirtd, with a directory storage pool of this run.

One place for the setup and, above all, the teardown, so that no caller can forget a piece of it:
on leaving (also on failure) every VM of the home is destroyed, the host forgotten, the pool and
its directory removed and the sshd stopped. The pool's name carries the run's leak token
(tests.helpers.deploy_env.unique_pool_name), so the leak check finds it if anything slips.

    with remote_host(reg, home) as hv:
        ...  # deploy to host hv.name ("hv"); hv.server.port, hv.server.host_key, hv.pool
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.deploy_env import cleanup_fleet, system_uri, unique_pool_name
from tests.helpers.sshd import Sshd
from vmfleet.deploy import hosts
from vmfleet.home import Home
from vmfleet.registry.db import Registry
from vmfleet.tools import ssh, virt


@dataclass(frozen=True)
class RemoteHost:
    name: str
    server: Sshd
    pool: str
    pool_dir: str  # /tmp/<pool>, as hosts.add records it


@contextlib.contextmanager
def remote_host(reg: Registry, home: Home, *, name: str = "hv",
                sshd_dir: Path | None = None) -> Iterator[RemoteHost]:
    """Register host ``name`` reached through a new sshd (in ``sshd_dir``, by default the home's
    ``sshd``) that trusts the home's key; its host key is pinned on first use."""
    server = Sshd(sshd_dir or home.root / "sshd", [ssh.public_key(home.keys)])
    pool = unique_pool_name()
    pool_dir = f"/tmp/{pool}"
    try:
        server.start()
        hosts.add(reg, name, server.libvirt_uri(home.keys / "id_ed25519"), pool=pool,
                  pool_dir=pool_dir, home=home, trust_new_host=True)
        yield RemoteHost(name=name, server=server, pool=pool, pool_dir=pool_dir)
    finally:
        cleanup_fleet(reg, home)  # the VMs first: their volumes live in the pool
        with contextlib.suppress(Exception):
            hosts.remove(reg, name)
        with contextlib.suppress(Exception), virt.connect(system_uri()) as conn:
            conn.delete_pool(pool)
        shutil.rmtree(pool_dir, ignore_errors=True)
        server.stop()
