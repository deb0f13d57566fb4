"""Reaching a VM: its SSH endpoint, pinned host key, jump host; waiting until it answers;
reading its facts over SSH.
"""

from __future__ import annotations

import socket
from pathlib import Path

from vmfleet.deploy import hosts, placement
from vmfleet.deploy.vm_records import CONSOLE_LINES, Notify, Vm, VmState, get_vm, lineage_of, quiet, update_vm
from vmfleet.errors import DeployError, HostKeyMismatch, SshError
from vmfleet.home import Home
from vmfleet.inspect.facts import ImageFacts
from vmfleet.inspect.remote_facts import read_remote_facts
from vmfleet.registry.db import Registry
from vmfleet.tools import ssh, virt

# --- connections and SSH -----------------------------------------------------------------------

def controller_id(home: Home) -> str:
    """Written into each domain's metadata: which vmfleet (machine and home) owns it."""
    return f"{socket.gethostname()}:{home.root}"


def _key(home: Home) -> Path:
    return ssh.ensure_keypair(home.keys)


def _jump(home: Home, host: hosts.Host) -> ssh.Connection | None:
    """For a remote host: an SSH session to it, through which its VMs are reached."""
    if not host.remote:
        return None
    # Never trust a new key here: 'vmfleet host add' pinned it, with the user's consent.
    return hosts.pin_ssh_key(home, host, trust_new=False)


def _endpoint(vm: Vm) -> tuple[str, int] | None:
    if vm.ssh_host and vm.ssh_port:
        return vm.ssh_host, vm.ssh_port
    return None


def connect_ssh(reg: Registry, home: Home, name: str, *, timeout: float = 15.0,
                notify: Notify | None = None, ssh_user: str | None = None) -> ssh.Connection:
    """An SSH session to a running VM as its login user (``ssh_user``, else the VM's recorded
    one), with its pinned host key checked.

    A retired VM's name leads to the VM that replaced it (redeploy gives the new VM a new
    name, but users keep thinking of "web"), with a notice.
    """
    vm = get_vm(reg, name)
    if vm.state is VmState.RETIRED:
        successors = [v for v in lineage_of(reg, vm) if v.state is VmState.RUNNING]
        if len(successors) == 1:
            vm = successors[0]
            (notify or quiet)(f"{name} was replaced by {vm.name} ({vm.label}): "
                               f"connecting to {vm.name}")
    if vm.state is not VmState.RUNNING:
        raise DeployError(f"VM {vm.name} is {vm.state}, not running",
                          f"start it: vmfleet start {vm.name}" if vm.state in (
                              VmState.STOPPED, VmState.FAILED) else "see 'vmfleet ps'")
    endpoint = _endpoint(vm)
    if endpoint is None:
        raise DeployError(f"VM {name} has no known SSH address yet", "see 'vmfleet ps'")
    host = hosts.get(reg, vm.host)
    via = _jump(home, host)
    try:
        try:
            conn = ssh.connect(endpoint[0], endpoint[1], key=_key(home), pinned=vm.host_key,
                               timeout=timeout, via=via, user=ssh_user or vm.ssh_user)
        except HostKeyMismatch as e:
            raise _mismatch(vm, e) from None
    except BaseException:
        if via is not None:
            via.close()
        raise
    if vm.host_key is None:
        update_vm(reg, vm.name, host_key=conn.host_key)
    return conn


def _mismatch(vm: Vm, e: HostKeyMismatch) -> HostKeyMismatch:
    return HostKeyMismatch(
        f"VM {vm.name}: {e.message}",
        "vmfleet refused to log in; something else may answer on that address. If the VM's "
        f"disk was replaced on purpose, remove it (vmfleet destroy {vm.name}) and deploy again",
    )


def wait_ssh(reg: Registry, home: Home, vm: Vm, host: hosts.Host, conn: virt.Conn,
              place: placement.Placement, timeout: float, notify: Notify) -> Vm:
    """Wait until the VM answers SSH; pin its host key at first contact."""
    def alive() -> str | None:
        info = conn.domain(vm.name)
        if info is None:
            return "its domain disappeared"
        if not info.state.active:
            return f"its domain is {info.state}"
        return None

    if vm.network != "user":
        vm = _wait_address(reg, vm, conn, timeout, alive)
    endpoint = _endpoint(vm)
    if endpoint is None:
        raise DeployError(f"VM {vm.name} has no SSH address recorded",
                          f"destroy it and deploy again: vmfleet destroy {vm.name}")
    address, port = endpoint
    notify(f"waiting for SSH of {vm.name} on {address}:{port}")
    via = _jump(home, host)

    def pin(host_key: str) -> None:  # at first contact: a kill after it keeps the pin
        update_vm(reg, vm.name, host_key=host_key)

    try:
        session = ssh.wait_until_ready(address, port, key=_key(home), pinned=vm.host_key,
                                       timeout=timeout, alive=alive, via=via, user=vm.ssh_user,
                                       on_first_key=pin if vm.host_key is None else None)
    except HostKeyMismatch as e:
        raise _mismatch(vm, e) from None
    except SshError as e:
        tail = place.console_tail(vm.name, CONSOLE_LINES)
        shown = "\n".join(f"  | {line}" for line in tail) or "  (the console log is empty)"
        raise DeployError(
            f"VM {vm.name} did not come up: {e.message}",
            f"its console log ({place.console_path(vm.name)}) ends with:\n{shown}\n"
            "raise --timeout if it is only slow",
        ) from None
    with session:
        vm = get_vm(reg, vm.name)
        if vm.host_key is None:
            vm = update_vm(reg, vm.name, host_key=session.host_key)
    return vm


def _wait_address(reg: Registry, vm: Vm, conn: virt.Conn, timeout: float, alive) -> Vm:
    """For a VM on a libvirt network: its address from DHCP leases or the guest agent."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        addresses = conn.interface_addresses(vm.name)
        if addresses:
            return update_vm(reg, vm.name, ssh_host=addresses[0], ssh_port=22)
        reason = alive()
        if reason:
            break
        time.sleep(1)
    raise DeployError(f"VM {vm.name} got no address on network {vm.network}",
                      "check that the network runs DHCP, or use --network user")


def inspect_vm(reg, home, name: str, *, files: bool = False, texts: bool = False) -> ImageFacts:
    """``vm:NAME``: the facts of a running VM of the registry, over SSH (its pinned host key)."""

    with connect_ssh(reg, home, name) as conn:
        return read_remote_facts(conn, source=f"vm:{name}", files=files, texts=texts)
