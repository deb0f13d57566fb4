"""Redeploy (replace each VM of a system by a VM of another generation, new one healthy before
the old one retires) and rollback (bring the retired VM back).

Both are recorded as *rollouts* (vm_records.Rollout): the intent of each step (make the
successor, boot the VM brought back, retire the old one) is written before the step is taken,
and the outcome after. A vmfleet killed at any point leaves a rollout that is still
``running`` with no process holding its lock; ``ps`` names the command that finishes it, and
that command (the same redeploy, or a rollback by either name) continues the recorded rollout
instead of starting another: it never makes a second successor.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable

from vmfleet.deploy import hosts
from vmfleet.deploy.lifecycle import boot, claim, deploy_image, failure_reason, mark_failed, power_off, remove_vm
from vmfleet.deploy.placement import Image
from vmfleet.deploy.vm_records import (
    ACTIVE,
    DEFAULT_TIMEOUT,
    Notify,
    Options,
    RedeployResult,
    Rollout,
    RolloutStep,
    Vm,
    VmState,
    begin_rollout,
    cut_short_rollouts,
    find_vm,
    get_vm,
    lineage_of,
    list_vms,
    quiet,
    rollout_step,
    update_vm,
    vm_lock,
    write_audit,
)
from vmfleet.errors import DeployError, NotFound, UsageError, VmfleetError
from vmfleet.home import Home
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation
from vmfleet.tools import killpoint, virt

# --- redeploy and rollback ---------------------------------------------------------------------


def _retire(reg: Registry, home: Home, conn: virt.Conn, vm: Vm, notify: Notify) -> Vm:
    claim(home, hosts.get(reg, vm.host), conn, vm.name)
    notify(f"retiring {vm.name} (kept for rollback)")
    power_off(conn, vm.name, notify)
    killpoint.reached("retire:powered-off")
    return update_vm(reg, vm.name, state=VmState.RETIRED, started=None)


def replacement_name(reg: Registry, root: str, number: int) -> str:
    """``ROOT-gN`` (then ``ROOT-gN-2``, ...): the name of the VM that replaces one of ROOT's
    line with generation N, cut to libvirt's 63 characters."""
    suffix = f"-g{number}"
    candidate = root[: 63 - len(suffix)] + suffix
    n = 2
    while find_vm(reg, candidate) is not None:
        extra = f"{suffix}-{n}"
        candidate = root[: 63 - len(extra)] + extra
        n += 1
    return candidate


def _next_name(reg: Registry, old: str, number: int) -> str:
    return replacement_name(reg, re.sub(r"-g\d+(-\d+)?$", "", old), number)


def redeploy_preview(reg: Registry, spec_text: str) -> list[tuple[Vm, Generation]]:
    """What a redeploy to ``spec_text`` would replace: (running or stopped VM, generation)
    for each VM of the system not already there. Reads only; errors are redeploy's own."""
    from vmfleet.registry import spec

    try:
        gen = spec.resolve(reg, spec_text)
    except VmfleetError:
        return []
    return [(vm, gen) for vm in list_vms(reg, system=gen.system)
            if vm.state in ACTIVE and vm.generation_id != gen.id]


def redeploy(reg: Registry, home: Home, spec_text: str, *, allow_downgrade: bool = False,
             timeout: float = DEFAULT_TIMEOUT, accel: str | None = None,
             builder: str | None = None, notify: Notify = quiet,
             on_line: Callable[[str], None] | None = None) -> list[RedeployResult]:
    """Move every deployed VM of the spec's system to that generation, one VM at a time.

    A redeploy to the same generation that was cut short is finished (same successor names);
    one to another generation, or a rollback cut short, must be finished first.
    """
    from vmfleet.build import builds as build
    from vmfleet.registry import spec

    gen = spec.resolve(reg, spec_text)
    resumed: dict[str, Rollout] = {}
    for r in cut_short_rollouts(reg, home, system=gen.system):
        if r.kind != "redeploy" or r.generation_id != gen.id:
            raise UsageError(f"the {r.kind} of {r.vm} to {r.label} was interrupted "
                             f"(at step {r.step})", f"finish it first: {r.finish_command}")
        resumed[r.vm] = r
    successors = {r.successor for r in resumed.values()}
    current = [vm for vm in list_vms(reg, system=gen.system)
               if (vm.state in ACTIVE and vm.name not in successors) or vm.name in resumed]
    if not current:
        raise NotFound(f"no VM of system {gen.system} is deployed",
                       f"deploy one first: vmfleet deploy {spec_text}")
    older = [vm for vm in current if vm.generation > gen.number and vm.name not in resumed]
    if older and not allow_downgrade:
        raise UsageError(
            f"{gen.label} is older than what runs on {', '.join(v.name + ' (' + v.label + ')' for v in older)}",
            "going back to an older generation needs --allow-downgrade",
        )
    image: Image | None = None
    results = []
    for old in current:
        if old.generation == gen.number and old.name not in resumed:
            results.append(RedeployResult(old.name, None, old.label, gen.label, "unchanged"))
            continue
        kept = None if old.name in resumed else _retired_of(reg, old, gen)
        if kept is not None:  # no new VM: the lineage's retired one of that generation
            results.append(_restart(reg, home, kept, old, gen, timeout, notify))
            continue
        if image is None:
            notify(f"image of {gen.label}: building or reusing")
            built = build.ensure_image(reg, home, gen, builder=builder, on_line=on_line)
            image = Image(*build.stored_image(built))
        results.append(_replace(reg, home, old, gen, image, timeout, accel, notify,
                                resumed.get(old.name)))
    return results


