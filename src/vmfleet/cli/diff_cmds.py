"""Commands that read images: diff, inspect, adopt.

``diff`` exits like diff(1): 0 when the compared layers are equal, 1 when they differ, 2 on
an error. Operands are generation specs (their latest built image), image files, or
``vm:NAME`` (a running VM, over SSH).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from vmfleet import timeutil
from vmfleet.cli import options
from vmfleet.cli.app import app, home, lazy, open_registry, print_json, print_table, say
from vmfleet.cli.output import Progress, print_jsonl
from vmfleet.errors import UsageError

adopt_mod = lazy("vmfleet.adopt")
vm_access_mod = lazy("vmfleet.deploy.vm_access")
channel_diff_mod = lazy("vmfleet.diff.channel_diff")
compare_mod = lazy("vmfleet.diff.compare")
human_mod = lazy("vmfleet.diff.human")
json_out_mod = lazy("vmfleet.diff.json_out")
operands_mod = lazy("vmfleet.diff.operands")
facts_mod = lazy("vmfleet.inspect.facts")
report_mod = lazy("vmfleet.inspect.report")


JSON = options.json_flag()
JSONL = options.jsonl_flag()


def _vm_reader(files: bool, texts: bool):
    def read(name: str):
        return vm_access_mod.inspect_vm(open_registry(), home(), name, files=files, texts=texts)

    return read


@app.command()
def diff(
    a: str = typer.Argument(..., metavar="A", help="A generation spec, an image file or vm:NAME."),
    b: str = typer.Argument(..., metavar="B", help="The same kinds as A."),
    layers: str = typer.Option(None, "--layers",
                               help="Comma-separated: channels,config,inputs,packages,files (default: all)."),
    files: bool = typer.Option(False, "--files", help="Show a unified diff of changed text files."),
    text: bool = typer.Option(False, "--text", help="Show a unified diff of the two config files."),
    channel_repo: list[str] = typer.Option(
        [], "--channel-repo", metavar="NAME=PATH",
        help="A local clone of a channel, for commit dates and counts, and the commits --why "
             "names (repeatable). Default: the checkout guix time-machine keeps."),
    why: bool = typer.Option(False, "--why", help="Say why each package changed: channel "
                             "commits, config lines, grafts, the dependencies behind a rebuild."),
    content: bool = typer.Option(False, "--content", help="Compare the files of store items "
                                 "both images hold under the same name: identical, only "
                                 "references, or content (files, ELF sections)."),
    show_all: bool = typer.Option(False, "--all", help="List unchanged packages (and, with "
                                  "--content, identical items) too."),
    colour: options.Colour = options.colour(),
    as_json: bool = JSON,
) -> None:
    """Show what differs between two generations, images or VMs, layer by layer."""
    chosen = compare_mod.parse_layers(layers)
    repos = channel_diff_mod.parse_channel_repos(channel_repo)
    want_files = "files" in chosen
    sides = operands_mod.load_sides(a, b, files=want_files, texts=files, registry=open_registry,
                                vm_reader=_vm_reader(want_files, files))
    result = compare_mod.compare(sides[0], sides[1], layers=chosen, text=text, file_content=files,
                                 channel_repos=repos, why=why, content=content,
                                 show_all=show_all)
    if not result.compared:
        for s in result.skipped:
            say(f"{s.layer}: {s.reason}")
        raise UsageError("nothing to compare: every layer was skipped",
                         "build the generations first (vmfleet build SPEC), or choose --layers")
    if as_json:
        print_json(json_out_mod.to_json(result))
    else:
        sys.stdout.write(human_mod.render(result, colour=colour.wanted()))
    raise typer.Exit(0 if result.equal else 1)


@app.command()
def inspect(
    target: str = typer.Argument(..., metavar="TARGET",
                                 help="An image file, a generation spec (its image) or vm:NAME."),
    files: bool = typer.Option(False, "--files", help="Also list the files outside /gnu/store."),
    items: bool = typer.Option(False, "--items", help="Also list every store item with its size."),
    config: bool = typer.Option(False, "--config", help="Print the configuration.scm it carries."),
    as_json: bool = JSON,
) -> None:
    """What an image (or a generation's image, or a VM) is: provenance, packages, closure."""
    side = operands_mod.load_side(target, files=files, texts=False, registry=open_registry,
                              vm_reader=_vm_reader(files, False))
    facts = side.facts
    if facts is None:
        raise UsageError(f"{target} has no image to inspect",
                         side.missing.get("packages") or "build it first: vmfleet build SPEC")
    if config:
        if facts.configuration is None and side.config_text is not None:
            # no configuration.scm in the image (-e, or no provenance): the registry's record
            notes = side.notes
            if not notes and facts.provenance is not None and facts.provenance.expression:
                notes = (f"{facts_mod.expression_note(target)}: the config shown is the "
                         f"registry's record of {side.label}",)
            for n in notes:
                say(f"note: {n}")
            sys.stdout.write(side.config_text)
            return
        if facts.configuration is None:
            if facts.provenance is not None and facts.provenance.expression:
                raise UsageError(facts_mod.expression_note(target),
                                 "the registry knows no generation built into this image: "
                                 "the config is wherever the expression's module is")
            raise UsageError(f"{target} carries no configuration.scm",
                             facts_mod.NO_PROVENANCE_HINT)
        sys.stdout.write(facts.configuration)
        return
    if as_json:
        print_json(report_mod.facts_to_json(facts))
        return
    import shutil

    width = shutil.get_terminal_size((100, 20)).columns - 1
    sys.stdout.write(report_mod.render_facts(facts, items=items, files=files, width=width))
    for n in side.notes:
        say(f"note: {n}")
    for w in facts.warnings:
        say(f"warning: {w}")


@app.command()
def adopt(
    image: Path = typer.Argument(..., metavar="IMAGE", help="A qcow2 or raw image file."),
    system: str = typer.Option(..., "--system", help="The system to record it under."),
    current_from: str = options.date(
        "--current-from", None, "When it was current (default: when the image was built)."),
    file: list[str] = typer.Option(
        [], "--file", metavar="REL=PATH",
        help="Content for a local-file the config refers to, if the image lacks it."),
    message: str = typer.Option("", "--message", "-m", help="A note kept with the generation."),
    as_json: bool = JSON,
) -> None:
    """Record a generation from an image's provenance (channels.scm and configuration.scm)."""
    import os
    import posixpath

    from vmfleet.guix.input_files import DiskFiles

    extra = {}
    for item in file:
        rel, sep, local = item.partition("=")
        if not sep or not rel or not local:
            raise UsageError(f"bad --file {item!r}", "write REL=PATH, e.g. vmfleet.pub=./key.pub")
        norm = posixpath.normpath(rel)
        if norm.startswith("/") or norm == ".." or norm.startswith("../") or "\0" in rel:
            raise UsageError(f"--file {rel!r}: REL must be a path inside the config's directory",
                             "write the local-file name the config uses, e.g. "
                             "--file vmfleet.pub=./key.pub")
        local_path = os.path.abspath(os.path.expanduser(local))
        extra[norm] = DiskFiles([os.path.dirname(local_path)]).read(local_path, "--file").content
    reg = open_registry()
    result = adopt_mod.adopt_image(reg, image, system, current_from=current_from, files=extra,
                                     message=message)
    gen = result.generation
    if as_json:
        print_json({"generation": gen.label, "id": gen.id, "created": result.created,
                    "current_from": result.current_from,
                    "current_from_source": result.current_from_source,
                    "local_files": list(result.local_files), "pins": list(gen.pins)})
        return
    if result.created:
        say(f"recorded {gen.label}, current from {result.current_from} "
            f"({result.current_from_source})")
    else:
        say(f"already recorded as {gen.label}: same config, files and channels")
    sys.stdout.write(gen.label + "\n")


@app.command()
def check(
    specs: list[str] = typer.Argument(None, metavar="[SPEC]...",
                                      help="Generations to check (default with --all: every one)."),
    all_: bool = typer.Option(False, "--all", help="Check every recorded generation."),
    since: str = options.date("--since", None, "Only generations current at some time since this "
                              "date (2024-01, 2024-01-15)."),
    builder: str = typer.Option("local", "--builder",
                                help="local, or ssh://user@host[:port] (a Guix build host)."),
    timeout: float = options.duration("--timeout", None, "Give up a rebuild after this long: 3h."),
    notify: str = typer.Option(
        None, "--notify", metavar="CMD",
        help="Run this shell command once if a generation regressed: the findings as JSON on "
             "stdin, a one-line summary as $1."),
    as_json: bool = JSON,
    as_jsonl: bool = JSONL,
) -> None:
    """Rebuild generations ignoring the cache; exit 0 only when all are reproducible."""
    from vmfleet import check as check_mod

    options.one_format(as_json, as_jsonl)
    if not specs and not all_ and since is None:
        raise UsageError("nothing to check", "name generations (web@2023-10) or pass --all")
    if notify is not None and not notify.strip():
        raise UsageError("--notify needs a command", "e.g. --notify 'mail -s \"$1\" ops@example.org'")
    reg = open_registry()
    chosen = check_mod.select(reg, specs or [], all_=all_, since=since)
    if not chosen:
        raise UsageError("no generation matches", "see 'vmfleet generations'")
    results = []
    for gen in chosen:
        say(f"checking {gen.label} …")
        with Progress() as progress:
            result = check_mod.check_generation(reg, home(), gen, builder=builder,
                                                timeout=timeout, on_line=progress)
        results.append(result)
        if as_jsonl:  # each result as soon as it is known: a killed run keeps what it did
            print_jsonl([check_mod.to_json(result)])
        elif not as_json:
            sys.stdout.write(check_mod.summary_line(result) + "\n")
            if result.result == "drifted" and result.detail.get("diff_text"):
                sys.stdout.write("".join("    " + ln + "\n" for ln in
                                         result.detail["diff_text"].rstrip("\n").split("\n")))
    if as_json:
        print_json([check_mod.to_json(c) for c in results])
    if notify is not None:
        failed = check_mod.notify(notify, results)
        if failed:
            say(f"warning: --notify failed ({failed}); the check's result stands")
        elif check_mod.regressions(results):
            say("notified: " + check_mod.run_summary(results))
    bad = check_mod.regressions(results)
    raise typer.Exit(1 if bad else 0)


def _painted_result(c, colour: bool) -> str:
    from vmfleet.cli.output import paint_state

    painted = paint_state(str(c.result), colour)
    return painted.replace(str(c.result), c.description) if colour else c.description


@app.command()
def checks(
    system: str = typer.Argument(None, metavar="[SYSTEM]", help="Only this system's checks."),
    colour: options.Colour = options.colour(),
    as_json: bool = JSON,
    as_jsonl: bool = JSONL,
) -> None:
    """History of check results (reproducible, image-differs, drifted, fails)."""
    from vmfleet import check as check_mod

    options.one_format(as_json, as_jsonl)
    rows = check_mod.list_checks(open_registry(), system)
    if as_json or as_jsonl:
        (print_jsonl if as_jsonl else print_json)([check_mod.to_json(c) for c in rows])
        return
    print_table([(c.id, c.label, _painted_result(c, colour.wanted()), timeutil.show(c.started),
                  timeutil.show_duration(c.detail.get("seconds")), c.build_id,
                  c.reference_build_id) for c in rows],
                ["id", "generation", "result", "started (UTC)", "duration", "build", "reference"])
