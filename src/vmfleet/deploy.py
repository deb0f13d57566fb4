"""Deploy, redeploy, roll back, start, stop and destroy VMs; ``ps`` reconciles; the audit log.

A VM is one registry row (``vms``) plus one libvirt domain of the same name, whose disk is an
overlay of a stored image (see placement). The row is written *before* anything is created on
the host (state ``deploying``) and a per-VM lock file is held for the whole deploy, so a
vmfleet killed at any point leaves a row that ``ps`` can explain ("deploy interrupted": the
row says deploying but nobody holds its lock) and that ``destroy`` or ``start`` can finish.

Redeploy never has a moment without a working VM: the new VM (named after the old one plus
``-g<generation>``) is started and must answer SSH before the old one is shut down; the old
one is *retired*, not removed: its domain stays defined and its overlay kept, so ``rollback``
brings it back exactly as it was (same disk, same pinned host key). If the new VM does not
come up in time it is removed again and the old one keeps running.

Concurrency: everything that touches a host's shared state (uploading an image to its pool,
choosing a free SSH port, defining and starting a domain, which is when QEMU binds the port)
happens under that host's lock (``locks/host-NAME.lock``, flock). Waiting for SSH happens
outside it, so several deploys to one host boot in parallel.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import enum
import getpass
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import accel as accel_mod
from . import domain_xml, hosts, locks, placement, ssh, timeutil, virt
from .errors import (
    DeployError,
    HostKeyMismatch,
    LibvirtError,
    NotFound,
    SshError,
    UsageError,
    VmfleetError,
)
from .generations import Generation
from .generations import get as get_generation
from .home import Home
from .names import check_name
from .placement import Image
from .registry import Registry

PORT_RANGE_ENV = "VMFLEET_PORT_RANGE"  # 'LOW-HIGH' of host ports for SSH forwards
DEFAULT_PORT_RANGE = (22200, 22999)
SHUTDOWN_TIMEOUT_ENV = "VMFLEET_SHUTDOWN_TIMEOUT"  # seconds a guest gets to power off
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

_SELECT = ("SELECT v.*, g.number AS gen_number FROM vms v "
           "JOIN generations g ON g.id = v.generation_id ")


def _vm(row: dict) -> Vm:
    return Vm(
        name=row["name"], system=row["system"], generation_id=row["generation_id"],
        generation=row["gen_number"], host=row["host"], image_sha256=row["image_sha256"],
        overlay=row["overlay"], state=VmState(row["state"]), network=row["network"],
        ssh_host=row["ssh_host"], ssh_port=row["ssh_port"], host_key=row["host_key"],
        memory_mib=row["memory_mib"], vcpus=row["vcpus"], replaces=row["replaces"],
        created=row["created"], updated=row["updated"], started=row.get("started"),
    )


def find_vm(reg: Registry, name: str) -> Vm | None:
    row = reg.query_one(_SELECT + "WHERE v.name = ?", (name,))
    return _vm(row) if row else None


def get_vm(reg: Registry, name: str) -> Vm:
    vm = find_vm(reg, name)
    if vm is None:
        known = [r["name"] for r in reg.query("SELECT name FROM vms ORDER BY name")]
        raise NotFound(f"no VM named {name!r}" + (f" (VMs: {', '.join(known)})" if known else ""),
                       "see 'vmfleet ps'; deploy one with 'vmfleet deploy SYSTEM@GEN'")
    return vm


def list_vms(reg: Registry, *, system: str | None = None, host: str | None = None) -> list[Vm]:
    where, params = [], []
    if system:
        where.append("v.system = ?")
        params.append(system)
    if host:
        where.append("v.host = ?")
        params.append(host)
    sql = _SELECT + (("WHERE " + " AND ".join(where)) if where else "") + " ORDER BY v.name"
    return [_vm(r) for r in reg.query(sql, params)]


def images_in_use(reg: Registry) -> set[str]:
    """sha256 of every image some VM's overlay is backed by (whatever the VM's state)."""
    return {r["image_sha256"] for r in reg.query("SELECT DISTINCT image_sha256 FROM vms")}


def _update(reg: Registry, name: str, **cols) -> Vm:
    cols["updated"] = timeutil.now()
    sets = ", ".join(f"{k} = ?" for k in cols)
    with reg.write():
        reg.execute(f"UPDATE vms SET {sets} WHERE name = ?", (*cols.values(), name))
    return get_vm(reg, name)


def _user() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


def _audit(reg: Registry, action: str, vm: str | None, from_gen: int | None,
           to_gen: int | None, detail: str = "") -> None:
    with reg.write():
        reg.execute(
            "INSERT INTO audit (at, user, action, vm, from_generation_id, to_generation_id, detail)"
            " VALUES (?,?,?,?,?,?,?)",
            (timeutil.now(), _user(), action, vm, from_gen, to_gen, detail))


def audit_log(reg: Registry, vm: str | None = None) -> list[AuditEntry]:
    """Every deploy, redeploy, rollback, start, stop and destroy, oldest first."""
    rows = reg.query(
        "SELECT a.*, gf.system || '@' || gf.number AS from_label, "
        "gt.system || '@' || gt.number AS to_label FROM audit a "
        "LEFT JOIN generations gf ON gf.id = a.from_generation_id "
        "LEFT JOIN generations gt ON gt.id = a.to_generation_id ORDER BY a.id")
    entries = [AuditEntry(r["id"], r["at"], r["user"], r["action"], r["vm"], r["from_label"],
                          r["to_label"], r["detail"]) for r in rows]
    if vm is not None:
        entries = [e for e in entries
                   if e.vm == vm or vm in re.split(r"[\s,;:()]+", e.detail)]
    return entries


# --- locks -------------------------------------------------------------------------------------

def _vm_lock(home: Home, name: str, *, wait: bool = False):
    return locks.lock(home, f"vm-{name}", wait=wait,
                      busy=f"another vmfleet command is working on VM {name}")


def _host_lock(home: Home, host: str):
    return locks.lock(home, f"host-{host}")


# --- ports -------------------------------------------------------------------------------------

def port_range() -> tuple[int, int]:
    text = os.environ.get(PORT_RANGE_ENV)
    if not text:
        return DEFAULT_PORT_RANGE
    try:
        low, high = (int(p) for p in text.split("-", 1))
        if not 1024 <= low <= high <= 65535:
            raise ValueError(text)
    except ValueError:
        raise UsageError(f"${PORT_RANGE_ENV} must look like 22200-22999, not {text!r}",
                         f"set it to LOW-HIGH with 1024 <= LOW <= HIGH <= 65535, e.g. "
                         f"export {PORT_RANGE_ENV}=22200-22999, or unset it") from None
    return low, high


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def busy_ports(conn: virt.Conn) -> set[int]:
    """Ports that running domains on the host forward to their SSH (any vmfleet home's)."""
    ports = set()
    for dom in conn.domains():
        endpoint = domain_xml.ssh_endpoint(dom.xml) if dom.state.active else None
        if endpoint:
            ports.add(endpoint[1])
    return ports


def allocate_port(reg: Registry, host: hosts.Host, exclude: set[int] = frozenset()) -> int:
    """The lowest port of the range that no VM of this host has and (locally) nothing binds.

    Called under the host lock, and the port stays reserved in the registry from then on, so
    two vmfleet processes never pick the same one; ``exclude`` adds the ports that running
    domains of the host use (other vmfleet homes' too, see ``busy_ports``). Other programs'
    ports on remote hosts cannot be tested from here: one of those makes QEMU fail to start,
    and deploy retries with the next port.
    """
    taken = {r["ssh_port"] for r in reg.query(
        "SELECT ssh_port FROM vms WHERE host = ? AND ssh_port IS NOT NULL", (host.name,))}
    low, high = port_range()
    for port in range(low, high + 1):
        if port in taken or port in exclude:
            continue
        if host.remote or _port_free(port):
            return port
    raise DeployError(f"no free port for SSH forwarding in {low}-{high} on host {host.name}",
                      f"destroy VMs you no longer need, or widen ${PORT_RANGE_ENV}")


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
                notify: Notify | None = None) -> ssh.Connection:
    """An SSH session to a running VM as root, with its pinned host key checked.

    A retired VM's name leads to the VM that replaced it (redeploy gives the new VM a new
    name, but users keep thinking of "web"), with a notice.
    """
    vm = get_vm(reg, name)
    if vm.state is VmState.RETIRED:
        successors = [v for v in _lineage(reg, vm) if v.state is VmState.RUNNING]
        if len(successors) == 1:
            vm = successors[0]
            (notify or _quiet)(f"{name} was replaced by {vm.name} ({vm.label}): "
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
                               timeout=timeout, via=via)
        except HostKeyMismatch as e:
            raise _mismatch(vm, e) from None
    except BaseException:
        if via is not None:
            via.close()
        raise
    if vm.host_key is None:
        _update(reg, vm.name, host_key=conn.host_key)
    return conn


