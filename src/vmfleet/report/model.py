"""What the report shows, read from the registry: the fleet against its fleet file, a check's
reason in words, an apply's replacements.

Everything here is the registry's view: VM rows and their lineages, not a survey of the hosts
(``vmfleet plan`` asks libvirt; a report must be written even while a host is down).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vmfleet.deploy.lineage import lineages
from vmfleet.deploy.vm_records import Declared, Vm, differences, list_vms
from vmfleet.errors import UsageError, VmfleetError
from vmfleet.names import check_name
from vmfleet.registry import checks as check_mod
from vmfleet.registry import spec as spec_mod
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation


@dataclass(frozen=True)
class FleetRow:
    """One fleet VM: what runs (from the registry) against what the fleet file declares."""

    name: str                 # the fleet name (first VM of its lineage)
    vm: str | None            # the VM that runs now (a redeploy's successor has another name)
    system: str
    generation: int | None
    host: str | None
    state: str | None
    since: str | None         # when it was last started, else when it was made
    drift: str                # in words: 'as declared', 'generation web@3 → web@4', …
    drifted: bool


@dataclass(frozen=True)
class FleetView:
    source: str               # which fleet file, in words
    rows: tuple[FleetRow, ...]


class DeclaredVm(Declared, Protocol):
    """What the report reads of a VM the fleet file declares (vmfleet.fleet.file.VmDecl): what
    ``differences`` compares, and its name and system spec."""

    @property
    def name(self) -> str: ...
    @property
    def system(self) -> str: ...


class DeclaredFleet(Protocol):
    """A fleet file as the report reads it (vmfleet.fleet.file.FleetFile): the CLI loads it,
    the report only compares, so it stands on no other use case."""

    @property
    def vms(self) -> Sequence[DeclaredVm]: ...


def fleet_view(reg: Registry, fleet: DeclaredFleet | None, source: str) -> FleetView:
    groups = lineages(list_vms(reg))
    declared = {d.name: d for d in fleet.vms} if fleet else {}
    resolved: dict[str, Generation | VmfleetError] = {}
    rows = []
    for root in sorted(set(groups) | set(declared)):
        g, decl = groups.get(root), declared.get(root)
        active = g.active() if g else []
        vm = active[-1] if active else None
        if vm is not None:
            if decl is None:
                drift = "not in the fleet file" if fleet else "no fleet file"
                drifted = fleet is not None
            else:
                reasons = _differences(reg, vm, decl, resolved)
                drift, drifted = ("; ".join(reasons) if reasons else "as declared"), bool(reasons)
            rows.append(FleetRow(
                name=root, vm=vm.name, system=vm.system, generation=vm.generation, host=vm.host,
                state=str(vm.state), since=vm.started or vm.created, drift=drift, drifted=drifted))
        elif decl is not None:
            rows.append(FleetRow(
                name=root, vm=None, system=decl.system_name, generation=None, host=decl.host,
                state=None, since=None, drift="declared, not deployed", drifted=True))
        # else only retired or failed VMs, not in the fleet: history, not the fleet
    return FleetView(source, tuple(rows))


def _differences(reg: Registry, vm: Vm, decl: DeclaredVm,
                 resolved: dict[str, Generation | VmfleetError]) -> list[str]:
    """What plan would call a replacement, from the registry alone."""
    if decl.system not in resolved:
        try:
            resolved[decl.system] = spec_mod.resolve(reg, decl.system)
        except VmfleetError as e:
            resolved[decl.system] = e
    target = resolved[decl.system]
    if isinstance(target, VmfleetError):
        return [f"{decl.system}: {target.message}"]
    return differences(vm, decl, target)


def check_of(check_id: int, gen, started: str, result: str,
             detail_json: str | None) -> check_mod.Check:
    return check_mod.Check(id=check_id, generation_id=gen.id, label=gen.label,
                           result=check_mod.Result(result), build_id=None,
                           reference_build_id=None, started=started, finished=None,
                           detail=json.loads(detail_json or "{}"))


def reason(c: check_mod.Check) -> str:
    """A check's finding in one line (the words ``vmfleet check`` prints)."""
    if c.result is check_mod.Result.REPRODUCIBLE:
        return "reproducible: the same image bytes as the reference build"
    try:
        line = check_mod.summary_line(c).split(": ", 1)[1]
    except (KeyError, TypeError, IndexError):
        return c.description
    # the status is said next to it (a badge, a letter): not twice
    for prefix in ("drifted: ", "no longer builds: "):
        line = line.removeprefix(prefix)
    return line


def diff_key(c: check_mod.Check) -> str:
    """What makes two checks' diffs the same diff: their detail without the times and build
    numbers that every check has of its own (the same drift found every week is one page)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("seconds", "build")}
        return value
    return json.dumps(strip(c.detail), sort_keys=True)


def makes_diff_page(c: check_mod.Check) -> bool:
    """A check made a diff when it compared a rebuild with its reference."""
    return c.result in (check_mod.Result.DRIFTED, check_mod.Result.IMAGE_DIFFERS)


@dataclass(frozen=True)
class ApplyStep:
    apply_id: str
    started: str
    status: str
    name: str
    step: dict

    @property
    def page(self) -> str:
        return f"apply-{self.apply_id}-{self.name}.html"


def _safe(name) -> bool:
    """A name that can be part of a page's file name (what vmfleet's names are anyway)."""
    try:
        check_name(str(name), "VM")
    except UsageError:
        return False
    return True


def apply_steps(applies: list[dict]) -> list[ApplyStep]:
    """Every replacement an apply planned (the steps that change what a VM runs)."""
    out = []
    for a in applies:
        try:
            steps = json.loads(a["plan"]).get("steps", [])
        except (ValueError, AttributeError):
            continue
        for s in steps:
            if isinstance(s, dict) and s.get("action") == "replace" and _safe(s.get("name")) \
                    and _safe(str(a["id"]).lower()):
                out.append(ApplyStep(a["id"], a["started"], a["status"], str(s["name"]), s))
    return out
