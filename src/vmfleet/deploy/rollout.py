"""Redeploy (replace each VM of a system by a VM of another generation, new one healthy before
the old one retires) and rollback (bring the retired VM back).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from pathlib import Path

from vmfleet.deploy import hosts
from vmfleet.deploy.lifecycle import _boot, _power_off, _reason, _remove, deploy_image
from vmfleet.deploy.placement import Image
from vmfleet.deploy.vm_records import (
    ACTIVE,
    DEFAULT_TIMEOUT,
    Notify,
    Options,
    RedeployResult,
    Vm,
    VmState,
    _audit,
    _lineage,
    _quiet,
    _update,
    _vm_lock,
    find_vm,
    get_vm,
    list_vms,
)
from vmfleet.errors import DeployError, NotFound, UsageError, VmfleetError
from vmfleet.home import Home
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation
from vmfleet.tools import virt

# --- redeploy and rollback ---------------------------------------------------------------------





def _retire(reg: Registry, conn: virt.Conn, vm: Vm, notify: Notify) -> Vm:
    notify(f"retiring {vm.name} (kept for rollback)")
    _power_off(conn, vm.name, notify)
    return _update(reg, vm.name, state=VmState.RETIRED, started=None)


def _next_name(reg: Registry, old: str, number: int) -> str:
    base = re.sub(r"-g\d+(-\d+)?$", "", old)
    suffix = f"-g{number}"
    candidate = base[: 63 - len(suffix)] + suffix
    n = 2
    while find_vm(reg, candidate) is not None:
        extra = f"{suffix}-{n}"
        candidate = base[: 63 - len(extra)] + extra
        n += 1
    return candidate


def redeploy(reg: Registry, home: Home, spec_text: str, *, allow_downgrade: bool = False,
             timeout: float = DEFAULT_TIMEOUT, accel: str | None = None,
             builder: str | None = None, notify: Notify = _quiet,
             on_line: Callable[[str], None] | None = None) -> list[RedeployResult]:
    """Move every deployed VM of the spec's system to that generation, one VM at a time."""
    from vmfleet.build import builds as build
    from vmfleet.registry import spec

    gen = spec.resolve(reg, spec_text)
    current = [vm for vm in list_vms(reg, system=gen.system) if vm.state in ACTIVE]
    if not current:
        raise NotFound(f"no VM of system {gen.system} is deployed",
                       f"deploy one first: vmfleet deploy {spec_text}")
    older = [vm for vm in current if vm.generation > gen.number]
    if older and not allow_downgrade:
        raise UsageError(
            f"{gen.label} is older than what runs on {', '.join(v.name + ' (' + v.label + ')' for v in older)}",
            "going back to an older generation needs --allow-downgrade (or use vmfleet rollback)",
        )
    image: Image | None = None
    results = []
    for old in current:
        if old.generation == gen.number:
            results.append(RedeployResult(old.name, None, old.label, gen.label, "unchanged"))
            continue
        if image is None:
            notify(f"image of {gen.label}: building or reusing")
            built = build.ensure_image(reg, home, gen, builder=builder, on_line=on_line)
            image = Image(built.image_sha256, Path(built.image_path))
        results.append(_replace(reg, home, old, gen, image, timeout, accel, notify))
    return results


