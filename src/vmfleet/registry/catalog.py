"""Every name a user may type, read in three queries (for shell completion): systems with their
generation numbers, VMs, hosts."""

from __future__ import annotations

from dataclasses import dataclass

from vmfleet.registry.db import Registry


@dataclass(frozen=True)
class Names:
    generations: dict[str, list[int]]  # system -> its generation numbers, oldest first
    vms: list[str]
    hosts: list[str]


def names(reg: Registry) -> Names:
    gens: dict[str, list[int]] = {}
    for r in reg.query("SELECT system, number FROM generations ORDER BY system, number"):
        gens.setdefault(r["system"], []).append(r["number"])
    vms = [r["name"] for r in reg.query("SELECT name FROM vms ORDER BY name")]
    hosts = [r["name"] for r in reg.query("SELECT name FROM hosts ORDER BY name")]
    return Names(gens, vms, hosts)
