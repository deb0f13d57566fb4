"""VM records: the ``vms`` rows, their states, the audit log and the per-VM and per-host locks."""

from __future__ import annotations

import enum
import getpass
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vmfleet import settings, timeutil
from vmfleet.errors import NotFound
from vmfleet.home import Home
from vmfleet.registry import audit as audit_rows
from vmfleet.registry import rollouts as rollout_rows
from vmfleet.registry import vms as vm_rows
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation
from vmfleet.tools import locks

PORT_RANGE_ENV = settings.PORT_RANGE  # 'LOW-HIGH' of host ports for SSH forwards
DEFAULT_PORT_RANGE = (22200, 22999)
DEFAULT_SHUTDOWN_TIMEOUT = 30.0
DEFAULT_TIMEOUT = 300.0
PS_HOST_TIMEOUT = 10.0  # seconds ps waits for a remote host's libvirtd
CONSOLE_LINES = 15

Notify = Callable[[str], None]


class VmState(enum.StrEnum):
    DEPLOYING = "deploying"
    RUNNING = "running"
    STOPPED = "stopped"
    RETIRED = "retired"  # replaced by a redeploy or rollback; kept for rollback
    FAILED = "failed"


ACTIVE = (VmState.RUNNING, VmState.STOPPED)


@dataclass(frozen=True)
class Vm:
    name: str
    system: str
    generation_id: int
    generation: int
    host: str
    image_sha256: str
    overlay: str
    state: VmState
    network: str
    ssh_host: str | None
    ssh_port: int | None
    host_key: str | None
    memory_mib: int
    vcpus: int
    replaces: str | None
    created: str
    updated: str
    started: str | None
    ssh_user: str = "root"  # who vmfleet logs in as (from the config's openssh service)

    @property
    def label(self) -> str:
        return f"{self.system}@{self.generation}"


@dataclass(frozen=True)
class Options:
    memory_mib: int = 512
    vcpus: int = 1
    network: str = "user"  # 'user' or the name of a libvirt network
    accel: str | None = None  # auto|kvm|tcg; None: $VMFLEET_ACCEL, else auto
    wait: bool = True
    timeout: float = DEFAULT_TIMEOUT
    ssh_user: str | None = None  # None: the login the config allows vmfleet (guix.logins)


@dataclass(frozen=True)
class VmStatus:
    """One line of ``vmfleet ps``: the registry's view and libvirt's, reconciled."""

    name: str
    system: str | None
    generation: str | None  # 'web@3'
    host: str
    state: str  # what to tell the user: running, stopped, retired, failed, missing, orphan, ...
    registry_state: str | None  # None: libvirt has a vmfleet domain the registry does not know
    domain_state: str | None  # None: no such domain (or host unreachable)
    uptime: float | None  # seconds since vmfleet last started it
    ssh: str | None  # 'root@127.0.0.1:22201'
    note: str = ""
    lineage: str | None = None  # the fleet name: first VM of its redeploy chain
    retired: int = 0  # retired VMs of its lineage (set on the lineage's row in ps's short view)
    busy: str | None = None  # the operation and pid of a running vmfleet that holds the VM


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    user: str
    action: str
    vm: str | None
    from_generation: str | None
    to_generation: str | None
    detail: str


@dataclass(frozen=True)
class RedeployResult:
    old: str
    new: str | None
    from_generation: str
    to_generation: str
    outcome: str  # 'replaced', 'unchanged', or 'skipped' (another command changed it)


# --- registry ----------------------------------------------------------------------------------

def _vm(row: dict, reg: Registry) -> Vm:
    overlay = row["overlay"]
    if overlay and row["host"] == "local":  # recorded relative to the home
        overlay = str(reg.resolve_path(overlay))
    return Vm(
        name=row["name"], system=row["system"], generation_id=row["generation_id"],
        generation=row["gen_number"], host=row["host"], image_sha256=row["image_sha256"],
        overlay=overlay, state=VmState(row["state"]), network=row["network"],
        ssh_host=row["ssh_host"], ssh_port=row["ssh_port"], host_key=row["host_key"],
        memory_mib=row["memory_mib"], vcpus=row["vcpus"], replaces=row["replaces"],
        created=row["created"], updated=row["updated"], started=row.get("started"),
        ssh_user=row.get("ssh_user") or "root",
    )


