"""``kill -9`` at a kill point, in-process, for code that works against test:///default.

libvirt's test driver keeps its state in this process, so the process cannot really die. At the
kill point the hook takes what a real SIGKILL would leave behind (the registry, the home's files,
each domain's definition and run state), then raises ``Killed``; whatever cleanup the code runs
while ``Killed`` unwinds is then undone by ``restore``, so the next command meets exactly what a
killed vmfleet left. (Locks need no care: the kernel drops a dead process's flocks, and these
are released as ``Killed`` unwinds.) tests/unit/test_kill_points.py also kills real processes
for the steps that need no libvirt.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from vmfleet.tools import killpoint


class Killed(BaseException):
    """Raised at the kill point (a BaseException: nothing may catch it as an error)."""


@dataclass
class Leftovers:
    db: sqlite3.Connection
    files: dict[Path, tuple[bytes, int]]
    domains: dict[str, tuple[str, bool]]


def _take(fleet) -> Leftovers:
    db = sqlite3.connect(":memory:")
    fleet.reg.conn.backup(db)
    files = {}
    for d in (fleet.home.overlays, fleet.home.logs, fleet.home.work):
        for p in d.rglob("*"):
            if p.is_file():
                files[p] = (p.read_bytes(), p.stat().st_mode & 0o777)
    domains = {d.name(): (d.XMLDesc(2), bool(d.isActive()))  # 2: the inactive definition
               for d in fleet.conn.listAllDomains() if d.name() != "test"}
    return Leftovers(db, files, domains)


def arm(monkeypatch, fleet, step: str) -> dict:
    """Make ``step`` kill the process; returns a dict that gets 'left' when it happens."""
    seen: dict = {}

    def kill(at: str) -> None:
        seen["left"] = _take(fleet)
        raise Killed(at)

    monkeypatch.setenv(killpoint.KILL_ENV, step)
    monkeypatch.setattr(killpoint, "kill", kill)
    return seen


def restore(monkeypatch, fleet, left: Leftovers) -> None:
    """Put back what the kill left (undoing cleanup that a real SIGKILL would never run)."""
    monkeypatch.delenv(killpoint.KILL_ENV)
    left.db.backup(fleet.reg.conn)
    for d in (fleet.home.overlays, fleet.home.logs, fleet.home.work):
        for p in list(d.rglob("*")):
            if p.is_file() and p not in left.files:
                p.unlink()
    for p, (data, mode) in left.files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.exists():
            p.chmod(0o600)
        p.write_bytes(data)
        p.chmod(mode)
    for dom in fleet.conn.listAllDomains():
        if dom.name() != "test" and dom.name() not in left.domains:
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    for name, (xml, active) in left.domains.items():
        fleet.conn.defineXML(xml)
        dom = fleet.conn.lookupByName(name)
        if active and not dom.isActive():
            dom.create()
        elif not active and dom.isActive():
            dom.destroy()