def _retired_of(reg: Registry, old: Vm, gen: Generation) -> Vm | None:
    """The newest retired VM of ``old``'s lineage that runs ``gen``, with ``old``'s memory,
    vcpus, host and network (what a new replacement would get)."""
    same = [v for v in lineage_of(reg, old) if v.state is VmState.RETIRED
            and v.generation_id == gen.id and (v.host, v.memory_mib, v.vcpus, v.network)
            == (old.host, old.memory_mib, old.vcpus, old.network)]
    return max(same, key=lambda v: (v.created, v.name)) if same else None


def _restart(reg: Registry, home: Home, kept: Vm, old: Vm, gen: Generation, timeout: float,
             notify: Notify) -> RedeployResult:
    """Bring ``kept`` back in place of ``old`` (a rollback, recorded as such so that a kill is
    finished like one, audited as this redeploy)."""
    notify(f"redeploying {old.name} ({old.label}): {kept.name}, retired, runs {gen.label}: "
           "restarting it instead of making another VM")
    rid = begin_rollout(reg, "rollback", kept.name, kept.system, kept.generation_id,
                        RolloutStep.BOOT_TARGET, retiring=(old.name,))
    _run_rollback(reg, home, rid, kept.name, (old.name,), RolloutStep.BOOT_TARGET, timeout,
                  notify, action="redeploy")
    return RedeployResult(old.name, kept.name, old.label, gen.label, "restarted")


def _replace(reg: Registry, home: Home, old: Vm, gen: Generation, image: Image, timeout: float,
             accel: str | None, notify: Notify, rollout: Rollout | None = None) -> RedeployResult:
    with vm_lock(home, old.name):
        # ``old`` was read before the build, without a lock: another redeploy or rollback may
        # have retired or removed it since.
        now = find_vm(reg, old.name)
        if rollout is None:
            if now is None or now.state not in ACTIVE:
                notify(f"{old.name} is {now.state if now else 'gone'} now (another vmfleet "
                       "command changed it): skipped")
                return RedeployResult(old.name, None, old.label, gen.label, "skipped")
            old = now
            # Chosen under the old VM's lock, so no other redeploy of it picks the same name;
            # recorded before anything is made, so a retry after a kill uses the same one.
            new_name = _next_name(reg, old.name, gen.number)
            rid = begin_rollout(reg, "redeploy", old.name, gen.system, gen.id,
                                RolloutStep.DEPLOY_NEW, successor=new_name)
            step = RolloutStep.DEPLOY_NEW
            notify(f"redeploying {old.name} ({old.label}) as {new_name} ({gen.label})")
        else:
            if now is None:
                rollout_step(reg, rollout.id, rollout.step, status="failed")
                raise NotFound(f"{old.name}, which the interrupted redeploy replaces, is gone",
                               "see 'vmfleet ps'")
            if rollout.successor is None:  # a redeploy records its successor when it begins
                raise NotFound(f"the interrupted redeploy of {old.name} recorded no successor",
                               "see 'vmfleet ps'")
            old, new_name, rid, step = now, rollout.successor, rollout.id, rollout.step
            notify(f"finishing the interrupted redeploy of {old.name} as {new_name} "
                   f"({gen.label}), at step {step}")
        killpoint.reached("redeploy:intent")
        if step is RolloutStep.DEPLOY_NEW:
            options = Options(memory_mib=old.memory_mib, vcpus=old.vcpus, network=old.network,
                              accel=accel, wait=True, timeout=timeout)
            try:
                _ensure_successor(reg, home, old, gen, image, new_name, options, timeout, notify)
            except BaseException as e:
                if _made_by_this_redeploy(reg, new_name, old):
                    notify(f"{new_name} failed; removing it, {old.name} stays")
                    with contextlib.suppress(VmfleetError):
                        remove_vm(reg, home, new_name, keep_console=True)
                rollout_step(reg, rid, RolloutStep.DEPLOY_NEW, status="failed")
                write_audit(reg, "redeploy", old.name, old.generation_id, gen.id,
                       f"failed: {failure_reason(e)}; {old.name} kept")
                if isinstance(e, VmfleetError):
                    raise DeployError(f"redeploy of {old.name} to {gen.label} failed, "
                                      f"{old.name} keeps running: {e.message}", e.hint) from None
                raise
            rollout_step(reg, rid, RolloutStep.RETIRE_OLD)
            killpoint.reached("redeploy:retire-old")
        old = get_vm(reg, old.name)
        if old.state is not VmState.RETIRED:
            host = hosts.get(reg, old.host)
            with virt.connect(host.uri) as conn:
                _retire(reg, home, conn, old, notify)
        rollout_step(reg, rid, RolloutStep.DONE, status="done")
    write_audit(reg, "redeploy", new_name, old.generation_id, gen.id, f"replaces {old.name}")
    return RedeployResult(old.name, new_name, old.label, gen.label, "replaced")


