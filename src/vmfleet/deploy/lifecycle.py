"""Deploying a VM from a generation's image, and starting, stopping and destroying it."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from vmfleet import settings, timeutil
from vmfleet.deploy import accel as accel_mod
from vmfleet.deploy import hosts, placement, vm_access
from vmfleet.deploy.placement import Image
from vmfleet.deploy.ports import allocate_port, busy_ports, port_free
from vmfleet.deploy.vm_access import controller_id
from vmfleet.deploy.vm_records import (
    DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_TIMEOUT,
    PORT_RANGE_ENV,
    Notify,
    Options,
    Vm,
    VmState,
    complete_audit,
    find_vm,
    get_vm,
    host_lock,
    lineage_of,
    quiet,
    rollback_command,
    update_vm,
    vm_lock,
    write_audit,
)
from vmfleet.errors import (
    DeployError,
    ImageGone,
    LibvirtError,
    NotFound,
    ToolMissing,
    UsageError,
    VmfleetError,
)
from vmfleet.home import Home
from vmfleet.names import check_name
from vmfleet.registry import audit as audit_rows
from vmfleet.registry import builds as build_rows
from vmfleet.registry import generations
from vmfleet.registry import vms as vm_rows
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation
from vmfleet.tools import domain_xml, killpoint, locks, virt

# --- deploy ------------------------------------------------------------------------------------


def deploy(reg: Registry, home: Home, spec_text: str, *, name: str | None = None,
           host: str = hosts.LOCAL, options: Options = Options(), builder: str | None = None,
           notify: Notify = quiet, on_line: Callable[[str], None] | None = None,
           image_type: str | None = None) -> Vm:
    """Resolve a generation spec, build its image (or reuse it) and deploy a VM from it."""
    from vmfleet.build import builds as build
    from vmfleet.registry import spec

    gen = spec.resolve(reg, spec_text)
    # A typo in an option must not cost a build first (deploy_image checks again, under its lock).
    check_name(name or gen.system, "VM")
    hosts.get(reg, host)
    _check_options(options)
    login_user(reg, home, gen, options)  # nor a config nobody can log into
    build.plan_image(gen, image_type)     # nor an image type Guix would refuse
    h = hosts.get(reg, host)
    with virt.connect(h.uri) as conn:     # nor a network, memory or port the host lacks
        check_host_limits(conn, h, options)
        if options.network == "user":
            allocate_port(reg, h, exclude=busy_ports(conn))  # raises when the range is full
    for _attempt in range(3):
        notify(f"image of {gen.label}: building or reusing")
        built = build.ensure_image(reg, home, gen, builder=builder, on_line=on_line,
                                   image_type=image_type)
        image = Image(*build.stored_image(built))
        try:
            return deploy_image(reg, home, gen, image, name=name, host=host, options=options,
                                notify=notify)
        except ImageGone:
            notify(f"the image of {gen.label} was removed by 'vmfleet images gc' meanwhile")
    raise ImageGone(f"the image of {gen.label} kept being removed by 'vmfleet images gc'",
                    "run the deploy again when no gc runs")


def deploy_image(reg: Registry, home: Home, gen: Generation, image: Image, *,
                 name: str | None = None, host: str = hosts.LOCAL, options: Options = Options(),
                 notify: Notify = quiet, replaces: str | None = None,
                 audit: str | None = "deploy") -> Vm:
    """Boot a new VM from an image already in the store (the heart of deploy and redeploy).

    A failed deploy leaves the VM in state ``failed`` with its domain shut off and its overlay
    and console log kept; ``vmfleet start`` tries again, ``vmfleet destroy`` removes it.
    """
    name = check_name(name or gen.system, "VM")
    h = hosts.get(reg, host)
    _check_options(options)
    user = login_user(reg, home, gen, options)  # before anything boots: who can log in?
    with vm_lock(home, name):
        _preflight(reg, h, options)  # every option checked before anything is recorded
        # gc removes images no VM row names, under the exclusive store lock: from the check
        # that the image is there to the row that names it, a shared hold keeps gc out.
        with locks.lock(home, "images", shared=True):
            if not image.path.exists():
                raise ImageGone(f"the image {image.sha256[:16]} was removed from the store",
                                "run the command again: the image is rebuilt")
            _reserve(reg, name, gen, h, image, options, replaces, user)
        # The entry is written when the deploy starts and completed with its outcome, so a
        # deploy killed half-way is in the log too.
        entry = write_audit(reg, audit, name, None, gen.id,
                       f"on {h.name}: started, not finished") if audit else None
        killpoint.reached("deploy:reserved")
        try:
            vm = _create(reg, home, name, gen, h, image, options, notify)
        except BaseException as e:
            mark_failed(reg, home, name, h)
            if entry:
                complete_audit(reg, entry, f"failed: {failure_reason(e)}")
            raise
        if entry:
            complete_audit(reg, entry, f"on {h.name}")
    return vm


def failure_reason(e: BaseException) -> str:
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


def _preflight(reg: Registry, host: hosts.Host, options: Options) -> None:
    """What only the host can tell, asked before the VM is recorded: a deploy refused here
    leaves no row, overlay or audit entry behind."""
    with virt.connect(host.uri) as conn:
        check_host_limits(conn, host, options)
        if options.network == "user":
            allocate_port(reg, host, exclude=busy_ports(conn))  # raises when the range is full


def check_host_limits(conn, host: hosts.Host, options: Options) -> None:
    """The network and memory ``options`` ask for exist on ``host`` (``conn``, open to it):
    checked before a build (deploy), before a VM is recorded, and by ``plan``."""
    if options.network != "user" and not conn.has_network(options.network):
        raise UsageError(f"host {host.name} has no libvirt network {options.network!r}",
                         "use --network user, or name an existing network "
                         "(virsh net-list --all)")
    total = conn.host_memory_mib()
    if total is not None and options.memory_mib > total:
        raise UsageError(f"--memory {options.memory_mib} MiB is more than host {host.name} "
                         f"has ({total} MiB)", "give less memory, e.g. --memory 512M")


def login_user(reg: Registry, home: Home, gen: Generation, options: Options) -> str:
    """Who vmfleet logs into a VM of ``gen`` as: ``--ssh-user``, else what the config's openssh
    service allows vmfleet's key (guix.logins); DeployError when nobody can log in."""
    from vmfleet.guix import logins, os_config, revisions
    from vmfleet.tools import ssh

    if options.ssh_user:
        return check_name(options.ssh_user, "SSH user")
    inputs = generations.inputs_of(reg, gen)
    summary = os_config.summarize_os(inputs.config_text, inputs.config_name)
    key_file = ssh.ensure_keypair(home.keys)
    return logins.choose(summary, inputs.files, ssh.public_key(home.keys),
                         config=f"{gen.label} ({inputs.config_name})",
                         key_file=f"{key_file}.pub",
                         rev=revisions.revision(gen.guix_commit)).user


