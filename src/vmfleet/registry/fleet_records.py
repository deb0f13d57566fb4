"""What the registry says about the fleet's VMs beyond their rows: which VM names the last
apply managed, and which command outside apply last changed a VM (the cause of drift)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from vmfleet.registry.db import Registry

CHUNK = 500  # names per query: well under SQLite's limit on bound parameters


@dataclass(frozen=True)
class ManualChange:
    """A redeploy or rollback run by hand (not by apply) that made ``vm`` what it is."""

    vm: str
    action: str              # 'redeploy' or 'rollback'
    to_generation: str | None  # 'web@2'
    at: str

    @property
    def command(self) -> str:
        if self.action == "redeploy" and self.to_generation:
            return f"vmfleet redeploy {self.to_generation}"
        return f"vmfleet {self.action} {self.vm}"


def last_applied_names(reg: Registry) -> set[str]:
    """The fleet names (lineage roots) of the last apply's plan: the VMs the fleet manages
    even when the fleet file was never recorded in the history."""
    row = reg.query_one("SELECT plan FROM fleet_applies ORDER BY started DESC, rowid DESC "
                        "LIMIT 1")
    if row is None:
        return set()
    try:
        return {s["name"] for s in json.loads(row["plan"]).get("steps", [])
                if s.get("action") != "remove"}
    except (ValueError, TypeError, AttributeError, KeyError):
        return set()


def manual_changes(reg: Registry, vms: Iterable[str]) -> dict[str, ManualChange]:
    """For each VM named, the last redeploy or rollback outside apply that produced it."""
    names = sorted(set(vms))
    out: dict[str, ManualChange] = {}
    for i in range(0, len(names), CHUNK):
        part = names[i:i + CHUNK]
        rows = reg.query(
            "SELECT a.vm, a.action, a.at, gt.system || '@' || gt.number AS to_label FROM audit a "
            "LEFT JOIN generations gt ON gt.id = a.to_generation_id "
            "WHERE a.apply_id IS NULL AND a.action IN ('redeploy', 'rollback') "
            "AND a.detail NOT LIKE 'failed:%' "
            f"AND a.vm IN ({','.join('?' * len(part))}) ORDER BY a.id", part)
        for r in rows:
            out[r["vm"]] = ManualChange(r["vm"], r["action"], r["to_label"], r["at"])
    return out


def forget_vm(reg: Registry, name: str) -> None:
    """Delete the VM ``name``; those that replaced it replace its predecessor instead, or keep
    ``name`` when it had none (the lineage is still known by its first name)."""
    with reg.write():
        row = reg.query_one("SELECT replaces FROM vms WHERE name = ?", (name,))
        if row is not None and row["replaces"]:
            reg.execute("UPDATE vms SET replaces = ? WHERE replaces = ?", (row["replaces"], name))
        reg.execute("DELETE FROM vms WHERE name = ?", (name,))
