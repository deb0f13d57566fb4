"""Commands over the registry: init, import, add, systems, generations, show, resolve."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from vmfleet import timeutil
from vmfleet.cli import options
from vmfleet.cli.app import app, emit, home, open_registry, print_table, say
from vmfleet.errors import UsageError
from vmfleet.names import check_name
from vmfleet.registry import generations, spec
from vmfleet.registry import git_import as history
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation

JSON = options.json_flag()
JSONL = options.jsonl_flag()
LOAD_PATH = typer.Option(None, "-L", "--load-path",
                         help="A directory of Guile modules, as for guix system -L (repeatable).")
ALLOW_OUTSIDE = typer.Option(
    None, "--allow-outside", metavar="DIR",
    help="Also record files the config names inside DIR, outside its own folders (repeatable).")
STRICT = typer.Option(False, "--strict",
                      help="Refuse a config that names a file vmfleet cannot compute.")
CHANNEL_REPO = typer.Option(
    [], "--channel-repo", metavar="NAME=PATH",
    help="A local clone of pinned channel NAME, to check which modules it provides "
         "(repeatable; default: guix's own checkouts under ~/.cache/guix/checkouts).")


def _channel_sources(values: list[str]) -> dict:
    from vmfleet.diff.channel_diff import parse_channel_repos

    return parse_channel_repos(values)


@app.command()
def init() -> None:
    """Create the registry, vmfleet's state directory and its SSH key pair (idempotent)."""
    h = home()
    h.secure()
    existed = h.registry.exists()
    Registry.create(h.registry).close()
    from vmfleet.tools import ssh

    key = ssh.ensure_keypair(h.keys)
    say(f"{'registry already at' if existed else 'created registry at'} {h.registry}")
    say(f"vmfleet's SSH key: {key} (public half: 'vmfleet key')")


@app.command("import")
def import_(
    repo: Path = typer.Argument(..., help="A git checkout holding the configs."),
    system: list[str] = typer.Option(..., "--system", help="NAME=PATH of a config, relative to "
                                     "REPO (repeatable); NAME=PATH:VARIABLE builds a module's "
                                     "VARIABLE."),
    channels: str = typer.Option(..., "--channels", help="The pinned channels file, relative to REPO."),
    since: str = options.date("--since", None, "Only commits made at or after this date (2024-01, 2024-01-15)."),
    allow_unpinned: bool = typer.Option(False, "--allow-unpinned", help="Record channels without a commit."),
    load_path: list[str] = typer.Option(
        None, "-L", "--load-path",
        help="A directory of Guile modules, relative to REPO, as for guix system -L (repeatable)."),
    strict: bool = STRICT,
    channel_repo: list[str] = CHANNEL_REPO,
    channels_before: Path = typer.Option(
        None, "--channels-before", help="A channels file for the commits made before "
        "the repository had one (they are otherwise reported and skipped)."),
    allow_outside: list[str] = ALLOW_OUTSIDE,
    fleet_file: str = typer.Option(None, "--fleet-file", help="The fleet file, relative to REPO "
                                   "(default: fleet.toml at the repository root, if committed)."),
    as_json: bool = JSON,
) -> None:
    """Record a generation for every commit that changed a system's inputs (and a version for
    every commit that changed the fleet file)."""
    from vmfleet.guix.channel_modules import default_cache_dir

    pairs = [_name_path(s) for s in system]
    repos = _channel_sources(channel_repo)
    before = _read_channels_before(channels_before) if channels_before else None
    reg = open_registry()
    results = [history.import_system(reg, repo, name, path, channels, since=since,
                                     allow_unpinned=allow_unpinned, load_path=load_path or (),
                                     strict=strict, variable=variable, channel_repos=repos,
                                     checkouts=default_cache_dir(), channels_before=before,
                                     allow_outside=allow_outside or ())
               for name, path, variable in pairs]
    for r in results:
        for note in r.unverified:
            say(f"warning: {r.system}: {note}")
        for skip in r.skips:
            say(f"warning: {r.system}: skipped {skip}")
        skipped = sum(s.count for s in r.skips)
        say(f"{r.system}: {_count(r.commits_seen, 'commit')}, "
            f"{_count(len(r.recorded), 'new generation')}"
            + (f", {skipped} skipped" if skipped else "")
            + (" (up to date)" if r.up_to_date else ""))
    out = [{"system": r.system, "commits": r.commits_seen, "recorded": list(r.recorded),
            "skipped": list(r.skipped), "skips": [s.to_dict() for s in r.skips],
            "up_to_date": r.up_to_date, "unverified": list(r.unverified)} for r in results]
    fleet = _import_fleet(reg, repo, fleet_file)
    if fleet is not None:
        for line in fleet.skipped:
            say(f"warning: fleet file: skipped {line}")
        say(f"fleet file {fleet.path}: {_count(fleet.commits_seen, 'commit')}, "
            f"{_count(len(fleet.recorded), 'new version')}")
        out.append({"fleet_file": fleet.path, "commits": fleet.commits_seen,
                    "recorded": list(fleet.recorded), "skipped": list(fleet.skipped)})
    emit(out, as_json, lambda v: None)
    unread = [f"{r.system}: none of its {r.commits_seen} commits could be read"
              for r in results if r.commits_seen and not r.read]
    if fleet is not None and fleet.skipped and not fleet.read:
        unread.append(f"fleet file {fleet.path}: none of its {len(fleet.skipped)} versions could be read")
    if unread:
        raise UsageError(", ".join(unread),
                         "the warnings above say why each commit was skipped; fix the config "
                         "or fleet file in a new commit and import again")


