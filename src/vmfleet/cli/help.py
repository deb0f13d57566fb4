"""The click command behind ``vmfleet``, built once, with help that reads naturally.

typer (0.29, pinned) renders help for programmers: ``--home <str>``, ``VM... <list[str]>``,
usage lines such as ``{VM}...`` and ``[[SPEC]...]...``, and a command list whose one-line
summaries are cut at 45 characters with ``...``. Here every option that takes a value gets a
metavar that names what to write (``--home DIR``, ``--max-parallel N``), arguments show as
``VM...`` (required) and ``[SPEC]...`` (optional) without a type, and each command's summary is
its whole first sentence. The same command serves ``main()``, shell completion
(cli/completion.py) and the man page (scripts/man.py reads docs/reference.md, which
tests/unit/test_docs.py holds to this command).
"""

from __future__ import annotations

import functools
import re

import typer.main

# Options whose name alone would not say what to write.
METAVARS = {
    "--home": "DIR", "--file": "PATH", "--fleet": "@REF", "--on": "@TAG|NAME",
    "--out": "FILE", "--builder": "BUILDER", "--host": "HOST", "--name": "NAME",
    "--accel": "auto|kvm|tcg", "--network": "NET", "--image-type": "TYPE",
    "--ssh-user": "USER", "--pool": "POOL", "--pool-dir": "DIR", "--apply": "ID",
    "--channels": "PATH", "--system": "NAME=PATH", "--load-path": "DIR",
    "--fleet-file": "PATH", "--since": "DATE",
}


@functools.cache
def command():
    """vmfleet's click command (typer's, with the help fixed); built once per process."""
    from vmfleet.cli import app

    root = typer.main.get_command(app)
    _fix(root)
    return root


def walk(group, prefix: str = ""):
    """(full name, command) of every command, groups included, in name order."""
    for name, cmd in sorted(getattr(group, "commands", {}).items()):
        yield f"{prefix}{name}", cmd
        yield from walk(cmd, f"{prefix}{name} ")


def first_sentence(text: str) -> str:
    para = " ".join(inspect_clean(text).split("\n\n")[0].split())
    m = re.match(r"(.+?[.!?])(\s|$)", para)
    return (m.group(1) if m else para).rstrip(".")


def inspect_clean(text: str) -> str:
    import inspect

    return inspect.cleandoc(text or "")


def _fix(cmd) -> None:
    if cmd.help and not cmd.short_help:
        cmd.short_help = first_sentence(cmd.help)
    for p in cmd.params:
        if p.param_type_name == "argument":
            _fix_argument(p)
        elif p.param_type_name == "option" and not (p.is_flag or p.count) and not p.metavar:
            long = max(p.opts, key=len)
            p.metavar = METAVARS.get(long) or _derived(p, long)
    for _name, sub in sorted(getattr(cmd, "commands", {}).items()):
        _fix(sub)


def _derived(p, long: str) -> str:
    desc = getattr(p, "type_descriptor", None)
    if getattr(desc, "annotation", None) is int:
        return "N"
    return long.lstrip("-").upper()


def _fix_argument(p) -> None:
    bare = re.sub(r"[\[\]{}]|\.\.\.$", "", p.metavar or p.name.upper()).rstrip(".")
    p.metavar = bare
    many = "..." if p.nargs != 1 else ""
    usage = f"{bare}{many}" if p.required else f"[{bare}]{many}"
    # Instance attributes win over typer's methods: the help column and the usage line
    # show the argument as written here, without typer's type label.
    p.display_type_rich = lambda ctx=None: None
    p.display_type = lambda ctx=None: None
    p._rich_display_name = lambda: f"{bare}{many}"
    p._usage_display_name = lambda: usage
    p.make_metavar = lambda ctx=None: usage