def _ensure_successor(reg: Registry, home: Home, old: Vm, gen: Generation, image: Image,
                      name: str, options: Options, timeout: float, notify: Notify) -> None:
    """Make the successor ``name`` and see it answer; after a kill, finish the one begun."""
    vm = find_vm(reg, name)
    if vm is not None:
        host = hosts.get(reg, vm.host)
        with vm_lock(home, name), virt.connect(host.uri) as conn:
            if vm.replaces != old.name:
                raise DeployError(f"VM {name} exists and does not replace {old.name}",
                                  f"see 'vmfleet ps'; remove it with 'vmfleet destroy {name}'")
            if conn.domain(name) is not None and vm.overlay:
                notify(f"booting {name}, made before the interruption")
                try:
                    boot(reg, home, host, conn, vm, wait=True, timeout=timeout, notify=notify)
                except BaseException:
                    mark_failed(reg, home, name, host)
                    raise
                return
            notify(f"{name} was cut short before its domain was defined: making it again")
            remove_vm(reg, home, name)
    deploy_image(reg, home, gen, image, name=name, host=old.host, options=options,
                 notify=notify, replaces=old.name, audit=None)


def _made_by_this_redeploy(reg: Registry, name: str, old: Vm) -> bool:
    """Whether the VM ``name`` is the failed replacement this redeploy of ``old`` made.

    Not when deploy_image failed before reserving the name (its lock was busy, or another
    command took the name): then the row, if any, is someone else's. The name was free when
    chosen under ``old``'s lock, which no other redeploy of ``old`` can hold meanwhile.
    """
    vm = find_vm(reg, name)
    return (vm is not None and vm.replaces == old.name
            and vm.state in (VmState.FAILED, VmState.DEPLOYING))