def _replace(reg: Registry, home: Home, old: Vm, gen: Generation, image: Image, timeout: float,
             accel: str | None, notify: Notify) -> RedeployResult:
    with _vm_lock(home, old.name):
        # ``old`` was read before the build, without a lock: another redeploy or rollback may
        # have retired or removed it since.
        now = find_vm(reg, old.name)
        if now is None or now.state not in ACTIVE:
            notify(f"{old.name} is {now.state if now else 'gone'} now (another vmfleet command "
                   "changed it): skipped")
            return RedeployResult(old.name, None, old.label, gen.label, "skipped")
        old = now
        # Chosen under the old VM's lock, so no other redeploy of it picks the same name.
        new_name = _next_name(reg, old.name, gen.number)
        options = Options(memory_mib=old.memory_mib, vcpus=old.vcpus, network=old.network,
                          accel=accel, wait=True, timeout=timeout)
        notify(f"redeploying {old.name} ({old.label}) as {new_name} ({gen.label})")
        try:
            deploy_image(reg, home, gen, image, name=new_name, host=old.host, options=options,
                         notify=notify, replaces=old.name, audit=None)
        except BaseException as e:
            if _made_by_this_redeploy(reg, new_name, old):
                notify(f"{new_name} failed; removing it, {old.name} stays")
                with contextlib.suppress(VmfleetError):
                    _remove(reg, home, new_name, keep_console=True)
            _audit(reg, "redeploy", old.name, old.generation_id, gen.id,
                   f"failed: {_reason(e)}; {old.name} kept")
            if isinstance(e, VmfleetError):
                raise DeployError(f"redeploy of {old.name} to {gen.label} failed, "
                                  f"{old.name} keeps running: {e.message}", e.hint) from None
            raise
        host = hosts.get(reg, old.host)
        with virt.connect(host.uri) as conn:
            _retire(reg, conn, get_vm(reg, old.name), notify)
    _audit(reg, "redeploy", new_name, old.generation_id, gen.id, f"replaces {old.name}")
    return RedeployResult(old.name, new_name, old.label, gen.label, "replaced")


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
             notify: Notify = _quiet) -> Vm:
    """Bring a retired VM back in place of the one that replaced it.

    ``name`` is either the retired VM to bring back, or a running VM whose predecessor (the VM
    it replaced) should come back. The VM brought back boots from its kept overlay and must
    answer SSH with its pinned host key before the other one is retired; otherwise nothing
    changes and the command fails.
    """
    vm = get_vm(reg, name)
    if vm.state is VmState.RETIRED:
        target = vm
        current = [v for v in _lineage(reg, vm) if v.state in ACTIVE or
                   v.state is VmState.FAILED]
    else:
        if not vm.replaces:
            raise UsageError(f"VM {name} did not replace another VM: nothing to roll back to",
                             "rollback works on VMs made by 'vmfleet redeploy'")
        target = find_vm(reg, vm.replaces)
        if target is None:
            raise NotFound(f"{vm.replaces}, the VM {name} replaced, was destroyed",
                           f"deploy its generation again: vmfleet deploy {vm.system}@...")
        if target.state is not VmState.RETIRED:
            raise UsageError(f"{target.name}, the VM {name} replaced, is {target.state}",
                             "see 'vmfleet ps'")
        current = [vm]
    host = hosts.get(reg, target.host)
    with contextlib.ExitStack() as locks:
        for v in sorted([target, *current], key=lambda v: v.name):
            locks.enter_context(_vm_lock(home, v.name))
        with virt.connect(host.uri) as conn:
            notify(f"bringing back {target.name} ({target.label})")
            try:
                target = _boot(reg, home, host, conn, target, wait=True, timeout=timeout,
                               notify=notify)
            except BaseException as e:
                # Apart: a failed power-off must not leave the row saying 'running'.
                with contextlib.suppress(VmfleetError):
                    conn.destroy(target.name)
                with contextlib.suppress(VmfleetError):
                    _update(reg, target.name, state=VmState.RETIRED, started=None)
                kept = ", ".join(v.name for v in current) or "nothing"
                _audit(reg, "rollback", target.name, None, target.generation_id,
                       f"failed: {_reason(e)}; {kept} kept")
                if isinstance(e, VmfleetError):
                    raise DeployError(f"rollback to {target.name} failed ({kept} unchanged): "
                                      f"{e.message}", e.hint) from None
                raise
            for other in current:
                other_host = hosts.get(reg, other.host)
                if other_host.name == host.name:
                    _retire(reg, conn, other, notify)
                else:
                    with virt.connect(other_host.uri) as other_conn:
                        _retire(reg, other_conn, other, notify)
    from_gen = current[0].generation_id if current else None
    _audit(reg, "rollback", target.name, from_gen, target.generation_id,
           "retired " + (", ".join(v.name for v in current) or "nothing"))
    return get_vm(reg, target.name)


