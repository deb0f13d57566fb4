"""The ``guix`` command line, as much of it as vmfleet uses (see tests/standin/README.md).

``guix --version``, ``guix describe [-f channels|channels-sans-intro|json|human]``,
``guix system --list-image-types``, ``guix system image|vm-image [options] CONFIG``,
``guix build [--check] DRV…`` (of the .drv files ``system image`` writes) and
``guix time-machine [-C FILE] [-q] [--commit=C] [--url=U] [--branch=B] -- COMMAND …``.
stdout carries only the result (a store file name); everything else goes to stderr; every
handled error exits with status 1.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
from pathlib import Path

from . import channels as chans
from . import history, osconfig, settings
from .build import Build, ImageOptions, say
from .channels import Travel
from .errors import GuixError, Unsupported

# Options of `guix system` that take an argument, and those that do not; the stand-in
# accepts the common build options and ignores those that change nothing here.
_SYSTEM_ARG_OPTS = {"-t": "image-type", "--image-type": "image-type",
                    "--image-size": "image-size", "-r": "root", "--root": "root",
                    "-c": "ignore", "--cores": "ignore", "-M": "ignore", "--max-jobs": "ignore",
                    "-v": "ignore", "--verbosity": "ignore", "--timeout": "ignore",
                    "--max-silent-time": "ignore", "-L": "load-path", "--load-path": "load-path",
                    "-s": "ignore", "--system": "ignore", "--target": "ignore",
                    "--file-system-type": "ignore", "--label": "ignore",
                    "--substitute-urls": "ignore", "-e": "expression", "--expression": "expression"}
_SYSTEM_FLAGS = {"--save-provenance": "save-provenance", "-d": "derivation",
                 "--derivation": "derivation", "-n": "dry-run", "--dry-run": "dry-run",
                 "--list-image-types": "list-image-types",
                 "--no-grafts": "ignore", "--fallback": "ignore", "--no-substitutes": "ignore",
                 "--no-offload": "ignore", "-K": "ignore", "--keep-failed": "ignore",
                 "-k": "ignore", "--keep-going": "ignore", "-q": "ignore", "--quiet": "ignore",
                 "--skip-checks": "ignore", "--volatile": "ignore", "--persistent": "ignore"}
_ACTIONS = ("search", "edit", "reconfigure", "roll-back", "describe", "switch-generation",
            "delete-generations", "build", "container", "vm", "image", "docker-image",
            "init", "extension-graph", "shepherd-graph", "list-generations", "vm-image",
            "disk-image")


def _options(args: list[str], program: str, with_arg: dict, flags: dict):
    """SRFI-37-like option parsing: ``--opt=V``, ``--opt V``, ``-xV``, ``-x V``."""
    opts: list[tuple[str, str | None]] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            rest += args[i:]
            break
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            if name in with_arg:
                if not eq:
                    if i >= len(args):
                        raise GuixError(f"{name}: option requires an argument", program=program)
                    value = args[i]
                    i += 1
                opts.append((with_arg[name], value))
            elif name in flags and not eq:
                opts.append((flags[name], None))
            else:
                # SRFI-37 names the option without its "=VALUE"
                raise GuixError(f"{name[2:]}: unrecognized option", program=program)
        elif a.startswith("-") and len(a) > 1:
            name = a[:2]
            if name in with_arg:
                value = a[2:]
                if not value:
                    if i >= len(args):
                        raise GuixError(f"{name}: option requires an argument", program=program)
                    value = args[i]
                    i += 1
                opts.append((with_arg[name], value))
            elif a in flags:
                opts.append((flags[a], None))
            else:
                raise GuixError(f"{a[1]}: unrecognized option", program=program)
        else:
            rest.append(a)
    return opts, rest


# --- describe / version ---------------------------------------------------------------------


def describe(args: list[str], travel: Travel) -> int:
    opts, rest = _options(args, "guix describe", {"-f": "format", "--format": "format",
                                                   "-p": "profile", "--profile": "profile"},
                          {"--list-formats": "list"})
    fmt = "human"
    for key, value in opts:
        if key == "format":
            fmt = value
        elif key == "list":
            print("The available formats are:\n\n  - human\n  - channels\n"
                  "  - channels-sans-intro\n  - json\n  - recutils")
            return 0
    if fmt == "channels":
        sys.stdout.write(chans.channels_scm(travel.channels))
    elif fmt == "channels-sans-intro":
        sys.stdout.write(chans.channels_scm(travel.channels, introductions=False))
    elif fmt == "json":
        sys.stdout.write(chans.channels_json(travel.channels))
    elif fmt == "recutils":
        for c in travel.channels:
            print(f"name: {c.name}\nurl: {c.url}\ncommit: {c.commit}\n")
    elif fmt == "human":
        date = travel.revision.date.strftime("%b %d %Y %H:%M:%S")
        print(f"Generation 1\t{date}\t(current)")
        for c in travel.channels:
            print(f"  {c.name} {c.commit[:7]}\n    repository URL: {c.url}")
            if c.branch:
                print(f"    branch: {c.branch}")
            print(f"    commit: {c.commit}")
    else:
        raise GuixError(f"{fmt}: unsupported output format", program="guix describe",
                        hints=("Run `guix describe --list-formats' to list the formats.",))
    return 0


def version(travel: Travel) -> int:
    print(f"guix (GNU Guix) {travel.revision.commit}\n"
          "Copyright (C) 2025 the Guix authors\n"
          "License GPLv3+: GNU GPL version 3 or later <http://gnu.org/licenses/gpl.html>\n"
          "This is free software: you are free to change and redistribute it.\n"
          "There is NO WARRANTY, to the extent permitted by law.")
    return 0


# --- system ----------------------------------------------------------------------------------


def system(args: list[str], travel: Travel) -> int:
    rev = travel.revision
    flags = dict(_SYSTEM_FLAGS)
    arg_opts = dict(_SYSTEM_ARG_OPTS)
    if not rev.has("image-type-option"):
        # before 313f492657f (2020-09-30) -t is --file-system-type, which vm-image ignores
        # (system-qemu-image takes no file system type: guix/scripts/system.scm at v1.0.0)
        del flags["--list-image-types"], arg_opts["--image-type"]
        arg_opts["-t"] = "ignore"
    else:
        del arg_opts["--file-system-type"]
    if not rev.has("save-provenance"):        # b85836d3067, guix/scripts/system.scm
        del flags["--save-provenance"]
    opts, rest = _options(args, "guix system", arg_opts, flags)
    keys = {k for k, _ in opts}
    if "list-image-types" in keys:
        print("The available image types are:\n")
        for t in rev.image_types:
            print(f"   - {t}")
        return 0
    if not rest:
        raise GuixError("no action specified", hints=("Try `guix system --help' for more "
                                                      "information.",))
    action, params = rest[0], rest[1:]
    if action not in _ACTIONS or (action == "image" and not rev.image_action):
        raise GuixError(f"{action}: unknown action",
                        hints=("Try `guix system --help' for more information.",))
    if action not in ("image", "vm-image"):
        raise Unsupported(f"stand-in: '{action}' is not supported here; it builds images "
                          "('image', 'vm-image') only")
    values = dict(opts)
    image_type = values.get("image-type", "qcow2")
    if action == "image":
        if image_type not in rev.image_types:
            raise GuixError(f"{image_type}: no such image type",
                            hints=("Run `guix system --list-image-types' to list the "
                                   "available image types.",))
        if image_type not in ("qcow2", "efi-raw", "qcow2-gpt"):
            raise Unsupported(f"stand-in: image type '{image_type}' is not supported; it "
                              "builds qcow2, efi-raw and qcow2-gpt images only")
    size = None
    if "image-size" in values:
        try:
            size = settings.size_to_number(values["image-size"])    # guix/ui.scm
        except settings.SizeError as e:
            raise GuixError(str(e)) from None
    expression = values.get("expression")
    if expression is not None and params:
        # guix/scripts/system.scm@8e2f32cee982:1228-1230
        raise GuixError("both file and expression cannot be specified")
    if len(params) != 1 and expression is None:
        if not params:
            raise GuixError("no configuration specified",
                            hints=("Try `guix system --help' for more information.",))
        raise GuixError(f"wrong number of arguments for action '{action}'")
    load_path = tuple(v for k, v in opts if k == "load-path")     # repeatable, in order
    config = osconfig.load(params[0] if params else None, rev, load_path=load_path,
                           expression=expression)
    if action == "vm-image" and rev.has("image-type-option") and "image-type" in values \
            and image_type not in rev.image_types:
        # v1.2.0 looks the name up (lookup-image-type-by-name, gnu/system/image.scm) once
        # the config is loaded, whatever the action; vm-image then ignores the type
        raise GuixError(f"{image_type}: no such image type")
    if action == "image" and rev.refuses_bootloader(config.bootloader,
                                                     rev.gpt(action, image_type)):
        # gnu/system/image.scm, system-disk-image (see Revision.refuses_bootloader)
        raise GuixError("EFI bootloader required with GPT partitioning")
    try:
        knobs = settings.Knobs.from_env()
    except ValueError as e:
        raise GuixError(f"stand-in: {e}") from None
    opts_rec = ImageOptions(action=action, image_type=image_type, image_size=size,
                            save_provenance="save-provenance" in keys,
                            derivation="derivation" in keys, dry_run="dry-run" in keys,
                            root_link=values.get("root"))
    result = Build(travel, config, opts_rec, knobs).run()
    if result is not None:
        print(result, flush=True)
    return 0


# --- build (derivations only) ----------------------------------------------------------------

# `guix build`'s own options (guix/scripts/build.scm) and the standard build options.
_BUILD_ARG_OPTS = {"-r": "root", "--root": "root", "-e": "unsupported",
                   "--expression": "unsupported", "-f": "unsupported", "--file": "unsupported",
                   "-m": "unsupported", "--manifest": "unsupported", "--rounds": "unsupported",
                   "-c": "ignore", "--cores": "ignore", "-M": "ignore", "--max-jobs": "ignore",
                   "-v": "ignore", "--verbosity": "ignore", "--timeout": "ignore",
                   "--max-silent-time": "ignore", "-L": "ignore", "--load-path": "ignore",
                   "-s": "ignore", "--system": "ignore", "--target": "ignore",
                   "--substitute-urls": "ignore"}
_BUILD_FLAGS = {"--check": "check", "-d": "derivation", "--derivations": "derivation",
                "-n": "dry-run", "--dry-run": "dry-run", "-S": "unsupported",
                "--source": "unsupported", "--sources": "unsupported", "--repair": "unsupported",
                "--log-file": "unsupported", "--no-grafts": "ignore", "--fallback": "ignore",
                "--no-substitutes": "ignore", "--no-offload": "ignore", "-K": "keep-failed",
                "--keep-failed": "keep-failed", "-k": "ignore", "--keep-going": "ignore",
                "-q": "ignore", "--quiet": "ignore"}


def build(args: list[str], travel: Travel) -> int:
    """``guix build [--check] [-r FILE] DRV…``: build (or check) derivations the stand-in wrote.

    What a .drv builds is fixed by the .drv (revision, channels, config, local files, image
    options), not by the guix running it, as in Guix."""
    from . import derivation

    opts, rest = _options(args, "guix build", _BUILD_ARG_OPTS, _BUILD_FLAGS)
    keys = {k for k, _ in opts}
    values = dict(opts)
    if "unsupported" in keys or any(not a.endswith(".drv") for a in rest):
        raise Unsupported("stand-in: 'guix build' builds derivations (.drv files that 'guix "
                          "system image' wrote) only", program="guix build")
    try:
        knobs = settings.Knobs.from_env()
    except ValueError as e:
        raise GuixError(f"stand-in: {e}", program="guix build") from None
    store = settings.store_dir()
    for arg in rest:
        drv = Path(arg).resolve()      # Guix canonicalizes the file name too
        if drv.parent != store.resolve():
            raise GuixError(f"path `{drv}' is not in the store", program="guix build")
        if not drv.is_file():
            # Guix leaves a missing .drv to the daemon, which may substitute it; here nothing can.
            raise GuixError(f"build of `{drv}' failed", program="guix build",
                            lines_before=(f"cannot build missing derivation `{drv}'",))
        loaded = derivation.read(drv, knobs)
        opts_rec = ImageOptions(action=loaded.action, image_type=loaded.image_type,
                                image_size=loaded.image_size,
                                save_provenance=loaded.save_provenance,
                                derivation="derivation" in keys, dry_run="dry-run" in keys,
                                check="check" in keys, root_link=values.get("root"),
                                keep_failed="keep-failed" in keys)
        b = Build(loaded.travel, loaded.config, opts_rec, loaded.knobs)
        b.set_role(loaded.role)
        if b.drv.name != drv.name or b.out.name != loaded.output:
            raise GuixError(f"stand-in: {drv} no longer matches its inputs (was the guest "
                            "kernel in the cache replaced?)", program="guix build")
        b.program = "guix build"
        result = b.run()
        if result is not None:
            print(result, flush=True)
    return 0


# --- gc (references of the derivations the stand-in wrote) ----------------------------------


def gc(args: list[str], travel: Travel) -> int:
    """``guix gc --references|--requisites ITEM…`` (guix/scripts/gc.scm) for the stand-in's
    .drv files: an image derivation refers to its partition derivation."""
    from . import derivation

    opts, rest = _options(args, "guix gc", {}, {"--references": "references",
                                                 "--requisites": "requisites",
                                                 "-R": "requisites"})
    keys = {k for k, _ in opts}
    if not keys:
        raise Unsupported("stand-in: 'guix gc' supports --references and --requisites only",
                          program="guix gc")
    store = settings.store_dir().resolve()
    for arg in rest:
        p = Path(arg).resolve()
        if p.parent != store or not p.exists():
            raise GuixError(f"path `{arg}' is not valid", program="guix gc")
        if "references" in keys:
            for ref in sorted(derivation.inputs(p)):
                print(ref)
        else:
            seen, todo = {str(p)}, [p]
            while todo:
                for ref in derivation.inputs(todo.pop()):
                    if ref not in seen:
                        seen.add(ref)
                        todo.append(Path(ref))
            for ref in sorted(seen):
                print(ref)
    return 0


# --- time-machine ----------------------------------------------------------------------------


def _checkout_marker(c: chans.Resolved) -> Path:
    key = hashlib.sha256(c.url.encode()).hexdigest()[:16]
    return settings.checkouts_dir() / key / c.commit


def time_machine(args: list[str], travel: Travel) -> int:
    opts, rest = _options(
        args, "guix time-machine",
        {"-C": "channels", "--channels": "channels", "--commit": "commit", "--url": "url",
         "--branch": "branch", "-L": "ignore", "--load-path": "ignore", "-v": "ignore",
         "--verbosity": "ignore", "-c": "ignore", "--cores": "ignore", "-M": "ignore",
         "--max-jobs": "ignore", "--substitute-urls": "ignore"},
        {"-q": "no-channel-files", "--no-channel-files": "no-channel-files",
         "--disable-authentication": "no-auth", "--no-offload": "ignore",
         "--no-substitutes": "ignore", "--fallback": "ignore", "--no-grafts": "ignore"})
    values = dict(opts)
    host = travel.revision
    if "channels" in values:
        channel_list = chans.read_channels_file(values["channels"], host)
    elif "commit" in values or "url" in values or "branch" in values:
        channel_list = chans.travel_to_commit(values.get("commit"), values.get("url"),
                                              values.get("branch"), host)
    else:
        user_file = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") \
            / "guix" / "channels.scm"
        if "no-channel-files" not in values and user_file.exists():
            channel_list = chans.read_channels_file(str(user_file), host)
        else:
            channel_list = chans.travel_to_commit(None, None, None, host)
    if "commit" in values and "channels" in values:
        raise GuixError("'--channels' and '--commit' cannot be used together",
                        program="guix time-machine")
    if "no-auth" in values:
        say("guix time-machine: warning: channel authentication disabled")
    target = chans.resolve(channel_list, lambda c: _checkout_marker(c).exists(), host,
                           authenticate="no-auth" not in values,
                           ref_given="commit" in values or "branch" in values)
    for c in target.fetched:
        say(f"Updating channel '{c.name}' from Git repository at '{c.url}'...")
    if target.fetched:
        for c in target.fetched:
            if c.name == "guix":
                say(f"Authenticating channel 'guix', commits {history.INTRODUCTION_COMMIT[:7]}"
                    f" to {c.commit[:7]} (1,024 new commits)...")
        say("Building from this channel:")
        for c in target.channels:
            say(f"  {c.name:<10}{c.url}\t{c.commit[:7]}")
        say("Computing Guix derivation for 'x86_64-linux'...")
        for c in target.fetched:
            marker = _checkout_marker(c)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
    if not rest:
        # guix/scripts/time-machine.scm: the channels are fetched and built, then nothing runs
        say("guix time-machine: warning: no command specified; nothing to do")
        return 0
    return dispatch(rest, target)


# --- dispatch --------------------------------------------------------------------------------


def current_travel() -> Travel:
    """The guix this stand-in is when run directly: the newest revision, unless
    VMFLEET_STANDIN_CURRENT names another commit."""
    commit = os.environ.get("VMFLEET_STANDIN_CURRENT")
    rev = history.newest()
    if commit:
        matches = [r for r in history.REVISIONS if r.commit.startswith(commit.lower())]
        if len(matches) == 1 and matches[0].reachable:
            rev = matches[0]
    return Travel(rev, chans.default_channels(rev), ())


def dispatch(argv: list[str], travel: Travel) -> int:
    if not argv:
        print("Usage: guix OPTION | COMMAND ARGS...\nRun 'guix --help' for more information.",
              file=sys.stderr)
        return 1
    cmd, args = argv[0], argv[1:]
    if cmd in ("--version", "-V"):
        return version(travel)
    if cmd in ("--help", "-h"):
        print("Usage: guix OPTION | COMMAND ARGS...\n(vmfleet's guix stand-in: time-machine, "
              "system image, build DRV, describe; see tests/standin/README.md)")
        return 0
    if cmd == "time-machine":
        return time_machine(args, travel)
    if cmd == "system":
        return system(args, travel)
    if cmd == "describe":
        return describe(args, travel)
    if cmd == "build":
        return build(args, travel)
    if cmd == "gc":
        return gc(args, travel)
    if cmd.startswith("-"):
        raise GuixError(f"{cmd}: unrecognized option", program="guix")
    print(f"guix: {cmd}: command not found", file=sys.stderr)
    print("Try `guix --help' for more information.", file=sys.stderr)
    return 1


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    # Guix builds in its daemon (guix-daemon, nix/libstore/build.cc), never in the client's
    # process: the umask of whoever runs `guix` cannot reach an image. The stand-in builds in
    # its own process, so it fixes the umask a build runs with.
    os.umask(0o022)
    argv = sys.argv[1:] if argv is None else argv
    try:
        return dispatch(argv, current_travel())
    except GuixError as e:
        sys.stderr.write(e.render())
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
