"""Commands that run VMs: host add/remove, hosts, deploy, redeploy, rollback, ps, ssh, stop,
start, destroy, log, key."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from vmfleet import timeutil
from vmfleet.cli import options
from vmfleet.cli.app import app, emit, home, lazy, open_registry, print_table, say
from vmfleet.cli.confirm import confirm
from vmfleet.cli.output import Progress, paint_state

if TYPE_CHECKING:  # imported lazily at run time (cli/app.py: lazy)
    from vmfleet.deploy.vm_records import Vm

lifecycle_mod = lazy("vmfleet.deploy.lifecycle")
prune_mod = lazy("vmfleet.deploy.prune")
rollout_mod = lazy("vmfleet.deploy.rollout")
status_mod = lazy("vmfleet.deploy.status")
vm_access_mod = lazy("vmfleet.deploy.vm_access")
vm_records_mod = lazy("vmfleet.deploy.vm_records")

hosts_mod = lazy("vmfleet.deploy.hosts")
ssh_mod = lazy("vmfleet.tools.ssh")

JSON = options.json_flag()
JSONL = options.jsonl_flag()
TIMEOUT_HELP = "How long to wait for SSH, e.g. 90s, 5m (default 5m)."


def _timeout() -> typer.models.OptionInfo:
    return options.duration("--timeout", "5m", TIMEOUT_HELP)

host_app = typer.Typer(help="Add or remove hypervisor hosts.", no_args_is_help=True)
app.add_typer(host_app, name="host")


def _vm_json(vm: Vm) -> dict:
    return {"name": vm.name, "system": vm.system, "generation": vm.label,
            "generation_id": vm.generation_id, "host": vm.host, "state": str(vm.state),
            "ssh": f"{vm.ssh_user}@{vm.ssh_host}:{vm.ssh_port}" if vm.ssh_port else None,
            "ssh_user": vm.ssh_user,
            "image_sha256": vm.image_sha256, "overlay": vm.overlay, "replaces": vm.replaces,
            "memory_mib": vm.memory_mib, "vcpus": vm.vcpus, "network": vm.network}


# --- hosts -------------------------------------------------------------------------------------

@host_app.command("add")
def host_add(
    name: str = typer.Argument(..., help="A name for the host ([a-z0-9][a-z0-9-]*)."),
    uri: str = typer.Argument(..., help="libvirt URI, e.g. qemu+ssh://root@hv1/system."),
    pool: str = typer.Option(None, "--pool", help="libvirt storage pool vmfleet uses there "
                             "(remote hosts; default vmfleet)."),
    pool_dir: str = typer.Option(None, "--pool-dir", help="Directory of that pool on the host "
                                 "(default /var/lib/vmfleet/pool)."),
    no_check: bool = typer.Option(False, "--no-check", help="Do not connect to check the URI."),
    trust_new_host: bool = typer.Option(
        False, "--trust-new-host", help="Accept and pin a remote host's unknown SSH host key."),
) -> None:
    """Add a hypervisor host ('local', qemu:///system, exists by default)."""
    host = hosts_mod.add(open_registry(), name, uri, pool=pool, pool_dir=pool_dir,
                         verify=not no_check, home=home(), trust_new_host=trust_new_host)
    say(f"added host {host.name} ({host.uri})")


@host_app.command("remove")
def host_remove(name: str = typer.Argument(..., help="The host's name.")) -> None:
    """Forget a host that has no VMs."""
    hosts_mod.remove(open_registry(), name)
    say(f"removed host {name}")


@app.command()
def hosts(as_json: bool = JSON, as_jsonl: bool = JSONL) -> None:
    """List hypervisor hosts: name, libvirt URI, local or remote, storage pool."""
    rows = [{"name": h.name, "uri": h.uri, "remote": h.remote, "pool": h.pool,
             "pool_dir": h.pool_dir} for h in hosts_mod.list_hosts(open_registry())]
    emit(rows, as_json, lambda v: print_table(
        [(r["name"], r["uri"], "remote" if r["remote"] else "local",
          f"{r['pool']} ({r['pool_dir']})" if r["pool"] else "-") for r in v],
        ["host", "uri", "kind", "pool"]), as_jsonl=as_jsonl)


# --- deploy, redeploy, rollback ----------------------------------------------------------------

@app.command()
def deploy(
    spec: str = typer.Argument(..., metavar="SPEC", help="Generation spec: web, web@7, web@2023-06, web@COMMIT."),
    name: str = typer.Option(None, "--name", help="VM name (default: the system's name)."),
    host: str = typer.Option("local", "--host", help="Host to run it on (see 'vmfleet hosts')."),
    memory: int = options.memory("--memory", "512M", "Memory, e.g. 512M or 2G (a bare number: MiB)."),
    vcpus: int = typer.Option(1, "--vcpus", help="Virtual CPUs."),
    network: str = typer.Option("user", "--network", help="'user' (SSH forwarded to a port on "
                                "127.0.0.1) or the name of a libvirt network."),
    accel: str = typer.Option(None, "--accel", help="auto, kvm or tcg (default: $VMFLEET_ACCEL, "
                              "else auto: KVM only if a probe boots)."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Do not wait until SSH answers."),
    timeout: float = _timeout(),
    builder: str = typer.Option(None, "--builder", help="Where to build the image if it is not "
                                "in the store: local or ssh://user@host[:port]."),
    image_type: str = typer.Option(
        None, "--image-type", help="qcow2, efi-raw or qcow2-gpt (default: by bootloader and pin)."),
    ssh_user: str = typer.Option(
        None, "--ssh-user", help="Log in as this user (default: the one the config's openssh "
        "service lets in with vmfleet's key)."),
    as_json: bool = JSON,
) -> None:
    """Boot a VM from any generation (building its image first if needed)."""
    vm_options = vm_records_mod.Options(memory_mib=memory, vcpus=vcpus, network=network,
                                        accel=accel, wait=not no_wait, timeout=timeout,
                                        ssh_user=ssh_user)
    reg = open_registry()
    with Progress(indent="  ") as progress:
        vm = lifecycle_mod.deploy(reg, home(), spec, name=name, host=host, options=vm_options,
                                  builder=builder, notify=progress.note, on_line=progress,
                                  image_type=image_type)
    say(f"deployed {vm.name} ({vm.label}) on {vm.host}"
        + (f", ssh {vm.ssh_user}@{vm.ssh_host}:{vm.ssh_port}" if vm.ssh_port else ""))
    emit(_vm_json(vm), as_json, lambda v: None)


@app.command()
def redeploy(
    spec: str = typer.Argument(..., metavar="SPEC", help="Generation spec to move every VM of its system to."),
    allow_downgrade: bool = typer.Option(False, "--allow-downgrade",
                                         help="Allow going to an older generation."),
    colour: options.Colour = options.colour(),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before replacing VMs the "
                             "fleet file manages (needed without a terminal)."),
    timeout: float = _timeout(),
    accel: str = typer.Option(None, "--accel", help="auto, kvm or tcg for the new VMs."),
    builder: str = typer.Option(None, "--builder", help="Where to build the image if needed."),
    as_json: bool = JSON,
) -> None:
    """Replace every VM of a system by one of another generation; the old ones are kept."""
    reg = open_registry()
    _confirm_fleet_vms(reg, spec, allow_downgrade, yes)
    with Progress(indent="  ") as progress:
        results = rollout_mod.redeploy(reg, home(), spec, allow_downgrade=allow_downgrade,
                                       timeout=timeout, accel=accel, builder=builder,
                                       notify=progress.note, on_line=progress)
    emit(results, as_json, lambda v: print_table(
        [(r.old, r.from_generation, r.new, r.to_generation,
          paint_state(r.outcome, colour.wanted())) for r in v],
        ["old", "from", "new", "to", "outcome"]))


def _confirm_fleet_vms(reg, spec: str, allow_downgrade: bool, yes: bool) -> None:
    """A redeploy of VMs that the fleet file manages makes drift: say so, show what will be
    replaced, and ask (the confirmation rule of apply)."""
    from vmfleet.deploy.lineage import lineages
    from vmfleet.fleet import plan as plan_mod

    moves = rollout_mod.redeploy_preview(reg, spec)
    if not moves:
        return  # redeploy itself says why there is nothing to do
    managed = plan_mod.managed_names(reg)
    roots = lineages(vm_records_mod.list_vms(reg))
    root_of = {m.name: r for r, g in roots.items() for m in g.members}
    fleet_vms = [(vm, to) for vm, to in moves if root_of.get(vm.name, vm.name) in managed]
    if not fleet_vms:
        return
    if not allow_downgrade and any(vm.generation > to.number for vm, to in fleet_vms):
        return  # refused by redeploy with its hint, before anything is asked
    for vm, to in fleet_vms:
        say(f"  ~ {vm.name} ({root_of.get(vm.name, vm.name)} in the fleet): {vm.label} → {to.label}")
    say("warning: the fleet file manages these VMs: 'vmfleet plan' will show them as drift "
        "until the fleet file says the same or 'vmfleet apply' puts them back")
    n = len(fleet_vms)
    confirm("Redeploy?", yes=yes, what=f"redeploying {n} fleet VM{'s' if n != 1 else ''}")


@app.command()
def rollback(
    vm: str = typer.Argument(..., metavar="VM", help="A retired VM to bring back, or a VM made by redeploy "
                             "whose predecessor should come back."),
    allow_downgrade: bool = typer.Option(False, "--allow-downgrade", help="Allow bringing back "
                                         "an older generation than the one it replaces."),
    timeout: float = _timeout(),
    as_json: bool = JSON,
) -> None:
    """Bring back the VM a redeploy replaced (same disk, same host key)."""
    result = rollout_mod.rollback(open_registry(), home(), vm, timeout=timeout,
                                  allow_downgrade=allow_downgrade, notify=say)
    say(f"{result.name} ({result.label}) runs again")
    emit(_vm_json(result), as_json, lambda v: None)


# --- ps, ssh, start, stop, destroy -------------------------------------------------------------

@app.command()
def ps(
    every: bool = typer.Option(False, "--all", "-a", help="Every VM, retired ones included "
                               "(default: one row per lineage, with its retired count)."),
    colour: options.Colour = options.colour(),
    as_json: bool = JSON,
    as_jsonl: bool = JSONL,
) -> None:
    """List VMs: one row per lineage (the VM that runs for it), its generation, host, state,
    uptime and SSH endpoint (registry and libvirt reconciled)."""
    reg = open_registry()
    rows = status_mod.ps(reg, home(), every=every)

    paint = colour.wanted()

    def human(rows):
        if every:
            print_table([(r.name, r.lineage, r.generation, r.host, paint_state(r.state, paint),
                          timeutil.show_duration(r.uptime), r.ssh) for r in rows],
                        ["vm", "lineage", "generation", "host", "state", "uptime", "ssh"])
        else:
            print_table([(r.name, r.generation, r.host, paint_state(r.state, paint),
                          timeutil.show_duration(r.uptime),
                          r.ssh, r.retired or "-") for r in rows],
                        ["vm", "generation", "host", "state", "uptime", "ssh", "retired"])
        for r in rows:
            if r.note and not (r.state == "retired" and r.note.startswith("kept for")):
                say(f"{r.name}: {r.note}")
        per_lineage: dict[str, int] = {}
        for r in rows:
            if every and r.registry_state == "retired":
                per_lineage[r.lineage] = per_lineage.get(r.lineage, 0) + 1
            elif not every and r.retired:
                per_lineage[r.lineage] = r.retired
        retired = sum(per_lineage.values())
        if retired:
            say(f"{retired} retired VM{'s' if retired != 1 else ''} kept for rollback"
                + (": 'vmfleet ps --all' lists them" if not every else "")
                + ("; 'vmfleet prune --keep 1' removes all but the newest of each lineage"
                   if any(n > 1 for n in per_lineage.values()) else ""))
        from vmfleet.fleet import plan as fleet_plan

        stuck = fleet_plan.interrupted_apply(reg, home())
        if stuck:
            say(f"apply {stuck} was interrupted: 'vmfleet plan' shows what is left, "
                "'vmfleet apply' finishes it")
        running = fleet_plan.apply_in_progress(home())
        if running:
            say(f"an apply is in progress: {running}")

    emit(rows, as_json, human, as_jsonl=as_jsonl)


@app.command()
def ssh(
    vm: str = typer.Argument(..., metavar="VM", help="The VM."),
    command: list[str] = typer.Argument(None, help="Command to run (after --); none: a shell."),
    stdin: bool = typer.Option(False, "--stdin", help="Pass standard input to the command."),
    ssh_user: str = typer.Option(None, "--ssh-user", help="Log in as this user (default: the "
                                 "VM's login, recorded at deploy)."),
) -> None:
    """Log into a VM as its login user, or run a command there; its exit status passes through."""
    reg = open_registry()
    with vm_access_mod.connect_ssh(reg, home(), vm, notify=say, ssh_user=ssh_user) as conn:
        if command:
            data = sys.stdin.buffer.read() if stdin else None
            text = command[0] if len(command) == 1 else command
            rc = conn.stream(text, sys.stdout.buffer, sys.stderr.buffer, input=data)
        else:
            rc = conn.interactive()
    raise typer.Exit(rc if rc >= 0 else 255)


@app.command()
def start(
    vm: str = typer.Argument(..., metavar="VM", help="The VM."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Do not wait until SSH answers."),
    timeout: float = _timeout(),
) -> None:
    """Start a stopped VM (or finish an interrupted deploy)."""
    result = lifecycle_mod.start(open_registry(), home(), vm, wait=not no_wait,
                              timeout=timeout, notify=say)
    say(f"{result.name} is {result.state}")


@app.command()
def stop(
    vm: str = typer.Argument(..., metavar="VM", help="The VM."),
    force: bool = typer.Option(False, "--force", help="Power off at once, without asking the "
                               "guest to shut down."),
) -> None:
    """Shut a VM down (its disk is kept)."""
    result = lifecycle_mod.stop(open_registry(), home(), vm, force=force, notify=say)
    say(f"{result.name} is {result.state}")


@app.command()
def destroy(
    vms: list[str] = typer.Argument(..., metavar="VM...", help="The VMs (or orphan domains "
                                    "shown by ps)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    forget: bool = typer.Option(False, "--forget", help="Only drop the registry record (for a "
                                "host that is gone for good)."),
) -> None:
    """Remove VMs: their domains, disk overlays, console logs and records."""
    names = list(dict.fromkeys(vms))
    confirm(f"Destroy {_and(names)} and {'its disk' if len(names) == 1 else 'their disks'}?",
            yes=yes, what=f"destroying {_and(names)}")
    reg = open_registry()
    for name in names:
        say(f"destroyed {lifecycle_mod.destroy(reg, home(), name, forget=forget, notify=say)}")


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@app.command()
def prune(
    only: list[str] = typer.Argument(None, metavar="[SYSTEM|VM]...", help="Only the lineages "
                                     "of these systems or VMs (default: all)."),
    keep: int = typer.Option(1, "--keep", metavar="N", help="Retired VMs kept per lineage, "
                             "newest first (0: none)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (needed "
                             "without a terminal)."),
    as_json: bool = JSON,
) -> None:
    """Remove retired VMs (domain, disk, record) beyond the newest N of each lineage."""
    reg = open_registry()
    chosen = prune_mod.candidates(reg, keep=keep, only=only or ())
    if not chosen:
        say("nothing to prune")
        emit([], as_json, lambda v: None)
        return
    for p in chosen:
        say(f"  - {p.name} ({p.generation} on {p.host}, retired, of {p.lineage})")
    n = len(chosen)
    confirm(f"Remove {n} retired VM{'s' if n != 1 else ''} and {'its disk' if n == 1 else 'their disks'}?",
            yes=yes, what=f"pruning {n} retired VM{'s' if n != 1 else ''}")
    done = prune_mod.prune(reg, home(), chosen)
    say(f"pruned {len(done)} retired VM{'s' if len(done) != 1 else ''}")
    emit(done, as_json, lambda v: None)


@app.command()
def log(
    vm: str = typer.Argument(None, help="Only entries about this VM."),
    apply_id: str = typer.Option(None, "--apply", help="Only the steps of this apply (its id "
                                 "or a prefix: see 'vmfleet fleet applies')."),
    as_json: bool = JSON,
    as_jsonl: bool = JSONL,
) -> None:
    """The audit trail: who deployed, redeployed, rolled back or destroyed what, and when."""
    if apply_id:
        from vmfleet.fleet import apply as fleet_apply

        entries = fleet_apply.apply_log(open_registry(), apply_id)
        if vm:
            entries = [e for e in entries if e.vm == vm]
    else:
        entries = vm_records_mod.audit_log(open_registry(), vm)
    emit(entries, as_json, lambda v: print_table(
        [(timeutil.show(e.at), e.user, e.action, e.vm, e.from_generation, e.to_generation,
          e.detail) for e in v],
        ["when (UTC)", "user", "action", "vm", "from", "to", "detail"]), as_jsonl=as_jsonl)


@app.command()
def key() -> None:
    """Print vmfleet's SSH public key (put it in a config's openssh authorized-keys)."""
    h = home()
    ssh_mod.ensure_keypair(h.keys)
    sys.stdout.write(ssh_mod.public_key(h.keys) + "\n")
