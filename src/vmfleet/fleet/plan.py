"""``plan``: the fleet file against what runs (registry and libvirt on every host, surveyed in
parallel), as one step per VM.

A fleet VM is named once in the fleet file (``web-1``) but a redeploy gives each replacement a
new name (``web-1-g3``, which ``replaces`` the VM before it); the VMs linked by ``replaces``
form a *lineage* whose first VM has the fleet name, and the lineage's active VM (running or
stopped) is what runs for that fleet entry. Its other members are retired ones kept for
rollback, or leftovers of an apply that was cut short: a replacement still ``deploying`` or
``failed`` (removed by the next apply), or a predecessor still running next to a healthy
replacement (retired by the next apply).

Actions: ``create`` (nothing runs), ``replace`` (another generation, system, host, memory or
vcpus: a new VM, healthy before the old one retires), ``start`` (right VM, powered off),
``keep``, ``finish`` (right VM, leftovers of an interrupted apply to clean up), ``remove``
(a VM not in the fleet, only with ``--prune``), ``unknown`` (its host did not answer, another
command holds it, or a redeploy or rollback of it was interrupted and must be finished first).

A plan carries a fingerprint of everything it was computed from (the fleet text, the
generations it resolved to, each VM's row and domain state), so ``apply`` of a saved plan is
refused once anything changed.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from vmfleet import timeutil
from vmfleet.deploy import hosts as hosts_mod
from vmfleet.deploy import status
from vmfleet.deploy.lineage import Lineage, lineages
from vmfleet.deploy.vm_records import Rollout, Vm, VmState, cut_short_rollouts, differences, list_vms
from vmfleet.errors import UsageError, VmfleetError
from vmfleet.fleet import file as fleet_file
from vmfleet.fleet import history
from vmfleet.home import Home
from vmfleet.registry import audit as registry_audit
from vmfleet.registry import fleet as fleet_rows
from vmfleet.registry import fleet as registry_fleet
from vmfleet.registry import spec as spec_mod
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation
from vmfleet.tools import locks, virt

APPLY_LOCK = "fleet-apply"
PLAN_FORMAT = 1


class Action(enum.StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    START = "start"
    KEEP = "keep"
    FINISH = "finish"
    REMOVE = "remove"
    UNKNOWN = "unknown"


CHANGES = (Action.CREATE, Action.REPLACE, Action.START, Action.FINISH, Action.REMOVE)


@dataclass(frozen=True)
class Step:
    """What apply will do for one fleet VM."""

    name: str                           # the fleet name (first VM of the lineage)
    action: Action
    host: str                           # where it will run (for remove: where it runs)
    system: str
    spec: str | None                    # as the fleet file says ('web', 'db@2024-05')
    vm: str | None                      # the VM that runs now
    vm_host: str | None
    current: str | None                 # its generation, 'web@2'
    current_generation_id: int | None
    target: str | None                  # 'web@3'
    target_generation_id: int | None
    memory_mib: int | None
    vcpus: int | None
    accel: str | None
    health: str | None
    tags: tuple[str, ...] = ()
    downgrade: bool = False
    packages: str = ""                  # one line: '12 upgraded, 1 downgraded, +curl'
    reasons: tuple[str, ...] = ()
    retire: tuple[str, ...] = ()        # leftovers to retire (ran next to their replacement)
    discard: tuple[str, ...] = ()       # leftovers to remove (deploy cut short or failed)
    note: str = ""
    cause: str = ""                     # the command outside apply that made the drift
    reuse: str | None = None            # replace: a retired VM of the lineage brought back

    @property
    def target_id(self) -> int:
        """The generation a create, replace or start moves to (those steps always have one)."""
        if self.target_generation_id is None:
            raise ValueError(f"step {self.name} ({self.action}) has no target generation")
        return self.target_generation_id

    @property
    def running(self) -> str:
        """The VM that runs now (a start, replace or remove always names one)."""
        if self.vm is None:
            raise ValueError(f"step {self.name} ({self.action}) names no VM")
        return self.vm


@dataclass(frozen=True)
class Plan:
    format: int
    fleet: str                          # label of the fleet file
    fleet_sha256: str
    source: dict                        # {'path': ...} or {'ref': '@2023-10'}: to plan again
    on: tuple[str, ...]
    prune: bool
    created: str
    steps: tuple[Step, ...]
    unmanaged: tuple[str, ...]          # running VMs not in the fleet (removed with --prune)
    unreachable: dict[str, str] = field(default_factory=dict)
    interrupted_apply: str | None = None
    fingerprint: str = ""

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.action in CHANGES]

    @property
    def exit_code(self) -> int:
        """0 nothing to do, 1 changes, 2 incomplete (a host did not answer)."""
        if self.unreachable and any(s.action is Action.UNKNOWN for s in self.steps):
            return 2
        return 1 if self.changes else 0

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for s in self.steps:
            out[s.action.value] += 1
        return out


# --- the actual state ----------------------------------------------------------------------------

def survey(reg: Registry, host_names: Sequence[str]
           ) -> tuple[dict[str, dict[str, virt.DomainState]], dict[str, str], dict[str, int]]:
    """Domain states and memory (MiB) of every host at once; a host that does not answer is
    reported, the others are surveyed anyway."""
    found, unreachable = status.survey_hosts(
        reg, host_names, lambda conn: (conn.domain_states(), conn.host_memory_mib()))
    return ({h: states for h, (states, _m) in found.items()}, unreachable,
            {h: m for h, (_s, m) in found.items() if m is not None})


def check_memory(fleet: fleet_file.FleetFile, wanted, memory: dict[str, int]) -> None:
    """A VM declared with more memory than its host has is a mistake in the fleet file: said
    with its line by plan, before apply builds anything for it."""
    problems = [fleet_file.Problem(v.line, f"vm {v.name!r}: memory {v.memory_mib} MiB is more "
                                   f"than host {v.host} has ({memory[v.host]} MiB)")
                for v in wanted if v.host in memory and v.memory_mib > memory[v.host]]
    fleet_file.raise_problems(problems, fleet.label)


# --- planning ------------------------------------------------------------------------------------

def make_plan(reg: Registry, home: Home, fleet: fleet_file.FleetFile, *, source: dict,
              on: Sequence[str] = (), prune: bool = False, packages: bool = True) -> Plan:
    known_hosts = [h.name for h in hosts_mod.list_hosts(reg)]
    fleet_file.check_against(reg, fleet, known_hosts)
    selected, plain = fleet_file.select(fleet, on) if on else ({v.name for v in fleet.vms}, set())
    vms = list_vms(reg)
    groups = lineages(vms)
    for name in plain:
        if fleet.vm(name) is None and name not in groups:
            raise UsageError(f"--on {name}: no such VM in the fleet or the registry",
                             "name a fleet VM, or a tag as @TAG")
    wanted = [v for v in fleet.vms if v.name in selected]
    host_names = {v.host for v in wanted}
    for v in wanted:
        if v.name in groups:
            host_names |= {m.host for m in groups[v.name].members}
    declared = {v.name for v in fleet.vms}
    extra = [g for r, g in sorted(groups.items()) if r not in declared and g.active()]
    if prune:
        extra_sel = [g for g in extra if not on or g.root in plain]
        host_names |= {m.host for g in extra_sel for m in g.members}
    states, unreachable, memory = survey(reg, sorted(host_names))
    check_memory(fleet, wanted, memory)
    resolver = _Resolver(reg)
    summaries = _Packages(reg) if packages else None
    broken = registry_audit.failed_bring_backs(
        reg, [m.name for v in wanted if v.name in groups for m in groups[v.name].members])
    cut_short = cut_short_rollouts(reg, home)
    steps = [_step(decl, groups.get(decl.name), resolver, summaries, states, unreachable, home,
                   broken, cut_short) for decl in wanted]
    steps = _with_causes(reg, steps)
    unmanaged = []
    for g in extra:
        if prune and (not on or g.root in plain):
            steps.append(_remove_step(g, states, unreachable))
        elif not on:
            unmanaged.append(g.root)
    plan = Plan(PLAN_FORMAT, fleet.label, fleet.sha256, source, tuple(on), prune,
                timeutil.now(), tuple(steps), tuple(unmanaged), unreachable,
                interrupted_apply(reg, home))
    return _with_fingerprint(plan, vms, states)


def _with_causes(reg: Registry, steps: list[Step]) -> list[Step]:
    """Each change to a VM that a redeploy or rollback run by hand made names that command:
    the fleet did not drift by itself."""
    import dataclasses

    changed = [s for s in steps if s.action in CHANGES and s.vm]
    causes = registry_audit.manual_changes(reg, [s.vm for s in changed if s.vm]) if changed else {}
    return [dataclasses.replace(s, cause=f"drift: '{_command(c)}' ({timeutil.show(c['at'])})")
            if s.action in CHANGES and s.vm and (c := causes.get(s.vm)) else s for s in steps]


def _command(change: dict) -> str:
    if change["action"] == "redeploy" and change["to_label"]:
        return f"vmfleet redeploy {change['to_label']}"
    return f"vmfleet {change['action']} {change['vm']}"


def managed_names(reg: Registry) -> set[str]:
    """The fleet names vmfleet manages: those of the newest recorded fleet file and of the
    last apply's plan (a fleet applied with --file without being recorded)."""
    names: set[str] = set()
    text = registry_fleet.last_apply_plan(reg)
    if text:
        try:
            names |= {s["name"] for s in json.loads(text).get("steps", [])
                      if s.get("action") != "remove"}
        except (ValueError, TypeError, AttributeError, KeyError):
            pass  # a plan that does not read names nothing
    versions = history.list_versions(reg)
    if versions:
        try:
            text = history.text_of(reg, versions[-1])
            names |= {v.name for v in fleet_file.parse(text, "fleet.toml").vms}
        except VmfleetError:
            pass  # a version that no longer parses manages nothing
    return names