def _count(n: int, noun: str) -> str:
    """'1 new version', '2 new versions'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _read_channels_before(path: Path) -> str:
    from vmfleet.guix import input_files

    files = input_files.DiskFiles([str(path.absolute().parent)], input_files.Limits.from_env())
    data = files.read(str(path.absolute()), "channels file")
    try:
        return data.content.decode()
    except UnicodeDecodeError:
        raise UsageError(f"--channels-before {path}: not a text file",
                         "give a channels file (guix describe -f channels)") from None


def _import_fleet(reg, repo: Path, fleet_file: str | None):
    """The fleet file's versions (vmfleet.fleet.history), when named or at the repo root."""
    from vmfleet.fleet import history as fleet_history

    if fleet_file is None:
        root = history.repo_root(repo)
        if not history.tree_state(root, "HEAD", [fleet_history.DEFAULT_PATH]):
            return None
        fleet_file = str(root / fleet_history.DEFAULT_PATH)
    return fleet_history.import_fleet(reg, repo, fleet_file)


@app.command()
def add(
    system: str = typer.Argument(..., help="System name ([a-z0-9][a-z0-9-]*)."),
    config: Path = typer.Argument(..., help="The operating-system config file."),
    channels: Path = typer.Option(..., "--channels", help="The pinned channels file."),
    at: str = options.date("--at", None, "When it became current (default: now), e.g. 2024-01-15."),
    message: str = typer.Option("", "-m", "--message", help="Why it changed."),
    allow_unpinned: bool = typer.Option(False, "--allow-unpinned", help="Record channels without a commit."),
    load_path: list[str] = LOAD_PATH,
    strict: bool = STRICT,
    channel_repo: list[str] = CHANNEL_REPO,
    variable: str = typer.Option(None, "--variable", help="For a module: the variable that "
                                 "holds the operating-system (built with -e)."),
    allow_outside: list[str] = ALLOW_OUTSIDE,
    as_json: bool = JSON,
) -> None:
    """Record a config, every file it reads and its channels as a new generation (no-op when
    nothing changed)."""
    from vmfleet.guix.channel_modules import default_cache_dir

    check_name(system)
    when = at or timeutil.now()
    if when > timeutil.now():
        raise UsageError(f"--at {at} is in the future",
                         "a generation is current from when it was recorded or earlier")
    inputs = generations.read_inputs(config, channels, load_path=load_path or (), strict=strict,
                                     variable=variable,
                                     channel_repos=_channel_sources(channel_repo),
                                     checkouts=default_cache_dir(),
                                     allow_outside=allow_outside or ())
    analysis = generations.analyse(inputs, config_label=str(config), channels_label=str(channels))
    reg = open_registry()
    gen, created = generations.record(reg, system, inputs, current_from=when, source="manual",
                                      message=message, allow_unpinned=allow_unpinned,
                                      analysis=analysis)
    for w in (*inputs.unverified, *inputs.warnings):
        say(f"warning: {w}")
    if inputs.warnings:
        say(f"warning: {gen.label} is recorded with its inputs incomplete; --strict refuses this")
    say(f"recorded {gen.label}" if created else f"unchanged: {gen.label} has the same inputs")
    emit(_gen_json(gen) | {"created": created}, as_json, lambda v: None)


