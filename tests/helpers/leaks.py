"""What a test run leaves behind: domains, storage pools, /tmp directories and processes.

Every run has its own token (``RUN``); test domains, pools and /tmp directories carry it in
their names (tests.helpers.deploy_env), and processes the tests start carry it, or the run's
pytest base directory, on their command line (QEMU names its guest and disk; sshd its config;
the stand-in's QEMU its serial log). So a check after the run finds what this run left and
never what another run, going on at the same time, has made.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

RUN = secrets.token_hex(3)
DOMAIN_PREFIX = f"vmfleet-test-{RUN}-"


def leftovers(markers: list[str], uri: str | None, tmp: Path = Path("/tmp")) -> list[str]:
    """Each thing still there that carries one of ``markers``; ``uri``: the libvirtd to ask about
    domains and pools (None: do not ask)."""
    found = []
    if uri:
        found += _libvirt_leftovers(uri)
    found += [f"directory {p}" for p in sorted(tmp.iterdir()) if RUN in p.name]
    found += [f"process {pid}: {cmd[:160]}" for pid, cmd in _processes()
              if any(m in cmd for m in markers)]
    return found


def _libvirt_leftovers(uri: str) -> list[str]:
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError:
        return []  # no libvirtd: nothing can have been defined there
    try:
        out = [f"domain {d.name()}" for d in conn.listAllDomains() if d.name().startswith(DOMAIN_PREFIX)]
        for pool in conn.listAllStoragePools():
            if RUN in pool.name():
                out.append(f"storage pool {pool.name()}")
            elif pool.isActive():
                with contextlib.suppress(libvirt.libvirtError):
                    out += [f"volume {pool.name()}/{v}" for v in pool.listVolumes() if RUN in v]
        return out
    finally:
        conn.close()


def _processes():
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cmd and state != "Z":  # a zombie holds nothing; its parent reaps it
            yield int(entry.name), cmd