def _mismatch(vm: Vm, e: HostKeyMismatch) -> HostKeyMismatch:
    return HostKeyMismatch(
        f"VM {vm.name}: {e.message}",
        "vmfleet refused to log in; something else may answer on that address. If the VM's "
        f"disk was replaced on purpose, remove it (vmfleet destroy {vm.name}) and deploy again",
    )


def _wait_ssh(reg: Registry, home: Home, vm: Vm, host: hosts.Host, conn: virt.Conn,
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
    address, port = _endpoint(vm)
    notify(f"waiting for SSH of {vm.name} on {address}:{port}")
    via = _jump(home, host)
    try:
        session = ssh.wait_until_ready(address, port, key=_key(home), pinned=vm.host_key,
                                       timeout=timeout, alive=alive, via=via)
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
        if vm.host_key is None:
            vm = _update(reg, vm.name, host_key=session.host_key)
    return vm


def _wait_address(reg: Registry, vm: Vm, conn: virt.Conn, timeout: float, alive) -> Vm:
    """For a VM on a libvirt network: its address from DHCP leases or the guest agent."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        addresses = conn.interface_addresses(vm.name)
        if addresses:
            return _update(reg, vm.name, ssh_host=addresses[0], ssh_port=22)
        reason = alive()
        if reason:
            break
        time.sleep(1)
    raise DeployError(f"VM {vm.name} got no address on network {vm.network}",
                      "check that the network runs DHCP, or use --network user")


# --- deploy ------------------------------------------------------------------------------------

def _quiet(_message: str) -> None:
    pass


def deploy(reg: Registry, home: Home, spec_text: str, *, name: str | None = None,
           host: str = hosts.LOCAL, options: Options = Options(), builder: str | None = None,
           notify: Notify = _quiet, on_line: Callable[[str], None] | None = None) -> Vm:
    """Resolve a generation spec, build its image (or reuse it) and deploy a VM from it."""
    from . import build, spec

    gen = spec.resolve(reg, spec_text)
    # A typo in an option must not cost a build first (deploy_image checks again, under its lock).
    check_name(name or gen.system, "VM")
    hosts.get(reg, host)
    _check_options(options)
    notify(f"image of {gen.label}: building or reusing")
    built = build.ensure_image(reg, home, gen, builder=builder, on_line=on_line)
    image = Image(built.image_sha256, Path(built.image_path))
    return deploy_image(reg, home, gen, image, name=name, host=host, options=options,
                        notify=notify)


def deploy_image(reg: Registry, home: Home, gen: Generation, image: Image, *,
                 name: str | None = None, host: str = hosts.LOCAL, options: Options = Options(),
                 notify: Notify = _quiet, replaces: str | None = None,
                 audit: str | None = "deploy") -> Vm:
    """Boot a new VM from an image already in the store (the heart of deploy and redeploy).

    A failed deploy leaves the VM in state ``failed`` with its domain shut off and its overlay
    and console log kept; ``vmfleet start`` tries again, ``vmfleet destroy`` removes it.
    """
    name = check_name(name or gen.system, "VM")
    h = hosts.get(reg, host)
    _check_options(options)
    with _vm_lock(home, name):
        _reserve(reg, name, gen, h, image, options, replaces)
        try:
            vm = _create(reg, home, name, gen, h, image, options, notify)
        except BaseException as e:
            _mark_failed(reg, home, name, h)
            if audit:
                _audit(reg, audit, name, None, gen.id, f"failed: {_reason(e)}")
            raise
    if audit:
        _audit(reg, audit, name, None, gen.id, f"on {h.name}")
    return vm


def _reason(e: BaseException) -> str:
    if isinstance(e, VmfleetError):
        return e.message
    if isinstance(e, KeyboardInterrupt):
        return "interrupted"
    return f"{type(e).__name__}: {e}"


def _check_options(options: Options) -> None:
    if options.memory_mib < 64:
        raise UsageError(f"--memory {options.memory_mib} MiB is too small", "give at least 64M")
    if options.vcpus < 1:
        raise UsageError("--vcpus must be at least 1", "give a count: --vcpus 1")
    if options.timeout <= 0:
        raise UsageError("--timeout must be positive", "write it like 90s, 5m or 1h")
    if options.network != "user":
        check_name(options.network, "network")
    accel_mod.setting(options.accel)


def _reserve(reg: Registry, name: str, gen: Generation, host: hosts.Host, image: Image,
             options: Options, replaces: str | None) -> None:
    now = timeutil.now()
    with reg.write():
        row = reg.query_one("SELECT state FROM vms WHERE name = ?", (name,))
        if row is not None:
            raise UsageError(f"VM {name} already exists ({row['state']})",
                             f"pick another name with --name, or remove it: vmfleet destroy {name}")
        reg.execute(
            "INSERT INTO vms (name, system, generation_id, host, image_sha256, overlay, state,"
            " network, memory_mib, vcpus, replaces, created, updated)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (name, gen.system, gen.id, host.name, image.sha256, "", VmState.DEPLOYING,
             options.network, options.memory_mib, options.vcpus, replaces, now, now))


def _create(reg: Registry, home: Home, name: str, gen: Generation, host: hosts.Host,
            image: Image, options: Options, notify: Notify) -> Vm:
    with virt.connect(host.uri) as conn:
        dtype = accel_mod.resolve(options.accel, remote=host.remote,
                                  kvm_offered=conn.domain_capabilities_kvm)
        if options.network != "user" and not conn.has_network(options.network):
            raise UsageError(f"host {host.name} has no libvirt network {options.network!r}",
                             "use --network user, or name an existing network "
                             "(virsh net-list --all)")
        place = placement.for_host(home, host, conn)
        with _host_lock(home, host.name):
            notify(f"placing the image of {gen.label} on {host.name}")
            base = place.base(image)
            size = _virtual_size(image) if host.remote else 0
            overlay = place.create_overlay(name, base, size)
            _update(reg, name, overlay=overlay)
            port = (allocate_port(reg, host, exclude=busy_ports(conn))
                    if options.network == "user" else None)
            spec = domain_xml.DomainSpec(
                name=name, memory_mib=options.memory_mib, vcpus=options.vcpus, disk=overlay,
                console_log=place.console_path(name),
                network=(domain_xml.UserNet(port) if port
                         else domain_xml.LibvirtNet(options.network)),
                metadata=domain_xml.VmMetadata(
                    vm=name, system=gen.system, generation=gen.number, generation_id=gen.id,
                    image_sha256=image.sha256, overlay=overlay,
                    controller=controller_id(home)),
                domain_type=dtype,
            )
            conn.define(domain_xml.to_xml(spec))
            if port:
                _update(reg, name, ssh_host="127.0.0.1", ssh_port=port)
            notify(f"starting {name} ({gen.label}, {dtype})")
            vm = _start_domain(reg, host, conn, get_vm(reg, name))
        if options.wait:
            vm = _wait_ssh(reg, home, vm, host, conn, place, options.timeout, notify)
        return vm


def _virtual_size(image: Image) -> int:
    from . import qemu_img

    return qemu_img.info(image.path).virtual_size


def _start_domain(reg: Registry, host: hosts.Host, conn: virt.Conn, vm: Vm) -> Vm:
    """Start a defined domain (under the host lock), moving its SSH forward to a free port
    when its own is taken; the row becomes ``running``."""
    tried: set[int] = set()
    for _attempt in range(5):
        if vm.network == "user" and vm.ssh_port and (
                vm.ssh_port in tried
                or (not host.remote and not _port_free(vm.ssh_port))
                or (host.remote and vm.ssh_port in busy_ports(conn))):
            vm = _move_port(reg, host, conn, vm, tried)
        try:
            conn.start(vm.name)
        except LibvirtError as e:
            if vm.network == "user" and "forwarding" in e.message and vm.ssh_port:
                tried.add(vm.ssh_port)  # something outside vmfleet took the port: try another
                vm = _move_port(reg, host, conn, vm, tried)
                continue
            raise
        return _update(reg, vm.name, state=VmState.RUNNING, started=timeutil.now())
    raise DeployError(f"could not find a free SSH port for {vm.name} on {host.name}",
                      f"set ${PORT_RANGE_ENV} to a range nothing else uses")


def _move_port(reg: Registry, host: hosts.Host, conn: virt.Conn, vm: Vm, tried: set[int]) -> Vm:
    tried.add(vm.ssh_port)
    port = allocate_port(reg, host, exclude=tried | busy_ports(conn))
    conn.define(domain_xml.with_ssh_port(conn.domain_xml(vm.name), port))
    return _update(reg, vm.name, ssh_port=port)


def _mark_failed(reg: Registry, home: Home, name: str, host: hosts.Host) -> None:
    """After a failed deploy or start: power the domain off, keep disk and log, say so."""
    with contextlib.suppress(VmfleetError), virt.connect(host.uri) as conn:
        conn.destroy(name)
    with contextlib.suppress(VmfleetError):
        _update(reg, name, state=VmState.FAILED, started=None)


# --- redeploy and rollback ---------------------------------------------------------------------

def _shutdown_timeout() -> float:
    try:
        return float(os.environ.get(SHUTDOWN_TIMEOUT_ENV, DEFAULT_SHUTDOWN_TIMEOUT))
    except ValueError:
        return DEFAULT_SHUTDOWN_TIMEOUT


def _power_off(conn: virt.Conn, name: str, notify: Notify, *, force: bool = False) -> None:
    """ACPI shutdown first (the guest flushes its disk); pull the plug if it does not obey."""
    if not force:
        if conn.shutdown(name, _shutdown_timeout()):
            return
        notify(f"{name} did not power off within {_shutdown_timeout():g} s; forcing it off")
    conn.destroy(name)


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
    from . import build, spec

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


def _lineage(reg: Registry, vm: Vm) -> list[Vm]:
    """The VMs linked to ``vm`` by redeploys (the ``replaces`` chain, both ways)."""
    rows = {v.name: v for v in list_vms(reg, system=vm.system)}
    seen, todo = set(), [vm.name]
    while todo:
        name = todo.pop()
        if name in seen or name not in rows:
            continue
        seen.add(name)
        if rows[name].replaces:
            todo.append(rows[name].replaces)
        todo.extend(v.name for v in rows.values() if v.replaces == name)
    return [rows[n] for n in sorted(seen)]


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


def _boot(reg: Registry, home: Home, host: hosts.Host, conn: virt.Conn, vm: Vm, *, wait: bool,
          timeout: float, notify: Notify) -> Vm:
    """Start an existing VM's domain (re-defining it if only the registry still knows it)."""
    info = conn.domain(vm.name)
    if info is None:
        raise DeployError(f"the domain of VM {vm.name} is gone from host {host.name}",
                          f"remove the VM (vmfleet destroy {vm.name}) and deploy its generation "
                          "again")
    place = placement.for_host(home, host, conn)
    with _host_lock(home, host.name):
        if info.state.active:
            vm = _update(reg, vm.name, state=VmState.RUNNING,
                         started=vm.started or timeutil.now())
        else:
            vm = _start_domain(reg, host, conn, vm)
    if wait:
        vm = _wait_ssh(reg, home, vm, host, conn, place, timeout, notify)
    return vm


# --- start, stop, destroy ----------------------------------------------------------------------

def start(reg: Registry, home: Home, name: str, *, wait: bool = True,
          timeout: float = DEFAULT_TIMEOUT, notify: Notify = _quiet) -> Vm:
    """Start a stopped (or failed, or interrupted) VM and wait until it answers SSH."""
    vm = get_vm(reg, name)
    if vm.state is VmState.RETIRED:
        raise UsageError(f"VM {name} is retired (replaced by a redeploy)",
                         f"bring it back in place of its successor: vmfleet rollback {name}")
    host = hosts.get(reg, vm.host)
    with _vm_lock(home, name), virt.connect(host.uri) as conn:
        try:
            vm = _boot(reg, home, host, conn, vm, wait=wait, timeout=timeout, notify=notify)
        except BaseException as e:
            _mark_failed(reg, home, name, host)
            _audit(reg, "start", name, None, vm.generation_id, f"failed: {_reason(e)}")
            raise
    _audit(reg, "start", name, None, vm.generation_id)
    return vm


def stop(reg: Registry, home: Home, name: str, *, force: bool = False,
         notify: Notify = _quiet) -> Vm:
    """Power a VM off (ACPI, then forced after $VMFLEET_SHUTDOWN_TIMEOUT); disk kept."""
    vm = get_vm(reg, name)
    host = hosts.get(reg, vm.host)
    with _vm_lock(home, name), virt.connect(host.uri) as conn:
        _power_off(conn, name, notify, force=force)
    state = vm.state if vm.state in (VmState.RETIRED, VmState.FAILED) else VmState.STOPPED
    vm = _update(reg, name, state=state, started=None)
    _audit(reg, "stop", name, None, vm.generation_id, "forced" if force else "")
    return vm


def destroy(reg: Registry, home: Home, name: str, *, forget: bool = False,
            notify: Notify = _quiet) -> str:
    """Remove a VM for good: its domain, overlay, console log and registry row.

    Also removes a vmfleet domain that the registry lost (an "orphan" in ps). With ``forget``,
    only the registry row goes (for a VM whose host is gone for good). Returns a short
    description of what was removed.
    """
    vm = find_vm(reg, name)
    if vm is None:
        return _destroy_orphan(reg, home, name, notify)
    with _vm_lock(home, name):
        if forget:
            _forget(reg, name)
        else:
            try:
                _remove(reg, home, name)
            except LibvirtError as e:
                if isinstance(e, NotFound):
                    raise
                raise LibvirtError(f"cannot destroy VM {name}: {e.message}",
                                   f"{e.hint}; if host {vm.host} is gone for good, "
                                   f"'vmfleet destroy --forget {name}' drops only the record"
                                   ) from None
    _audit(reg, "destroy", name, vm.generation_id, None,
           f"on {vm.host}, was {vm.state}" + (", record only" if forget else ""))
    return f"VM {name} ({vm.label}) on {vm.host}" + (" (record only)" if forget else "")


def _forget(reg: Registry, name: str) -> None:
    with reg.write():
        reg.execute("UPDATE vms SET replaces = NULL WHERE replaces = ?", (name,))
        reg.execute("DELETE FROM vms WHERE name = ?", (name,))


def _remove(reg: Registry, home: Home, name: str, *, keep_console: bool = False) -> None:
    vm = get_vm(reg, name)
    host = hosts.get(reg, vm.host)
    with virt.connect(host.uri) as conn:
        conn.destroy(name)
        conn.undefine(name)
        place = placement.for_host(home, host, conn)
        place.remove_overlay(name, vm.overlay)
        if not keep_console:
            place.remove_console(name)
    _forget(reg, name)


def _destroy_orphan(reg: Registry, home: Home, name: str, notify: Notify) -> str:
    me = controller_id(home)
    for host in hosts.list_hosts(reg):
        try:
            conn = virt.connect(host.uri)
        except LibvirtError:
            continue
        with conn:
            info = conn.domain(name)
            if info is None or info.metadata is None or info.metadata.controller != me:
                continue
            with _vm_lock(home, name):
                notify(f"removing orphan domain {name} on {host.name}")
                conn.destroy(name)
                conn.undefine(name)
                place = placement.for_host(home, host, conn)
                place.remove_overlay(name, info.metadata.overlay)
                place.remove_console(name)
            gen_id = info.metadata.generation_id
            known = reg.query_one("SELECT 1 FROM generations WHERE id = ?", (gen_id,))
            _audit(reg, "destroy", name, gen_id if known else None, None,
                   f"orphan domain on {host.name}")
            return f"orphan domain {name} on {host.name}"
    raise NotFound(f"no VM named {name!r}, and no vmfleet domain of that name on any host",
                   "see 'vmfleet ps'")


# --- ps ----------------------------------------------------------------------------------------

def ps(reg: Registry, home: Home) -> list[VmStatus]:
    """Every VM the registry knows and every domain of this vmfleet that libvirt knows."""
    vms = list_vms(reg)
    me = controller_id(home)
    host_names = {vm.host for vm in vms} | {h.name for h in hosts.list_hosts(reg)}
    domains: dict[str, dict[str, virt.DomainInfo]] = {}
    unreachable: dict[str, str] = {}
    survey_hosts = []
    for name in sorted(host_names):
        try:
            survey_hosts.append(hosts.get(reg, name))  # here: the registry is this thread's
        except VmfleetError as e:
            unreachable[name] = e.message

    def survey(host: hosts.Host) -> None:
        try:
            with virt.connect(host.uri, timeout=PS_HOST_TIMEOUT) as conn:
                domains[host.name] = {d.name: d for d in conn.domains()}
        except VmfleetError as e:
            unreachable[host.name] = e.message

    # All hosts at once: one slow or dead host costs PS_HOST_TIMEOUT, not one each.
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(survey, survey_hosts))
    now = timeutil.parse_stamp(timeutil.now())
    out = []
    for vm in vms:
        out.append(_status(home, vm, domains, unreachable, now))
    known = {vm.name for vm in vms}
    for host_name, doms in sorted(domains.items()):
        for dom in sorted(doms.values(), key=lambda d: d.name):
            meta = dom.metadata
            if meta is None or meta.controller != me or dom.name in known:
                continue
            endpoint = domain_xml.ssh_endpoint(dom.xml)
            out.append(VmStatus(
                name=dom.name, system=meta.system, generation=f"{meta.system}@{meta.generation}",
                host=host_name, state="orphan", registry_state=None,
                domain_state=str(dom.state), uptime=None,
                ssh=f"root@{endpoint[0]}:{endpoint[1]}" if endpoint else None,
                note=f"domain not in the registry: 'vmfleet destroy {dom.name}' removes it"))
    return out