@app.command()
def systems(as_json: bool = JSON, as_jsonl: bool = JSONL) -> None:
    """List systems: generations, newest, current channel commit(s)."""
    reg = open_registry()
    rows = []
    for name in generations.system_names(reg):
        s = {"name": name}
        gens = generations.list_for(reg, name)
        newest = spec.resolve(reg, name) if gens else None
        rows.append({
            "name": s["name"], "generations": len(gens),
            "newest": newest.number if newest else None,
            "newest_from": newest.current_from if newest else None,
            "channels": {p["name"]: p.get("commit") for p in newest.pins} if newest else {},
        })
    emit(rows, as_json, lambda rs: print_table(
        [[r["name"], r["generations"], f"{r['name']}@{r['newest']}" if r["newest"] else None,
          timeutil.show(r["newest_from"]),
          " ".join(f"{k}:{(v or 'unpinned')[:12]}" for k, v in r["channels"].items())] for r in rs],
        ["system", "generations", "newest", "since", "channels"]), as_jsonl=as_jsonl)


@app.command("generations")
def generations_(system: str = typer.Argument(..., help="System name."), as_json: bool = JSON,
                 as_jsonl: bool = JSONL) -> None:
    """List a system's generations: number, date, git commit, guix commit, what changed."""
    reg = open_registry()
    gens = generations.list_for(reg, system)
    rows = []
    previous = None
    for g in sorted(gens, key=lambda g: (g.current_from, g.number)):
        change = generations.describe_change(
            previous, g, generations.input_changes(reg, previous, g) if previous else None)
        if g.incomplete:
            change = "[inputs incomplete] " + change
        rows.append(_gen_json(g) | {"change": change})
        previous = g
    emit(rows, as_json, lambda rs: print_table(
        [[r["generation"], timeutil.show(r["current_from"]), (r["git_commit"] or r["source"])[:10],
          (r["guix_commit"] or "unpinned")[:10], r["change"]] for r in rs],
        ["gen", "current from (UTC)", "commit", "guix", "change"]), as_jsonl=as_jsonl)


@app.command()
def show(
    spec_text: str = typer.Argument(..., metavar="SPEC", help="A generation spec, e.g. web@2023-10."),
    config: bool = typer.Option(False, "--config", help="Print the config text."),
    channels: bool = typer.Option(False, "--channels", help="Print the channels text."),
    files: bool = typer.Option(False, "--files", help="List the local files the config refers to."),
    inputs_: bool = typer.Option(False, "--inputs", help="List every recorded input: config, "
                                 "modules, included and local files (path, size, sha256)."),
    as_json: bool = JSON,
) -> None:
    """Show one generation: its dates, source, pins, summary; or its config, channels or files."""
    reg = open_registry()
    gen = spec.resolve(reg, spec_text)
    inputs = generations.inputs_of(reg, gen)
    if config:
        sys.stdout.write(inputs.config_text)
        return
    if channels:
        sys.stdout.write(inputs.channels_text)
        return
    file_rows: list[dict[str, Any]] = [{"path": p, "size": len(c), "sha256": generations.sha256(c)}
                 for p, c in sorted(inputs.files.items())]
    if inputs_:
        config_bytes = inputs.config_text.encode()
        rows = [{"role": "config", "path": inputs.config_name, "size": len(config_bytes),
                 "sha256": generations.sha256(config_bytes), "mode": "0644"}]
        rows += [{"role": inputs.roles.get(r["path"], "local-file"), **r,
                  "mode": f"{inputs.modes.get(r['path'], 0o644):04o}"} for r in file_rows]
        emit(rows, as_json, lambda rs: print_table(
            [[r["role"], r["path"], r["size"], r["mode"], r["sha256"][:16]] for r in rs],
            ["role", "path", "size", "mode", "sha256"]))
        if gen.warnings and not as_json:
            for w in gen.warnings:
                say(f"warning: inputs incomplete: {w}")
        return
    if files:
        emit(file_rows, as_json, lambda rs: print_table(
            [[r["path"], r["size"], r["sha256"][:16]] for r in rs], ["path", "size", "sha256"]))
        return
    data = _gen_json(gen) | {"pins": list(gen.pins), "summary": gen.summary, "files": file_rows}
    emit(data, as_json, _print_generation)


