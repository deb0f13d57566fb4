"""Audit entries written as an intent ("started, not finished") and closed by a later command."""

from __future__ import annotations

from vmfleet.registry.db import Registry

OPEN = "started, not finished"


def close_open_intents(reg: Registry, vm: str, outcome: str) -> int:
    """Close every entry of ``vm`` still saying it was started and not finished (a deploy killed
    after its domain was defined) with ``outcome``, e.g. 'finished by vmfleet start'; return how
    many were closed."""
    with reg.write():
        return reg.execute(
            "UPDATE audit SET detail = substr(detail, 1, length(detail) - ?) || ? "
            "WHERE vm = ? AND detail LIKE ?",
            (len(OPEN), outcome, vm, f"%{OPEN}")).rowcount