class _Resolver:
    def __init__(self, reg: Registry):
        self.reg = reg
        self.cache: dict[str, Generation] = {}

    def __call__(self, text: str) -> Generation:
        if text not in self.cache:
            self.cache[text] = spec_mod.resolve(self.reg, text)
        return self.cache[text]


def _step(decl: fleet_file.VmDecl, lineage: Lineage | None, resolve: _Resolver, summaries,
          states, unreachable, home: Home, broken: AbstractSet[str] = frozenset(),
          cut_short: Sequence[Rollout] = ()) -> Step:
    target = resolve(decl.system)
    base: dict[str, Any] = dict(name=decl.name, host=decl.host, system=decl.system_name, spec=decl.system,
                target=target.label, target_generation_id=target.id,
                memory_mib=decl.memory_mib, vcpus=decl.vcpus, accel=decl.accel,
                health=decl.health, tags=decl.tags)
    members = lineage.members if lineage else ()
    active = [v for v in members if v.state in (VmState.RUNNING, VmState.STOPPED)]
    busy = [v for v in members if v.state is VmState.DEPLOYING
            and locks.is_locked(home, f"vm-{v.name}")]
    discard = tuple(v.name for v in members if v.state is VmState.FAILED or (
        v.state is VmState.DEPLOYING and v not in busy))
    current = active[-1] if active else None
    retire = tuple(v.name for v in active[:-1])
    none: dict[str, Any] = dict(vm=None, vm_host=None, current=None, current_generation_id=None)
    if busy:
        return Step(action=Action.UNKNOWN, **base, **(_now(current) if current else none),
                    note=f"another vmfleet command is deploying {busy[0].name}: plan again "
                    "when it is done")
    # A redeploy or rollback (an apply's bring-back is one) killed half-way: which VM should run
    # is its to say, so it is finished first, by the command that finishes it.
    cut = next((r for r in cut_short if any(r.involves(v.name) for v in members)), None)
    if cut is not None:
        return Step(action=Action.UNKNOWN, **base, **(_now(current) if current else none),
                    note=f"the {cut.kind} of {cut.vm} to {cut.label} was interrupted: finish it "
                    f"first ('{cut.finish_command}'), then plan again")
    down = [h for h in {decl.host, *(v.host for v in members)} if h in unreachable]
    if down:
        return Step(action=Action.UNKNOWN, **base, **(_now(current) if current else none),
                    note=f"host {down[0]} did not answer: {unreachable[down[0]]}")
    if current is None:
        why = ("a deploy of it was cut short: removed first" if discard else
               "not deployed" if not members else "only retired VMs remain")
        return Step(action=Action.CREATE, **base, **none, discard=discard, reasons=(why,))
    now = _now(current)
    reasons = differences(current, decl, target)
    domain = states.get(current.host, {}).get(current.name)
    if domain is None:
        reasons.append(f"its domain vanished from {current.host}")
    downgrade = (current.system == decl.system_name and current.generation > target.number)
    if reasons:
        pkgs = ""
        if summaries is not None and current.generation_id != target.id:
            pkgs = summaries(current.generation_id, target)
        reuse = _reusable([v for v in members if v.name not in broken], decl, target, states)
        if reuse:
            reasons.append(f"brings back {reuse} (retired), no new VM")
        return Step(action=Action.REPLACE, **base, **now, downgrade=downgrade, packages=pkgs,
                    reasons=tuple(reasons), retire=retire, discard=discard, reuse=reuse)
    if current.state is VmState.STOPPED or not domain.active:
        return Step(action=Action.START, **base, **now, reasons=("not running",),
                    retire=retire, discard=discard)
    if retire or discard:
        return Step(action=Action.FINISH, **base, **now, retire=retire, discard=discard,
                    reasons=("an apply was cut short: cleaning up",))
    return Step(action=Action.KEEP, **base, **now)