def _status(home: Home, vm: Vm, domains, unreachable, now) -> VmStatus:
    ssh_text = f"root@{vm.ssh_host}:{vm.ssh_port}" if vm.ssh_host and vm.ssh_port else None
    if vm.host in unreachable:
        return VmStatus(vm.name, vm.system, vm.label, vm.host, "unknown", str(vm.state), None,
                        None, ssh_text, f"host unreachable: {unreachable[vm.host]}")
    dom = domains.get(vm.host, {}).get(vm.name)
    dstate = str(dom.state) if dom else None
    state, note = str(vm.state), ""
    if vm.state is VmState.DEPLOYING:
        if locks.is_locked(home, f"vm-{vm.name}"):
            note = "deploy in progress"
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
        note = f"kept for 'vmfleet rollback {vm.name}'"
    uptime = None
    if dom is not None and dom.state.active and vm.started:
        uptime = max(0.0, (now - timeutil.parse_stamp(vm.started)).total_seconds())
    return VmStatus(vm.name, vm.system, vm.label, vm.host, state, str(vm.state), dstate,
                    uptime, ssh_text, note)


def generation_of(reg: Registry, vm: Vm) -> Generation:
    return get_generation(reg, vm.generation_id)


# Errors the CLI may want to distinguish.
__all__ = [
    "ACTIVE", "AuditEntry", "DeployError", "Image", "Options", "RedeployResult", "Vm",
    "VmState", "VmStatus", "allocate_port", "audit_log", "connect_ssh", "controller_id",
    "deploy", "deploy_image", "destroy", "find_vm", "get_vm", "images_in_use", "list_vms",
    "port_range", "ps", "redeploy", "rollback", "start", "stop",
]
