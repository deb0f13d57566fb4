"""Shell completion for bash, zsh and fish: ``vmfleet completion SHELL`` prints a script that
asks ``vmfleet __complete WORD…`` (the words after ``vmfleet`` up to the one being typed) for
candidates, one per line. Commands, subcommands and options come from the CLI itself
(cli/help.py); specs, systems, VMs and hosts from the registry of the home the words name
(``--home``) or the default one. Completion never fails loudly: no registry, no candidates.
"""

from __future__ import annotations

import sys

from vmfleet.errors import UsageError

SHELLS = ("bash", "zsh", "fish")

SCRIPTS = {
    "bash": """\
# vmfleet completion for bash: eval "$(vmfleet completion bash)", e.g. in ~/.bashrc
_vmfleet_complete() {
    local IFS=$'\\n'
    COMPREPLY=( $(vmfleet __complete "${COMP_WORDS[@]:1:$COMP_CWORD}" 2>/dev/null) )
}
complete -o default -F _vmfleet_complete vmfleet
""",
    "zsh": """\
#compdef vmfleet
# vmfleet completion for zsh: eval "$(vmfleet completion zsh)", e.g. in ~/.zshrc (after compinit)
_vmfleet_complete() {
    local -a candidates
    candidates=("${(@f)$(vmfleet __complete "${(@)words[2,$CURRENT]}" 2>/dev/null)}")
    compadd -a candidates
}
compdef _vmfleet_complete vmfleet
""",
    "fish": """\
# vmfleet completion for fish: vmfleet completion fish > ~/.config/fish/completions/vmfleet.fish
complete -c vmfleet -f -a '(vmfleet __complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
""",
}

GLOBAL_VALUE_OPTIONS = ("--home",)
WHEN = ("auto", "always", "never")


def script(shell: str) -> str:
    if shell not in SCRIPTS:
        raise UsageError(f"no completion for shell {shell!r}", "use bash, zsh or fish")
    return SCRIPTS[shell]


def answer(words: list[str]) -> int:
    """Print the candidates for the last word; always exit 0 (a shell shows nothing else)."""
    try:
        found = candidates(words)
    except Exception:  # noqa: BLE001 - completion must never print a traceback into a shell
        found = []
    sys.stdout.write("".join(f"{c}\n" for c in found))
    return 0


def candidates(words: list[str]) -> list[str]:
    from vmfleet.cli import help

    words = list(words) or [""]
    current, before = words[-1], words[:-1]
    home_arg: str | None = None
    cmd, i = help.command(), 0
    path: list[str] = []
    positional: list[str] = []
    pending = None  # the option whose value is being typed
    while i < len(before):
        w = before[i]
        if pending is None and w.startswith("-"):
            opt = _option(cmd, w.split("=", 1)[0])
            if opt is not None and not (opt.is_flag or opt.count) and "=" not in w:
                if i + 1 < len(before):
                    if not path and w == "--home":
                        home_arg = before[i + 1]
                    i += 2
                    continue
                pending = opt
            i += 1
            continue
        sub = getattr(cmd, "commands", {}).get(w) if not positional else None
        if sub is not None:
            cmd, path = sub, [*path, w]
        else:
            positional.append(w)
        i += 1
    if pending is not None:
        return _match(current, _values(pending, home_arg))
    if current.startswith("-"):
        opts = [o for p in cmd.params if p.param_type_name == "option" and not p.hidden
                for o in (*p.opts, *p.secondary_opts)]
        return _match(current, sorted(set(opts)) + ["--help"])
    if hasattr(cmd, "commands"):
        return _match(current, [n for n, c in sorted(cmd.commands.items()) if not c.hidden])
    args = [p for p in cmd.params if p.param_type_name == "argument"]
    arg = _argument_at(args, len(positional))
    return _match(current, _arg_values(arg, current, home_arg)) if arg is not None else []


def _option(cmd, name: str):
    return next((p for p in cmd.params if p.param_type_name == "option"
                 and name in (*p.opts, *p.secondary_opts)), None)


def _argument_at(args, index: int):
    for a in args:
        if a.nargs == -1 or index == 0:
            return a
        index -= 1
    return None


def _match(prefix: str, values) -> list[str]:
    return [v for v in values if v.startswith(prefix)]


def _names(home_arg: str | None):
    from vmfleet.home import Home
    from vmfleet.registry import catalog
    from vmfleet.registry.db import Registry

    h = Home.locate(home_arg)
    if not h.registry.exists():
        return None
    reg = Registry.open(h.registry)
    try:
        return catalog.names(reg)
    finally:
        reg.close()


def _values(opt, home_arg: str | None) -> list[str]:
    long = max(opt.opts, key=len)
    if long in ("--color", "--colour"):
        return list(WHEN)
    if long == "--accel":
        return ["auto", "kvm", "tcg"]
    if long == "--host":
        n = _names(home_arg)
        return sorted({"local", *(n.hosts if n else [])})
    return []


def _arg_values(arg, current: str, home_arg: str | None) -> list[str]:
    kind = (arg.metavar or arg.name or "").upper()
    n = _names(home_arg)
    if n is None:
        return []
    systems = sorted(n.generations)
    specs = systems + ([f"{s}@{g}" for s in systems for g in n.generations[s]]
                       if "@" in current else [])
    if kind in ("VM",):
        return n.vms
    if kind in ("SYSTEM",):
        return systems
    if kind in ("SYSTEM|VM",):
        return systems + n.vms
    if kind in ("SPEC", "A", "B", "TARGET"):
        return specs + (n.vms if kind != "SPEC" else [])
    if kind in ("NAME",) and arg.name == "name":  # host remove NAME
        return n.hosts
    return []