def _now(vm: Vm) -> dict[str, Any]:
    return dict(vm=vm.name, vm_host=vm.host, current=vm.label,
                current_generation_id=vm.generation_id)


def _remove_step(g: Lineage, states, unreachable) -> Step:
    vm = g.active()[-1]
    action = Action.UNKNOWN if vm.host in unreachable else Action.REMOVE
    return Step(name=g.root, action=action, host=vm.host, system=vm.system, spec=None,
                vm=vm.name, vm_host=vm.host, current=vm.label,
                current_generation_id=vm.generation_id, target=None, target_generation_id=None,
                memory_mib=None, vcpus=None, accel=None, health=None,
                reasons=("not in the fleet (--prune)",),
                discard=tuple(m.name for m in g.members if m.name != vm.name),
                note=f"host {vm.host} did not answer" if action is Action.UNKNOWN else "")


class _Packages:
    """One-line package summaries, once per pair of generations: from the images when both
    are built (diff's package layer), else from the configs' package lists."""

    def __init__(self, reg: Registry):
        self.reg = reg
        self.cache: dict[tuple[int, int], str] = {}

    def __call__(self, from_id: int, target: Generation) -> str:
        key = (from_id, target.id)
        if key not in self.cache:
            try:
                self.cache[key] = package_summary(self.reg, from_id, target)
            except VmfleetError as e:
                self.cache[key] = f"packages unknown: {e.message}"
        return self.cache[key]


