"""The typer app and what every command shares: --home/--debug, the error handler, output.

Commands live in cli/<area>.py modules that register on ``app``; each one parses its
arguments (values through cli/options.py), calls one library function and renders its result
with ``emit`` (cli/output.py: a table, or JSON with ``--json``). Nothing below the CLI prints to
stdout.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from vmfleet.cli.output import emit, print_json, print_table, say  # noqa: F401 (commands use them from here)
from vmfleet.errors import VmfleetError
from vmfleet.home import Home

app = typer.Typer(
    name="vmfleet",
    help="Record, build, boot, redeploy and diff every generation of a fleet of Guix VMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class State:
    """Options given before the command (vmfleet --home DIR --debug CMD ...)."""

    home_arg: str | None = None
    debug: bool = False


state = State()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("vmfleet")
        except PackageNotFoundError:  # run from a source tree that was not installed
            number = "unknown"
        sys.stdout.write(f"vmfleet {number}\n")
        raise typer.Exit(0)


@app.callback()
def _main(
    home: str = typer.Option(
        None, "--home", help="State directory (default: $VMFLEET_HOME or $XDG_DATA_HOME/vmfleet)."),
    debug: bool = typer.Option(False, "--debug", help="Log every external command; show tracebacks."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                 help="Print vmfleet's version and exit."),
) -> None:
    state.home_arg = home
    state.debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(name)s: %(message)s", stream=sys.stderr)


class lazy:  # noqa: N801 - used like a module
    """A module imported on first use, so that a command pays only for the libraries it needs
    (paramiko, libvirt and the image readers cost ~250 ms together: more than a cached build).

    Each attribute access goes through importlib.import_module, which takes the import lock, so
    threads that touch the module at once all see it fully loaded (importlib's LazyLoader does
    not guarantee that on Python 3.11).
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


def home() -> Home:
    return Home.locate(state.home_arg)


def open_registry():
    from vmfleet.registry.db import Registry

    h = home()
    reg = Registry.open(h.registry)
    if os.access(h.root, os.W_OK):  # (a read-only home is read as it is)
        h.secure()  # a home made by an older vmfleet (0755, 0644) becomes private
    return reg


def report_error(e: VmfleetError) -> int:
    if e.details:
        say("\n".join("  " + line for line in e.details.splitlines()))
    say(f"error: {e.message}")
    if e.hint:
        say(f"hint: {e.hint}")
    return e.exit_code
