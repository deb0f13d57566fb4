"""``ps``: the registry's VMs reconciled with what libvirt says on each host, surveyed in parallel."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable, Iterable
from typing import TypeVar

from vmfleet import timeutil
from vmfleet.deploy import hosts
from vmfleet.deploy.lineage import Lineage, lineages
from vmfleet.deploy.vm_access import controller_id
from vmfleet.deploy.vm_records import (
    PS_HOST_TIMEOUT,
    Vm,
    VmState,
    VmStatus,
    cut_short_rollouts,
    list_vms,
    rollback_command,
)
from vmfleet.errors import VmfleetError
from vmfleet.home import Home
from vmfleet.registry.db import Registry
from vmfleet.tools import domain_xml, locks, virt

T = TypeVar("T")

# --- ps ----------------------------------------------------------------------------------------

def survey_hosts(reg: Registry, host_names: Iterable[str], read: Callable[[virt.Conn], T], *,
                 max_workers: int = 16) -> tuple[dict[str, T], dict[str, str]]:
    """``read`` on every host at once, so one slow or dead host costs PS_HOST_TIMEOUT, not one
    each: what it returned per host, and why each host that could not be read was not.

    Hosts recorded with the same libvirt URI are one hypervisor: it is read once and its
    answer given to each of them (else a fleet of N such hosts reads the same domains N times,
    which grows with hosts x VMs).
    """
    results: dict[str, T] = {}
    unreachable: dict[str, str] = {}
    by_uri: dict[str, list[str]] = {}
    for name in sorted(set(host_names)):
        try:
            by_uri.setdefault(hosts.get(reg, name).uri, []).append(name)  # here: this thread's registry
        except VmfleetError as e:
            unreachable[name] = e.message

    def one(uri: str) -> None:
        try:
            with virt.connect(uri, timeout=PS_HOST_TIMEOUT) as conn:
                answer = read(conn)
            for name in by_uri[uri]:
                results[name] = answer
        except VmfleetError as e:
            for name in by_uri[uri]:
                unreachable[name] = e.message

    with concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, min(max_workers, len(by_uri)))) as pool:
        list(pool.map(one, sorted(by_uri)))
    return results, unreachable


def ps(reg: Registry, home: Home, *, every: bool = False) -> list[VmStatus]:
    """Every VM the registry knows and every domain of this vmfleet that libvirt knows.

    Without ``every``: one row per lineage (its current VM, with the count of its retired
    VMs), plus every VM that needs attention; quiet retired VMs are only counted."""
    vms = list_vms(reg)
    me = controller_id(home)
    host_names = {vm.host for vm in vms} | {h.name for h in hosts.list_hosts(reg)}
    domains, unreachable = survey_hosts(reg, host_names,
                                        lambda conn: {d.name: d for d in conn.domains()},
                                        max_workers=8)
    now = timeutil.parse_stamp(timeutil.now())
    cut_short = cut_short_rollouts(reg, home)
    groups = lineages(vms)
    out = []
    for root, group in sorted(groups.items()):
        current = group.current()
        for vm in group.members:
            row = _status(home, vm, domains, unreachable, now, group)
            rollout = next((r for r in reversed(cut_short) if r.involves(vm.name)), None)
            if rollout is not None:
                row = dataclasses.replace(row, state="interrupted", note=(
                    f"{rollout.kind} of {rollout.vm} to {rollout.label} was interrupted at "
                    f"step {rollout.step}: '{rollout.finish_command}' finishes it"))
            row = dataclasses.replace(row, lineage=root)
            if every:
                out.append(row)
            elif vm is current:
                out.append(dataclasses.replace(row, retired=sum(
                    1 for m in group.retired() if m is not vm)))
            elif not _quiet_retired(row):
                out.append(row)
    out.sort(key=lambda r: (r.lineage or r.name, r.name))
    known = {vm.name for vm in vms}
    for host_name, doms in sorted(domains.items()):
        for dom in sorted(doms.values(), key=lambda d: d.name):
            meta = dom.metadata
            if meta is None or meta.controller != me or dom.name in known:
                continue
            known.add(dom.name)  # once, also when several hosts name the same hypervisor
            endpoint = domain_xml.ssh_endpoint(dom.xml)
            out.append(VmStatus(
                name=dom.name, system=meta.system, generation=f"{meta.system}@{meta.generation}",
                host=host_name, state="orphan", registry_state=None,
                domain_state=str(dom.state), uptime=None,
                ssh=f"{endpoint[0]}:{endpoint[1]}" if endpoint else None,  # user: unknown
                note=f"domain not in the registry: 'vmfleet destroy {dom.name}' removes it"))
    return out


def _quiet_retired(row: VmStatus) -> bool:
    """A retired VM with nothing to say but that it is kept for rollback."""
    return row.state == "retired" and row.busy is None and row.note.startswith("kept for")


def _status(home: Home, vm: Vm, domains, unreachable, now, group: Lineage) -> VmStatus:
    ssh_text = f"{vm.ssh_user}@{vm.ssh_host}:{vm.ssh_port}" if vm.ssh_host and vm.ssh_port else None
    if vm.host in unreachable:
        return VmStatus(vm.name, vm.system, vm.label, vm.host, "unknown", str(vm.state), None,
                        None, ssh_text, f"host unreachable: {unreachable[vm.host]}")
    dom = domains.get(vm.host, {}).get(vm.name)
    dstate = str(dom.state) if dom else None
    state, note = str(vm.state), ""
    holder = locks.holder(home, f"vm-{vm.name}")
    busy = f"'{holder.operation}' (pid {holder.pid})" if holder else None
    uptime = None
    if dom is not None and dom.state.active and vm.started:
        uptime = max(0.0, (now - timeutil.parse_stamp(vm.started)).total_seconds())
    if busy:  # a running vmfleet works on it: what libvirt shows is a step of that work
        return VmStatus(vm.name, vm.system, vm.label, vm.host, str(vm.state), str(vm.state),
                        dstate, uptime, ssh_text, f"in progress: {busy}", busy=busy)
    if vm.state is VmState.DEPLOYING:
        if dom is None:  # cut short before its domain was defined: start cannot finish it
            state = "interrupted"
            note = (f"deploy was interrupted before its domain was defined: "
                    f"'vmfleet destroy {vm.name}' removes it, then deploy again "
                    f"('vmfleet deploy {vm.label} --name {vm.name}')")
        else:
            state = "interrupted"
            note = (f"deploy was interrupted: 'vmfleet start {vm.name}' finishes it, "
                    f"'vmfleet destroy {vm.name}' removes it")
    elif dom is None:
        state = "missing"
        note = f"domain vanished from {vm.host}: 'vmfleet destroy {vm.name}' cleans up"
    elif vm.state is VmState.RUNNING and not dom.state.active:
        state = "stopped" if dom.state is virt.DomainState.SHUTOFF else str(dom.state)
        note = "the domain went down outside vmfleet (guest shut down or crashed)"
    elif vm.state in (VmState.STOPPED, VmState.RETIRED, VmState.FAILED) and dom.state.active:
        note = "the domain runs although vmfleet stopped it"
    elif vm.state is VmState.RETIRED:
        note = f"kept for '{rollback_command(vm, list(group.members))}'"
    return VmStatus(vm.name, vm.system, vm.label, vm.host, state, str(vm.state), dstate,
                    uptime, ssh_text, note)