def package_summary(reg: Registry, from_id: int, target: Generation) -> str:
    from vmfleet.build import builds as build
    from vmfleet.diff.operands import latest_image
    from vmfleet.registry.generations import get as get_generation
    from vmfleet.registry.generations import input_changes

    a = get_generation(reg, from_id)
    # The inputs that changed, in the words of diff's inputs layer and `generations`.
    changed = input_changes(reg, a, target)
    inputs = ("; " + ", ".join(changed[:3]) + (f" and {len(changed) - 3} more inputs"
                                               if len(changed) > 3 else "")) if changed else ""
    image_a, image_b = latest_image(build, reg, a), latest_image(build, reg, target)
    if image_a and image_b:
        from vmfleet.diff.package_diff import diff_packages
        from vmfleet.inspect.facts import inspect_image

        d = diff_packages(inspect_image(image_a), inspect_image(image_b))
        return summarize_changes(d.changes) + inputs
    pa = set((a.summary or {}).get("packages", []))
    pb = set((target.summary or {}).get("packages", []))
    named = [f"+{p}" for p in sorted(pb - pa)] + [f"-{p}" for p in sorted(pa - pb)]
    missing = " and ".join(g.label for g, i in ((a, image_a), (target, image_b)) if not i)
    known = ", ".join(named) if named else "same packages in the config"
    return f"{known} (config only: {missing} not built){inputs}"


def summarize_changes(changes) -> str:
    counts: dict[str, int] = {}
    named = []
    for c in changes:
        if c.change in ("added", "removed") and c.requested:
            named.append(("+" if c.change == "added" else "-") + c.name)
        else:
            counts[c.change] = counts.get(c.change, 0) + 1
    parts = [f"{n} {kind}" for kind, n in counts.items()] + named
    return ", ".join(parts) or "same packages"


# --- interrupted applies, fingerprints, JSON ----------------------------------------------------

def interrupted_apply(reg: Registry, home: Home) -> str | None:
    """The id of the last apply when it was cut short: killed (recorded as running, but nobody
    holds the apply lock) or interrupted (Ctrl-C, SIGTERM); None once another apply ran."""
    row = fleet_rows.last_apply(reg)
    if row is None or row["status"] not in ("running", "interrupted"):
        return None
    if row["status"] == "running" and locks.is_locked(home, APPLY_LOCK):
        return None
    return row["id"]


