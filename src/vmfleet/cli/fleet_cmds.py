"""Commands over the declared fleet: plan, apply, fleet show, fleet history, fleet applies."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from vmfleet import timeutil
from vmfleet.cli import options
from vmfleet.cli.app import app, emit, home, lazy, open_registry, print_json, print_table, say
from vmfleet.cli.confirm import confirm
from vmfleet.cli.output import paint_state
from vmfleet.errors import UsageError, VmfleetError

fleet_file_mod = lazy("vmfleet.fleet.file")
fleet_history_mod = lazy("vmfleet.fleet.history")
plan_mod = lazy("vmfleet.fleet.plan")
apply_mod = lazy("vmfleet.fleet.apply")

JSON = options.json_flag()
JSONL = options.jsonl_flag()
FILE = typer.Option(None, "--file", "-f", help="The fleet file (default: ./fleet.toml).")
FLEET = typer.Option(None, "--fleet", help="The fleet as it was: @DATE (2023-10, 2023-10-15), "
                     "@N (version) or @COMMIT, from the recorded history.")
ON = typer.Option(None, "--on", help="Only these VMs: @TAG or a name (repeatable, or "
                  "comma-separated).")
PRUNE = typer.Option(False, "--prune", help="Remove running VMs that are not in the fleet.")

fleet_app = typer.Typer(help="The declared fleet: its file, its history, its applies.",
                        no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")

SIGNS = {"create": "+", "replace": "~", "start": ">", "keep": "=", "finish": "*",
         "remove": "-", "unknown": "?"}


def _load(reg, file: str | None, fleet: str | None):
    """(fleet file, source) from --file or --fleet."""
    if file and fleet:
        raise UsageError("give --file or --fleet, not both",
                         "--fleet @DATE reads the recorded history, --file a file on disk")
    if fleet:
        parsed, _version, _pin = fleet_history_mod.fleet_at(reg, fleet)
        return parsed, {"ref": fleet}
    path = Path(file or "fleet.toml")
    return fleet_file_mod.read(path), {"path": str(path.resolve())}


def _make_plan(reg, file, fleet, on, prune, packages=True):
    parsed, source = _load(reg, file, fleet)
    return plan_mod.make_plan(reg, home(), parsed, source=source, on=on or (), prune=prune,
                              packages=packages)


def _plan_again(reg, saved):
    """The plan of now, from what a saved plan was made from."""
    source = saved.source
    if "ref" in source:
        return _make_plan(reg, None, source["ref"], list(saved.on), saved.prune)
    return _make_plan(reg, source.get("path"), None, list(saved.on), saved.prune)


COLOURS = {"create": "32", "replace": "33", "start": "36", "finish": "36", "remove": "31",
           "unknown": "35", "keep": "2", "DOWNGRADE": "1;31", "drift": "35"}


def paint(text: str, kind: str, colour: bool) -> str:
    code = COLOURS.get(kind)
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def render_plan(plan, colour: bool = False) -> None:
    out = []
    counts = {k: v for k, v in plan.counts().items() if v}
    out.append(f"{plan.fleet}: " + (", ".join(f"{n} {a}" for a, n in counts.items())
                                    or "no VMs selected"))
    def gen_of(s) -> str:
        return (f"{s.current} → {s.target}" if s.action.value == "replace" and s.current
                else s.target or s.current or "-")

    width = max((len(s.name) for s in plan.steps), default=4)
    gen_width = max((len(gen_of(s)) for s in plan.steps), default=4)
    for s in plan.steps:
        gen = gen_of(s)
        where = (f"{s.vm_host} → {s.host}" if s.vm_host and s.vm_host != s.host else s.host)
        act = s.action.value
        line = (f"  {paint(SIGNS[act] + ' ' + f'{s.name:<{width}}', act, colour)} "
                f"{paint(f'{act:<8}', act, colour)} {gen:<{gen_width}} on {where}")
        extras = []
        if s.downgrade:
            extras.append(paint("DOWNGRADE", "DOWNGRADE", colour))
        if s.cause:
            extras.append(paint(s.cause, "drift", colour))
        if s.action.value in ("replace", "create", "start", "finish", "remove"):
            extras += [r for r in s.reasons if not r.startswith("generation ")]
        if s.packages:
            extras.append(s.packages)
        if s.retire or s.discard:
            extras.append("leftovers: " + ", ".join([*(f"retire {n}" for n in s.retire),
                                                     *(f"remove {n}" for n in s.discard)]))
        if s.note:
            extras.append(s.note)
        out.append(line.rstrip() + ("   " + "; ".join(extras) if extras else ""))
    sys.stdout.write("\n".join(out) + "\n")
    for host, why in sorted(plan.unreachable.items()):
        say(f"warning: host {host} did not answer: {why}")
    if plan.unmanaged:
        say(f"not in the fleet (left alone; --prune removes them): {', '.join(plan.unmanaged)}")
    if plan.interrupted_apply:
        say(f"apply {plan.interrupted_apply} was interrupted; 'vmfleet apply' finishes it")


@app.command()
def plan(
    file: str = FILE,
    fleet: str = FLEET,
    on: list[str] = ON,
    prune: bool = PRUNE,
    out: Path = typer.Option(None, "--out", help="Also save the plan (JSON) for 'vmfleet apply "
                             "FILE'."),
    no_packages: bool = typer.Option(False, "--no-packages", help="Skip the package summary "
                                     "of replacements (it reads both images)."),
    colour: options.Colour = options.colour(),
    as_json: bool = JSON,
) -> None:
    """What apply would do: create, replace, start, keep or remove each VM of the fleet.

    Exit status: 0 nothing would change, 1 something would, 2 error or a host did not answer.
    """
    reg = open_registry()
    p = _make_plan(reg, file, fleet, on, prune, packages=not no_packages)
    data = plan_mod.to_json(p)
    if out is not None:
        out.write_text(json.dumps(data, indent=2) + "\n")
        say(f"plan saved to {out} (apply it: vmfleet apply {out})")
    if as_json:
        print_json(data)
    else:
        render_plan(p, colour=colour.wanted())
    raise typer.Exit(p.exit_code)


@app.command()
def apply(
    plan_file: Path = typer.Argument(None, metavar="[PLAN]", help="A plan saved by 'vmfleet "
                                     "plan --out' (refused if anything changed since)."),
    file: str = FILE,
    fleet: str = FLEET,
    on: list[str] = ON,
    prune: bool = PRUNE,
    max_parallel: int = typer.Option(4, "--max-parallel", help="VMs deployed at once in total."),
    max_per_host: int = typer.Option(2, "--max-per-host", help="VMs deployed at once on one host."),
    build_jobs: int = typer.Option(2, "--build-jobs", help="Images built at once."),
    keep_going: bool = typer.Option(False, "--keep-going", help="On a failure, go on with the "
                                    "other VMs instead of stopping and rolling back."),
    timeout: float = options.duration("--timeout", "5m", "How long each VM gets to answer SSH."),
    health_timeout: float = options.duration("--health-timeout", "60s", "How long a health "
                                             "command may keep failing after boot."),
    builder: str = typer.Option(None, "--builder", help="Where to build images: local or "
                                "ssh://user@host[:port]."),
    allow_downgrade: bool = typer.Option(False, "--allow-downgrade", help="Allow moving VMs "
                                         "to older generations."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (needed "
                             "without a terminal)."),
    colour: options.Colour = options.colour(),
    as_json: bool = JSON,
) -> None:
    """Bring the hosts to the fleet: build, place, replace (healthy before the old VM retires),
    roll back on failure. Prints the plan it executes, then asks on a terminal (--yes: does
    not). Exit 0 done, 1 a VM failed or the answer was no."""
    reg = open_registry()
    if plan_file is not None:
        if file or fleet or on or prune:
            raise UsageError("a saved plan already says which fleet, VMs and --prune",
                             f"run 'vmfleet apply {plan_file}' alone")
        try:
            saved = plan_mod.from_json(json.loads(plan_file.read_text()))
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read the plan {plan_file}: {e}",
                             "make one: vmfleet plan --out FILE") from None
        p = _plan_again(reg, saved)
        apply_mod.check_fresh(saved, p)
    else:
        p = _make_plan(reg, file, fleet, on, prune)
    if not as_json:
        render_plan(p, colour=colour.wanted())
    apply_mod.check_downgrades(p, allow_downgrade)
    if p.changes:
        n = len(p.changes)
        confirm("Apply?", yes=yes, what=f"applying {n} change{'s' if n != 1 else ''}")
    view = Progress(p, live=sys.stderr.isatty() and not as_json, colour=colour.wanted())
    try:
        result = apply_mod.apply(
            reg, home(), p, max_parallel=max_parallel, per_host=max_per_host,
            build_jobs=build_jobs, keep_going=keep_going, timeout=timeout,
            health_timeout=health_timeout, builder=builder, allow_downgrade=allow_downgrade,
            progress=view.update)
    finally:
        view.close()
    emit(result, as_json, lambda r: _render_result(r, colour.wanted()))
    raise typer.Exit(0 if result.ok else 1)


def _render_result(result, colour: bool = False) -> None:
    print_table([(o.name, o.action, paint_state(o.result, colour), o.vm, o.generation, o.host,
                  timeutil.show_duration(o.seconds),
                  o.detail) for o in result.outcomes],
                ["vm", "action", "result", "runs", "generation", "host", "time", "detail"])
    say(f"apply {result.apply_id}: {result.status} in {timeutil.show_duration(result.seconds)} "
        f"(steps: vmfleet log --apply {result.apply_id})")


class Progress:
    """Per-VM progress on stderr: on a terminal one line per VM, rewritten in place, each
    result coloured as the result table colours it; piped, one plain line per change."""

    def __init__(self, plan, live: bool, colour: bool = False):
        self.live, self.colour = live, colour
        self.names = [s.name for s in plan.steps if s.action.value not in ("keep",)]
        self.state = {n: "" for n in self.names}
        self.width = max((len(n) for n in self.names), default=4)
        self.drawn = 0

    def update(self, name: str, text: str) -> None:
        if not self.live:
            sys.stderr.write(f"{name}: {text}\n")
            sys.stderr.flush()
            return
        if name not in self.state:
            self.names.append(name)
        self.state[name] = text
        self._draw()

    def _draw(self) -> None:
        import shutil

        cols = shutil.get_terminal_size((100, 20)).columns
        room = max(cols - 1 - self.width - 2, 0)
        lines = [f"{n:<{self.width}}  {paint_state(self.state[n][:room], self.colour)}"
                 for n in self.names]
        buf = ("\x1b[F" * self.drawn) + "".join(f"\x1b[2K{line}\n" for line in lines)
        sys.stderr.write(buf)
        sys.stderr.flush()
        self.drawn = len(lines)

    def close(self) -> None:
        pass


@fleet_app.command("show")
def fleet_show(file: str = FILE, fleet: str = FLEET, as_json: bool = JSON) -> None:
    """The fleet file (or the fleet of a date) as vmfleet reads it, each system resolved."""
    reg = open_registry()
    parsed, _source = _load(reg, file, fleet)
    from vmfleet.registry import spec

    rows = []
    for v in parsed.vms:
        try:
            resolved = spec.resolve(reg, v.system).label
        except VmfleetError as e:  # shown, not raised: show lists what it can
            resolved = f"? ({e.message})"
        rows.append({"name": v.name, "system": v.system, "generation": resolved,
                     "host": v.host, "memory_mib": v.memory_mib, "vcpus": v.vcpus,
                     "accel": v.accel, "tags": list(v.tags), "health": v.health,
                     "line": v.line})

    def human(d: dict) -> None:
        say(d["fleet"])
        print_table(
            [(r["name"], r["system"], r["generation"], r["host"], f"{r['memory_mib']}M",
              r["vcpus"], ",".join(r["tags"]), r["health"]) for r in d["vms"]],
            ["vm", "system", "generation", "host", "memory", "vcpus", "tags", "health"])

    emit({"fleet": parsed.label, "sha256": parsed.sha256, "vms": rows}, as_json, human)


@fleet_app.command("history")
def fleet_history(as_json: bool = JSON, as_jsonl: bool = JSONL) -> None:
    """Every recorded version of the fleet file, with what changed."""
    entries = fleet_history_mod.history(open_registry())
    emit(entries, as_json, lambda es: print_table(
        [(f"@{e.number}", timeutil.show(e.current_from), (e.git_commit or "-")[:10],
          e.vms, e.change) for e in es], ["version", "current from (UTC)", "commit", "vms",
                                          "change"]), as_jsonl=as_jsonl)


@fleet_app.command("applies")
def fleet_applies(colour: options.Colour = options.colour(), as_json: bool = JSON,
                  as_jsonl: bool = JSONL) -> None:
    """Every apply: when, by whom, its outcome (an apply killed shows as interrupted)."""
    records = apply_mod.list_applies(open_registry(), home())
    emit(records, as_json, lambda rs: print_table(
        [(r.id, timeutil.show(r.started), r.user, paint_state(r.status, colour.wanted()),
          r.summary) for r in rs],
        ["apply", "started (UTC)", "user", "status", "outcome"]), as_jsonl=as_jsonl)


@app.command()
def completion(shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh or fish.")) -> None:
    """Print the shell completion script for bash, zsh or fish (commands, options, specs and
    VM names from the registry)."""
    from vmfleet.cli import completion as completion_mod

    sys.stdout.write(completion_mod.script(shell))