@app.command()
def resolve(spec_text: str = typer.Argument(..., metavar="SPEC", help="A generation spec."),
            as_json: bool = JSON) -> None:
    """Print which generation a spec names."""
    gen = spec.resolve(open_registry(), spec_text)
    emit(_gen_json(gen), as_json, lambda d: sys.stdout.write(
        f"{gen.label}  current from {gen.current_from}  {(gen.git_commit or gen.source)[:12]}\n"))


def _gen_json(g: Generation) -> dict:
    return {"system": g.system, "generation": g.number, "label": g.label,
            "current_from": g.current_from, "source": g.source, "git_commit": g.git_commit,
            "message": g.message, "guix_commit": g.guix_commit, "unpinned": g.unpinned,
            "config": g.config_path, "inputs_sha256": g.inputs_sha256,
            "load_path": list(g.layout.get("load_path", [])), "expression": g.layout.get("expression"),
            "allow_outside": list(g.layout.get("allow_outside", [])),
            "inputs_incomplete": g.incomplete, "warnings": list(g.warnings)}


def _print_generation(d: dict) -> None:
    s = d["summary"]
    inherited = s.get("inherits")

    def field(key: str, name: str) -> str:
        if s.get(key) is None and inherited:
            return f"{name} inherited from {inherited}"
        return f"{name} {_scheme(s.get(key))}"

    def listed(key: str) -> str:
        if not s.get(key) and inherited and key not in s.get("fields", {}):
            return f"inherited from {inherited}"
        return "-"

    source = f"{d['source']} {d['git_commit'] or ''} {d['message']}".rstrip()
    if d["source"] == history.SOURCE_CHANNELS_BEFORE:
        source += "  (channels from --channels-before: the repository had no channels file yet)"
    packages = [*s.get("packages", []),
                *(f"{p} (conditional)" for p in s.get("packages_conditional", [])),
                *(f"{p} (removed)" for p in s.get("packages_removed", []))]
    lines = [
        f"{d['label']}  current from {d['current_from']}",
        f"source:    {source}",
        f"config:    {d['config']}  ({field('host_name', 'host-name')}, "
        f"{field('timezone', 'timezone')})"
        + ("  [partial: the file's value is computed; this is what vmfleet could read]"
           if s.get("partial") else ""),
        "channels:  " + "; ".join(f"{p['name']} {p.get('commit') or 'UNPINNED'} ({p.get('url')})"
                                  for p in d["pins"]),
        "packages:  " + (", ".join(packages) or listed("packages")),
        "services:  " + (", ".join(_service_word(x) for x in s.get("services", []))
                         or listed("services")),
        "files:     " + (", ".join(f["path"] for f in d["files"]) or "-"),
    ]
    for note in s.get("channel_modules_not_verified", []):
        lines.append(f"note:      {note}")
    if d["load_path"] or d["expression"]:
        lines.append("load path: " + (" ".join(f"-L {p}" for p in d["load_path"]) or "-")
                     + (f"  (built with -e {d['expression']})" if d["expression"] else ""))
    if d["allow_outside"]:
        lines.append("outside:   files read from " + ", ".join(d["allow_outside"])
                     + " (--allow-outside)")
    if d["inputs_incomplete"]:
        lines.append("inputs:    INCOMPLETE: " + "; ".join(d["warnings"]))
    sys.stdout.write("\n".join(lines) + "\n")


_SERVICE_MARKS = {"deleted": "removed", "conditional": "conditional", "modified": "modified"}


def _service_word(x: dict) -> str:
    """A service as the JSON's ``kind`` says: removed (``delete``, ``remove``), conditional
    (one branch of an ``if``), modified (a ``modify-services`` clause)."""
    mark = _SERVICE_MARKS.get(x.get("kind", ""))
    return f"{x['type']} ({mark})" if mark else x["type"]


def _scheme(value: str | None) -> str:
    """A summary's text field as Scheme: a string literal, or ``#f`` when absent."""
    from vmfleet.guix.reader import render

    return "#f" if value is None else render(value)


def _name_path(text: str) -> tuple[str, str, str | None]:
    """``NAME=PATH`` or ``NAME=PATH:VARIABLE`` (a module's variable that is the OS)."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise UsageError(f"--system {text!r}: expected NAME=PATH", "e.g. --system web=systems/web.scm")
    file, colon, variable = path.rpartition(":")
    if colon and file and variable and "/" not in variable:
        return name, file, variable
    return name, path, None
