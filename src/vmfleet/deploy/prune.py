"""``prune``: remove retired VMs (domain, overlay, console log, record) beyond the newest
``keep`` of each lineage, so that redeploys and rollbacks do not pile up domains and disks.

The newest retired VM of a lineage is what ``rollback`` brings back first: it is kept unless
``keep`` is 0. A retired VM that an unfinished redeploy or rollback involves is never chosen
(the command ps names still needs it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vmfleet.deploy import lifecycle
from vmfleet.deploy.lineage import lineages
from vmfleet.deploy.vm_records import Notify, list_vms, open_rollouts, quiet
from vmfleet.errors import NotFound, UsageError
from vmfleet.home import Home
from vmfleet.registry.db import Registry


@dataclass(frozen=True)
class Pruned:
    name: str
    lineage: str
    generation: str  # 'web@2'
    host: str


def candidates(reg: Registry, *, keep: int = 1, only: Sequence[str] = ()) -> list[Pruned]:
    """The retired VMs prune would remove: all but the newest ``keep`` of each lineage, in
    the lineages that ``only`` selects (system names or names of any VM of a lineage)."""
    if keep < 0:
        raise UsageError(f"--keep {keep}: must be 0 or more",
                         "--keep 1 keeps the newest retired VM of each lineage")
    vms = list_vms(reg)
    groups = lineages(vms)
    systems = {v.system for v in vms}
    member_of = {m.name: root for root, g in groups.items() for m in g.members}
    chosen: set[str] = set()
    for word in only:
        if word in member_of or word in groups:
            chosen.add(member_of.get(word, word))
        elif word in systems:
            chosen |= {r for r, g in groups.items() if g.members[0].system == word}
        else:
            raise NotFound(f"no system or VM named {word!r}",
                           "name a system ('vmfleet systems') or a VM ('vmfleet ps --all')")
    busy = {n for r in open_rollouts(reg)
            for n in (r.vm, r.successor, *r.retiring) if n}
    out = []
    for root, group in sorted(groups.items()):
        if only and root not in chosen:
            continue
        retired = [v for v in group.retired() if v.name not in busy]
        drop = retired[: max(0, len(retired) - keep)]
        out += [Pruned(v.name, root, v.label, v.host) for v in drop]
    return out


def prune(reg: Registry, home: Home, chosen: Sequence[Pruned], *,
          notify: Notify = quiet) -> list[Pruned]:
    """Remove the VMs chosen by ``candidates``; those removed, in order."""
    done = []
    for p in chosen:
        notify(f"removing {p.name} ({p.generation}, retired, of {p.lineage})")
        lifecycle.destroy(reg, home, p.name)
        done.append(p)
    return done