def _reserve(reg: Registry, name: str, gen: Generation, host: hosts.Host, image: Image,
             options: Options, replaces: str | None, ssh_user: str = "root") -> None:
    now = timeutil.now()
    with reg.write():
        state = vm_rows.state(reg, name)
        if state is not None:
            raise UsageError(f"VM {name} already exists ({state})",
                             f"pick another name with --name, or remove it: vmfleet destroy {name}")
        vm_rows.insert(reg, {
            "name": name, "system": gen.system, "generation_id": gen.id, "host": host.name,
            "image_sha256": image.sha256, "overlay": "", "state": VmState.DEPLOYING,
            "network": options.network, "memory_mib": options.memory_mib,
            "vcpus": options.vcpus, "replaces": replaces, "created": now, "updated": now,
            "ssh_user": ssh_user})


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
        with host_lock(home, host.name):
            notify(f"placing the image of {gen.label} on {host.name}")
            base = place.base(image)
            size = _virtual_size(image) if host.remote else 0
            overlay = place.create_overlay(name, base, size)
            update_vm(reg, name, overlay=overlay if host.remote else reg.relative_path(overlay))
            killpoint.reached("deploy:overlay")
            port = (allocate_port(reg, host, exclude=busy_ports(conn))
                    if options.network == "user" else None)
            firmware = None
            if image_firmware(reg, image.sha256) == "efi":
                firmware = domain_xml.Uefi(nvram=place.nvram_path(name))
                _check_uefi(host, firmware)
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
                firmware=firmware,
            )
            conn.define(domain_xml.to_xml(spec))
            if port:
                update_vm(reg, name, ssh_host="127.0.0.1", ssh_port=port)
            killpoint.reached("deploy:defined")
            notify(f"starting {name} ({gen.label}, {dtype})")
            # 'deploying' until it answers SSH: a kill during the wait leaves a deploy that ps
            # calls interrupted, and that 'vmfleet start' finishes.
            vm = _start_domain(reg, host, conn, get_vm(reg, name),
                               state=VmState.DEPLOYING if options.wait else VmState.RUNNING)
        if options.wait:
            killpoint.reached("deploy:ssh-wait")
            vm = vm_access.wait_ssh(reg, home, vm, host, conn, place, options.timeout, notify)
            vm = update_vm(reg, name, state=VmState.RUNNING)
        return vm