def find_vm(reg: Registry, name: str) -> Vm | None:
    row = vm_rows.row(reg, name)
    return _vm(row, reg) if row else None


def get_vm(reg: Registry, name: str) -> Vm:
    vm = find_vm(reg, name)
    if vm is None:
        known = vm_rows.names(reg)
        raise NotFound(f"no VM named {name!r}" + (f" (VMs: {', '.join(known)})" if known else ""),
                       "see 'vmfleet ps'; deploy one with 'vmfleet deploy SYSTEM@GEN'")
    return vm


def list_vms(reg: Registry, *, system: str | None = None, host: str | None = None) -> list[Vm]:
    return [_vm(r, reg) for r in vm_rows.rows(reg, system=system, host=host)]


def images_in_use(reg: Registry) -> set[str]:
    """sha256 of every image some VM's overlay is backed by (whatever the VM's state)."""
    return vm_rows.image_shas(reg)


def update_vm(reg: Registry, name: str, **cols) -> Vm:
    cols["updated"] = timeutil.now()
    with reg.write():
        vm_rows.update(reg, name, cols)
    return get_vm(reg, name)


def acting_user() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


def write_audit(reg: Registry, action: str, vm: str | None, from_gen: int | None,
           to_gen: int | None, detail: str = "") -> int:
    with reg.write():
        return audit_rows.add(reg, at=timeutil.now(), user=acting_user(), action=action, vm=vm,
                              from_generation_id=from_gen, to_generation_id=to_gen, detail=detail)


def complete_audit(reg: Registry, entry_id: int, detail: str) -> None:
    """The outcome of an action whose entry was written when it started (its intent)."""
    with reg.write():
        audit_rows.set_detail(reg, entry_id, detail)


def audit_log(reg: Registry, vm: str | None = None) -> list[AuditEntry]:
    """Every deploy, redeploy, rollback, start, stop and destroy, oldest first."""
    entries = [audit_entry(r) for r in audit_rows.entries(reg)]
    if vm is not None:
        entries = [e for e in entries
                   if e.vm == vm or vm in re.split(r"[\s,;:()]+", e.detail)]
    return entries


def audit_entry(row: dict) -> AuditEntry:
    return AuditEntry(row["id"], row["at"], row["user"], row["action"], row["vm"],
                      row["from_label"], row["to_label"], row["detail"])


# --- locks -------------------------------------------------------------------------------------

def vm_lock(home: Home, name: str, *, wait: bool = False):
    return locks.lock(home, f"vm-{name}", wait=wait,
                      busy=f"another vmfleet command is working on VM {name}")


def host_lock(home: Home, host: str):
    return locks.lock(home, f"host-{host}")


def lineage_of(reg: Registry, vm: Vm) -> list[Vm]:
    """The VMs linked to ``vm`` by redeploys (the ``replaces`` chain, both ways)."""
    rows = {v.name: v for v in list_vms(reg, system=vm.system)}
    seen, todo = set(), [vm.name]
    while todo:
        name = todo.pop()
        if name in seen or name not in rows:
            continue
        seen.add(name)
        replaced = rows[name].replaces
        if replaced:
            todo.append(replaced)
        todo.extend(v.name for v in rows.values() if v.replaces == name)
    return [rows[n] for n in sorted(seen)]


def rollback_command(vm: Vm, lineage: list[Vm]) -> str:
    """The command that brings the retired ``vm`` back, with ``--allow-downgrade`` when what
    runs in its lineage is newer (the one downgrade rule: the command must not be refused)."""
    newer = any(v.generation > vm.generation for v in lineage
                if v.state in ACTIVE and v.system == vm.system)
    return f"vmfleet rollback {vm.name}" + (" --allow-downgrade" if newer else "")


class Declared(Protocol):
    """What a fleet file says of a VM, as far as comparing it with a running VM goes."""

    @property
    def system_name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def memory_mib(self) -> int: ...
    @property
    def vcpus(self) -> int: ...


