"""Lineages: a fleet VM is named once (``web-1``) but each redeploy gives its replacement a new
name (``web-1-g3``, which ``replaces`` the VM before it); the VMs linked by ``replaces`` form a
*lineage* whose first VM has the fleet name. ps shows one row per lineage, plan one step, prune
keeps the newest retired VMs of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vmfleet.deploy.vm_records import ACTIVE, Vm, VmState


@dataclass(frozen=True)
class Lineage:
    root: str
    members: tuple[Vm, ...]

    def active(self) -> list[Vm]:
        return [v for v in self.members if v.state in ACTIVE]

    def current(self) -> Vm:
        """What runs for the lineage: its newest running or stopped VM, else its newest VM."""
        active = self.active()
        return active[-1] if active else self.members[-1]

    def retired(self) -> list[Vm]:
        """Its retired VMs, oldest first."""
        return [v for v in self.members if v.state is VmState.RETIRED]


def lineages(vms: Sequence[Vm]) -> dict[str, Lineage]:
    """VMs grouped by the first VM of their ``replaces`` chain. A chain that ends at a VM that
    is gone (pruned or destroyed: its successor keeps its name in ``replaces``) keeps that
    name, so the fleet name still finds what runs for it."""
    by_name = {v.name: v for v in vms}
    roots: dict[str, str] = {}

    def root(name: str) -> str:
        seen = []
        while name not in roots:
            seen.append(name)
            nxt = by_name[name].replaces
            if nxt and nxt not in by_name and nxt not in seen:
                roots[name] = nxt
                break
            if not nxt or nxt in seen:
                roots[name] = name
                break
            name = nxt
        r = roots[name]
        for s in seen:
            roots[s] = r
        return r

    def depth(name: str) -> int:  # hops back along ``replaces``: breaks ties of same-second stamps
        n, seen = 0, {name}
        while (nxt := by_name[name].replaces) in by_name and nxt not in seen:
            seen.add(nxt)
            name, n = nxt, n + 1
        return n

    groups: dict[str, list[Vm]] = {}
    for v in vms:
        groups.setdefault(root(v.name), []).append(v)
    return {r: Lineage(r, tuple(sorted(m, key=lambda v: (v.created, depth(v.name), v.name))
                                if len(m) > 1 else m))
            for r, m in groups.items()}