def image_firmware(reg: Registry, sha256: str) -> str:
    """'efi' or 'bios': how an image boots, from the image type its build recorded (guix's
    efi-raw and qcow2-gpt are UEFI disks; qcow2 and vm-image boot with BIOS)."""
    from vmfleet.guix import image_types

    row = build_rows.last_making_image(reg, sha256)
    if row is None:
        return "bios"
    return image_types.firmware_of(row["image_type"] or json.loads(row["options"] or "{}")
                                   .get("image_type"))


def _check_uefi(host: hosts.Host, firmware: domain_xml.Uefi) -> None:
    """On this machine, the firmware files must be there (a remote host's libvirt checks its own)."""
    if host.remote:
        return
    for path in (firmware.loader, firmware.template):
        if not os.path.exists(path):
            raise ToolMissing(f"UEFI firmware {path} not found (the image boots with UEFI)",
                              "install it: apt-get install ovmf")


def _virtual_size(image: Image) -> int:
    from vmfleet.tools import qemu_img

    return qemu_img.info(image.path).virtual_size


def _start_domain(reg: Registry, host: hosts.Host, conn: virt.Conn, vm: Vm,
                  state: VmState = VmState.RUNNING) -> Vm:
    """Start a defined domain (under the host lock), moving its SSH forward to a free port
    when its own is taken; the row becomes ``running``."""
    tried: set[int] = set()
    for _attempt in range(5):
        if vm.network == "user" and vm.ssh_port and (
                vm.ssh_port in tried
                or (not host.remote and not port_free(vm.ssh_port))
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
        return update_vm(reg, vm.name, state=state, started=timeutil.now())
    raise DeployError(f"could not find a free SSH port for {vm.name} on {host.name}",
                      f"set ${PORT_RANGE_ENV} to a range nothing else uses")


def _move_port(reg: Registry, host: hosts.Host, conn: virt.Conn, vm: Vm, tried: set[int]) -> Vm:
    if vm.ssh_port is not None:
        tried.add(vm.ssh_port)
    port = allocate_port(reg, host, exclude=tried | busy_ports(conn))
    conn.define(domain_xml.with_ssh_port(conn.domain_xml(vm.name), port))
    return update_vm(reg, vm.name, ssh_port=port)


def mark_failed(reg: Registry, home: Home, name: str, host: hosts.Host) -> None:
    """After a failed deploy or start: power the domain off, keep disk and log, say so."""
    with contextlib.suppress(VmfleetError), virt.connect(host.uri) as conn:
        conn.destroy(name)
    with contextlib.suppress(VmfleetError):
        update_vm(reg, name, state=VmState.FAILED, started=None)



def place_image(reg: Registry, home: Home, host_name: str, image: Image, *,
                notify: Notify = quiet) -> str:
    """Put a stored image on a host ahead of deploys (a no-op when it is there already; the
    deploys that follow find it): where it is on the host."""
    h = hosts.get(reg, host_name)
    with virt.connect(h.uri) as conn:
        place = placement.for_host(home, h, conn)
        with host_lock(home, h.name):
            notify(f"placing image {image.sha256[:12]} on {h.name}")
            return place.base(image)


def retire(reg: Registry, home: Home, name: str, *, notify: Notify = quiet) -> Vm:
    """Power a VM off and mark it retired (kept for ``rollback``), as redeploy does with the VM
    it replaced; a VM whose domain is gone is only marked."""
    vm = get_vm(reg, name)
    h = hosts.get(reg, vm.host)
    with vm_lock(home, name), virt.connect(h.uri) as conn:
        if conn.domain(name) is not None:
            notify(f"retiring {name} (kept for rollback)")
            power_off(conn, name, notify)
        return update_vm(reg, name, state=VmState.RETIRED, started=None)


# --- start, stop, destroy ----------------------------------------------------------------------

def start(reg: Registry, home: Home, name: str, *, wait: bool = True,
          timeout: float = DEFAULT_TIMEOUT, notify: Notify = quiet) -> Vm:
    """Start a stopped (or failed, or interrupted) VM and wait until it answers SSH."""
    vm = get_vm(reg, name)
    if vm.state is VmState.RETIRED:
        raise UsageError(f"VM {name} is retired (replaced by a redeploy)",
                         "bring it back in place of its successor: "
                         + rollback_command(vm, lineage_of(reg, vm)))
    host = hosts.get(reg, vm.host)
    with vm_lock(home, name), virt.connect(host.uri) as conn:
        try:
            vm = boot(reg, home, host, conn, vm, wait=wait, timeout=timeout, notify=notify)
        except BaseException as e:
            mark_failed(reg, home, name, host)
            write_audit(reg, "start", name, None, vm.generation_id, f"failed: {failure_reason(e)}")
            raise
        # A deploy killed after its domain was defined is finished by this start: say so.
        audit_rows.close_open_intents(reg, name, "finished by vmfleet start")
    write_audit(reg, "start", name, None, vm.generation_id)
    return vm


def stop(reg: Registry, home: Home, name: str, *, force: bool = False,
         notify: Notify = quiet) -> Vm:
    """Power a VM off (ACPI, then forced after $VMFLEET_SHUTDOWN_TIMEOUT); disk kept."""
    vm = get_vm(reg, name)
    host = hosts.get(reg, vm.host)
    with vm_lock(home, name), virt.connect(host.uri) as conn:
        claim(home, host, conn, name)
        power_off(conn, name, notify, force=force)
    state = vm.state if vm.state in (VmState.RETIRED, VmState.FAILED) else VmState.STOPPED
    vm = update_vm(reg, name, state=state, started=None)
    write_audit(reg, "stop", name, None, vm.generation_id, "forced" if force else "")
    return vm


def destroy(reg: Registry, home: Home, name: str, *, forget: bool = False,
            notify: Notify = quiet) -> str:
    """Remove a VM for good: its domain, overlay, console log and registry row.

    Also removes a vmfleet domain that the registry lost (an "orphan" in ps). With ``forget``,
    only the registry row goes (for a VM whose host is gone for good). Returns a short
    description of what was removed.
    """
    vm = find_vm(reg, name)
    if vm is None:
        return _destroy_orphan(reg, home, name, notify)
    with vm_lock(home, name):
        if forget:
            _forget(reg, name)
        else:
            try:
                remove_vm(reg, home, name)
            except LibvirtError as e:
                if isinstance(e, NotFound):
                    raise
                raise LibvirtError(f"cannot destroy VM {name}: {e.message}",
                                   f"{e.hint}; if host {vm.host} is gone for good, "
                                   f"'vmfleet destroy --forget {name}' drops only the record"
                                   ) from None
    write_audit(reg, "destroy", name, vm.generation_id, None,
           f"on {vm.host}, was {vm.state}" + (", record only" if forget else ""))
    return f"VM {name} ({vm.label}) on {vm.host}" + (" (record only)" if forget else "")


def _forget(reg: Registry, name: str) -> None:
    """Drop the row; the VMs that replaced it now replace its predecessor (or keep its name
    when it was the first of its lineage), so the lineage keeps its fleet name."""
    with reg.write():
        vm_rows.delete(reg, name)


def remove_vm(reg: Registry, home: Home, name: str, *, keep_console: bool = False) -> None:
    vm = get_vm(reg, name)
    host = hosts.get(reg, vm.host)
    with virt.connect(host.uri) as conn:
        claim(home, host, conn, name)
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
            with vm_lock(home, name):
                notify(f"removing orphan domain {name} on {host.name}")
                conn.destroy(name)
                conn.undefine(name)
                place = placement.for_host(home, host, conn)
                place.remove_overlay(name, info.metadata.overlay)
                place.remove_console(name)
            gen_id = info.metadata.generation_id
            known = generations.exists(reg, gen_id)
            write_audit(reg, "destroy", name, gen_id if known else None, None,
                   f"orphan domain on {host.name}")
            return f"orphan domain {name} on {host.name}"
    raise NotFound(f"no VM named {name!r}, and no vmfleet domain of that name on any host",
                   "see 'vmfleet ps'")


def _shutdown_timeout() -> float:
    return settings.shutdown_timeout(DEFAULT_SHUTDOWN_TIMEOUT)


def power_off(conn: virt.Conn, name: str, notify: Notify, *, force: bool = False) -> None:
    """ACPI shutdown first (the guest flushes its disk); pull the plug if it does not obey."""
    if not force:
        if conn.shutdown(name, _shutdown_timeout()):
            return
        notify(f"{name} did not power off within {_shutdown_timeout():g} s; forcing it off")
    conn.destroy(name)


def claim(home: Home, host: hosts.Host, conn: virt.Conn, name: str) -> None:
    """Act only on this home's domains. A domain whose metadata names another home is that
    home's when it still exists (this home is a copy: refused); when it is gone, the home was
    moved here, and the domain follows it (its disk and log paths, its controller)."""
    info = conn.domain(name)
    if info is None or info.metadata is None:
        return
    me = controller_id(home)
    if info.metadata.controller == me:
        return
    _machine, _, root = info.metadata.controller.partition(":")
    if root and (Path(root) / "registry.db").exists():
        raise DeployError(f"the domain {name} on {host.name} belongs to another vmfleet home "
                          f"({root}); this home ({home.root}) is a copy of it",
                          f"work on {name} from that home (--home {root}), or deploy under "
                          "another name here")
    conn.define(domain_xml.with_home(conn.domain_xml(name), info.metadata.controller, me,
                                     root, os.fspath(home.root)))


def boot(reg: Registry, home: Home, host: hosts.Host, conn: virt.Conn, vm: Vm, *, wait: bool,
          timeout: float, notify: Notify) -> Vm:
    """Start an existing VM's domain (re-defining it if only the registry still knows it)."""
    claim(home, host, conn, vm.name)
    info = conn.domain(vm.name)
    if info is None:
        raise DeployError(f"the domain of VM {vm.name} is gone from host {host.name}",
                          f"remove the VM (vmfleet destroy {vm.name}) and deploy its generation "
                          "again")
    place = placement.for_host(home, host, conn)
    with host_lock(home, host.name):
        if info.state.active:
            vm = update_vm(reg, vm.name, state=VmState.RUNNING,
                         started=vm.started or timeutil.now())
        else:
            vm = _start_domain(reg, host, conn, vm)
    if wait:
        killpoint.reached("deploy:ssh-wait")
        vm = vm_access.wait_ssh(reg, home, vm, host, conn, place, timeout, notify)
    return vm