def differences(vm: Vm, want: Declared, target: Generation) -> list[str]:
    """How ``vm`` differs from what the fleet file declares (``target`` being the generation
    its system resolves to), in the words plan and the report both print."""
    out = []
    if vm.system != want.system_name:
        out.append(f"system {vm.system} → {want.system_name}")
    elif vm.generation_id != target.id:
        out.append(f"generation {vm.label} → {target.label}")
    if vm.host != want.host:
        out.append(f"host {vm.host} → {want.host}")
    if vm.memory_mib != want.memory_mib:
        out.append(f"memory {vm.memory_mib}M → {want.memory_mib}M")
    if vm.vcpus != want.vcpus:
        out.append(f"vcpus {vm.vcpus} → {want.vcpus}")
    return out


def quiet(_message: str) -> None:
    pass


# --- rollouts: redeploys and rollbacks as intent-then-outcome records ---------------------------

class RolloutStep(enum.StrEnum):
    """Each step's intent is recorded before it is taken; ``DONE`` is the outcome of the last."""

    DEPLOY_NEW = "deploy-new"        # redeploy: make and boot the successor
    BOOT_TARGET = "boot-target"      # rollback: boot the retired VM
    RETIRE_OLD = "retire-old"        # both: power off and retire what is replaced
    DONE = "done"


@dataclass(frozen=True)
class Rollout:
    id: int
    kind: str  # 'redeploy' or 'rollback'
    vm: str  # redeploy: the VM replaced; rollback: the VM brought back
    successor: str | None  # redeploy: the new VM
    retiring: tuple[str, ...]  # rollback: the VMs it retires
    system: str
    generation_id: int
    label: str  # 'web@2': the generation it moves to
    step: RolloutStep
    status: str  # running, done, failed
    downgrade: bool = False  # it goes to a generation older than one it replaces

    @property
    def finish_command(self) -> str:
        """The command that finishes this rollout when it was cut short (with the flag the
        one downgrade rule asks for, so that the command is not refused)."""
        flag = " --allow-downgrade" if self.downgrade else ""
        if self.kind == "redeploy":
            return f"vmfleet redeploy {self.label}{flag}"
        return f"vmfleet rollback {self.vm}{flag}"

    def involves(self, name: str) -> bool:
        return name == self.vm or name == self.successor or name in self.retiring


def _rollout(row: dict, vms: dict[str, Vm]) -> Rollout:
    retiring = tuple(json.loads(row["retiring"]))
    number = row["gen_number"]
    if row["kind"] == "redeploy":  # every VM of the system it moves, not only this one
        others = [v for v in vms.values() if v.system == row["system"]
                  and (v.state in ACTIVE or v.name == row["vm"]) and v.name != row["successor"]]
    else:
        others = [vms[n] for n in retiring if n in vms]
    return Rollout(row["id"], row["kind"], row["vm"], row["successor"], retiring,
                   row["system"], row["generation_id"], f"{row['system']}@{number}",
                   RolloutStep(row["step"]), row["status"],
                   downgrade=any(v.generation > number for v in others))


def open_rollouts(reg: Registry, *, system: str | None = None) -> list[Rollout]:
    """Redeploys and rollbacks that started and did not finish (running now, or killed)."""
    rows = rollout_rows.open_rows(reg, system=system)
    if not rows:
        return []
    vms = {v.name: v for v in list_vms(reg, system=system)}
    return [_rollout(r, vms) for r in rows]


def begin_rollout(reg: Registry, kind: str, vm: str, system: str, generation_id: int,
                  step: RolloutStep, *, successor: str | None = None,
                  retiring: tuple[str, ...] = ()) -> int:
    with reg.write():
        return rollout_rows.begin(reg, kind=kind, vm=vm, successor=successor, retiring=retiring,
                                  system=system, generation_id=generation_id, step=step,
                                  now=timeutil.now())


def rollout_step(reg: Registry, rollout_id: int, step: RolloutStep, *,
                 status: str = "running") -> None:
    with reg.write():
        rollout_rows.set_step(reg, rollout_id, step, status, timeutil.now())


def rollout_in_progress(home: Home, rollout: Rollout) -> bool:
    """Whether a live process works on the rollout (both kinds hold the lock of ``vm``); a
    ``running`` rollout nobody holds was cut short."""
    return locks.is_locked(home, f"vm-{rollout.vm}")


def cut_short_rollouts(reg: Registry, home: Home, *, system: str | None = None) -> list[Rollout]:
    """The open rollouts no live process works on: killed half-way, to be finished by their
    ``finish_command``."""
    return [r for r in open_rollouts(reg, system=system) if not rollout_in_progress(home, r)]