def apply_in_progress(home: Home) -> str | None:
    """'vmfleet apply ...' (pid N) while a running vmfleet holds the apply lock, else None."""
    who = locks.holder(home, APPLY_LOCK)
    return f"'{who.operation}' (pid {who.pid})" if who else None


def _reusable(members, decl, target, states) -> str | None:
    """The newest retired VM of the lineage that is what the fleet file declares (no
    difference) and whose domain is still on its host: apply brings it back instead of making
    another VM, as redeploy does (deploy/rollout.py, _retired_of). One an apply failed to bring
    back is not offered again (the caller leaves it out)."""
    fit = [v for v in members if v.state is VmState.RETIRED and not differences(v, decl, target)
           and states.get(v.host, {}).get(v.name) is not None]
    return max(fit, key=lambda v: (v.created, v.name)).name if fit else None


def _with_fingerprint(plan: Plan, vms: Sequence[Vm], states) -> Plan:
    import dataclasses

    h = hashlib.sha256()
    h.update(json.dumps({
        "fleet": plan.fleet_sha256, "on": sorted(plan.on), "prune": plan.prune,
        "steps": [[s.name, s.action.value, s.vm, s.current_generation_id,
                   s.target_generation_id, s.host, s.retire, s.discard, s.reuse] for s in plan.steps],
        "vms": [[v.name, v.state.value, v.generation_id, v.host, v.replaces] for v in vms],
        # Each VM's own domain only: other domains on a host do not make a plan stale.
        "domains": [[v.name, str(states[v.host].get(v.name)) if v.host in states else "?"]
                    for v in vms],
    }, sort_keys=True).encode())
    return dataclasses.replace(plan, fingerprint=h.hexdigest())


def to_json(plan: Plan) -> dict:
    """The documented JSON form (docs/plan.schema.json)."""
    return {
        "format": plan.format, "fleet": plan.fleet, "fleet_sha256": plan.fleet_sha256,
        "source": plan.source, "on": list(plan.on), "prune": plan.prune,
        "created": plan.created, "fingerprint": plan.fingerprint,
        "counts": plan.counts(), "exit_code": plan.exit_code,
        "unmanaged": list(plan.unmanaged), "unreachable": dict(plan.unreachable),
        "interrupted_apply": plan.interrupted_apply,
        "steps": [{
            "name": s.name, "action": s.action.value, "host": s.host, "system": s.system,
            "spec": s.spec, "vm": s.vm, "vm_host": s.vm_host, "current": s.current,
            "current_generation_id": s.current_generation_id, "target": s.target,
            "target_generation_id": s.target_generation_id, "memory_mib": s.memory_mib,
            "vcpus": s.vcpus, "accel": s.accel, "health": s.health, "tags": list(s.tags),
            "downgrade": s.downgrade, "packages": s.packages, "reasons": list(s.reasons),
            "retire": list(s.retire), "discard": list(s.discard), "note": s.note,
            "cause": s.cause, "reuse": s.reuse,
        } for s in plan.steps],
    }


def from_json(data: dict) -> Plan:
    """A saved plan (``plan --out``); malformed files are a UsageError."""
    try:
        if data.get("format") != PLAN_FORMAT:
            raise UsageError(f"plan format {data.get('format')!r} is not {PLAN_FORMAT}",
                             "make the plan again with this vmfleet: vmfleet plan --out FILE")
        steps = tuple(Step(
            name=s["name"], action=Action(s["action"]), host=s["host"], system=s["system"],
            spec=s["spec"], vm=s["vm"], vm_host=s["vm_host"], current=s["current"],
            current_generation_id=s["current_generation_id"], target=s["target"],
            target_generation_id=s["target_generation_id"], memory_mib=s["memory_mib"],
            vcpus=s["vcpus"], accel=s["accel"], health=s["health"], tags=tuple(s["tags"]),
            downgrade=s["downgrade"], packages=s["packages"], reasons=tuple(s["reasons"]),
            retire=tuple(s["retire"]), discard=tuple(s["discard"]), note=s["note"],
            cause=s.get("cause", ""), reuse=s.get("reuse"))
            for s in data["steps"])
        return Plan(data["format"], data["fleet"], data["fleet_sha256"], dict(data["source"]),
                    tuple(data["on"]), bool(data["prune"]), data["created"], steps,
                    tuple(data["unmanaged"]), dict(data["unreachable"]),
                    data["interrupted_apply"], data["fingerprint"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UsageError(f"not a vmfleet plan: {e}", "make one with: vmfleet plan --out FILE"
                         ) from None