def rollback(reg: Registry, home: Home, name: str, *, timeout: float = DEFAULT_TIMEOUT,
             allow_downgrade: bool = False, notify: Notify = quiet) -> Vm:
    """Bring a retired VM back in place of the one that replaced it.

    ``name`` is either the retired VM to bring back, or a running VM whose predecessor (the VM
    it replaced) should come back. The VM brought back boots from its kept overlay and must
    answer SSH with its pinned host key before the other one is retired; otherwise nothing
    changes and the command fails. A rollback that was cut short is finished by a rollback
    naming either VM.

    Bringing back an older generation than the one it retires needs ``allow_downgrade``, as
    for redeploy and apply (the one downgrade rule).
    """
    vm = get_vm(reg, name)
    for r in cut_short_rollouts(reg, home, system=vm.system):
        if r.involves(name) or any(r.involves(v.name) for v in lineage_of(reg, vm)):
            if r.kind != "rollback":
                raise UsageError(f"the redeploy of {r.vm} to {r.label} was interrupted "
                                 f"(at step {r.step})", f"finish it first: {r.finish_command}")
            _check_downgrade(r.label, r.downgrade, allow_downgrade,
                             [n for n in r.retiring if find_vm(reg, n)])
            notify(f"finishing the interrupted rollback to {r.vm}, at step {r.step}")
            return _run_rollback(reg, home, r.id, r.vm, r.retiring, r.step, timeout, notify)
    if vm.state is VmState.RETIRED:
        target = vm
        current = [v for v in lineage_of(reg, vm) if v.state in ACTIVE or
                   v.state is VmState.FAILED]
    else:
        if not vm.replaces:
            raise UsageError(f"VM {name} did not replace another VM: nothing to roll back to",
                             "rollback works on VMs made by 'vmfleet redeploy'")
        replaced = find_vm(reg, vm.replaces)
        if replaced is None:
            raise NotFound(f"{vm.replaces}, the VM {name} replaced, was destroyed",
                           f"deploy its generation again: vmfleet deploy {vm.system}@...")
        target = replaced
        if target.state is not VmState.RETIRED:
            raise UsageError(f"{target.name}, the VM {name} replaced, is {target.state}",
                             "see 'vmfleet ps'")
        current = [vm]
    newer = [v for v in current if v.system == target.system and v.generation > target.generation]
    _check_downgrade(target.label, bool(newer), allow_downgrade,
                     [f"{v.name} ({v.label})" for v in newer])
    retiring = tuple(v.name for v in current)
    rid = begin_rollout(reg, "rollback", target.name, target.system, target.generation_id,
                        RolloutStep.BOOT_TARGET, retiring=retiring)
    return _run_rollback(reg, home, rid, target.name, retiring, RolloutStep.BOOT_TARGET,
                         timeout, notify)


def _check_downgrade(label: str, downgrade: bool, allowed: bool, newer: list[str]) -> None:
    if downgrade and not allowed:
        raise UsageError(f"{label} is older than what runs on {', '.join(newer)}",
                         "going back to an older generation needs --allow-downgrade")


def _run_rollback(reg: Registry, home: Home, rid: int, target_name: str,
                  retiring: tuple[str, ...], step: RolloutStep, timeout: float,
                  notify: Notify, action: str = "rollback") -> Vm:
    target = get_vm(reg, target_name)
    current = [v for v in (find_vm(reg, n) for n in retiring) if v is not None]
    host = hosts.get(reg, target.host)
    with contextlib.ExitStack() as locks:
        for v in sorted([target, *current], key=lambda v: v.name):
            locks.enter_context(vm_lock(home, v.name))
        with virt.connect(host.uri) as conn:
            if step is RolloutStep.BOOT_TARGET:
                killpoint.reached("rollback:intent")
                notify(f"bringing back {target.name} ({target.label})")
                try:
                    target = boot(reg, home, host, conn, target, wait=True, timeout=timeout,
                                   notify=notify)
                except BaseException as e:
                    # Apart: a failed power-off must not leave the row saying 'running'.
                    with contextlib.suppress(VmfleetError):
                        conn.destroy(target.name)
                    with contextlib.suppress(VmfleetError):
                        update_vm(reg, target.name, state=VmState.RETIRED, started=None)
                    rollout_step(reg, rid, RolloutStep.BOOT_TARGET, status="failed")
                    kept = ", ".join(v.name for v in current) or "nothing"
                    write_audit(reg, "rollback", target.name, None, target.generation_id,
                           f"failed: {failure_reason(e)}; {kept} kept")
                    if isinstance(e, VmfleetError):
                        raise DeployError(f"rollback to {target.name} failed ({kept} unchanged): "
                                          f"{e.message}", e.hint) from None
                    raise
                rollout_step(reg, rid, RolloutStep.RETIRE_OLD)
                killpoint.reached("rollback:retire-old")
            for other in current:
                other = get_vm(reg, other.name)
                if other.state is VmState.RETIRED:
                    continue
                other_host = hosts.get(reg, other.host)
                if other_host.name == host.name:
                    _retire(reg, home, conn, other, notify)
                else:
                    with virt.connect(other_host.uri) as other_conn:
                        _retire(reg, home, other_conn, other, notify)
            rollout_step(reg, rid, RolloutStep.DONE, status="done")
    from_gen = current[0].generation_id if current else None
    write_audit(reg, action, target.name, from_gen, target.generation_id,
                ("restarted, " if action != "rollback" else "")
                + "retired " + (", ".join(v.name for v in current) or "nothing"))
    return get_vm(reg, target.name)
