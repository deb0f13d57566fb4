"""The CLI's one vocabulary: options and value types every command reads the same way.

A duration, a size, a date or a colour choice is accepted with the same grammar and refused
with the same ``error:``/``hint:`` words by every command (docs/reference.md, "Values", is the
one description). The grammars live in the core (vmfleet.timeutil, vmfleet.units) so that
library calls validate alike; this module only makes typer options of them. Each factory takes
the flag, its default and help text, and returns a typer.Option whose value reaches the command
already parsed:

    timeout: float = options.duration("--timeout", "5m", "How long to wait for SSH.")
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum

import typer

from vmfleet import timeutil, units
from vmfleet.errors import UsageError

JSON_HELP = "Print JSON (stable keys, see docs/reference.md)."


def json_flag() -> typer.models.OptionInfo:
    """``--json``: every listing has it, with the same help."""
    return typer.Option(False, "--json", help=JSON_HELP)


JSONL_HELP = "Print JSON Lines: one object a line (same keys as --json's elements)."


def jsonl_flag() -> typer.models.OptionInfo:
    """``--jsonl``: listings whose output is appended to a file (a timer's ``check``)."""
    return typer.Option(False, "--jsonl", help=JSONL_HELP)


def one_format(as_json: bool, as_jsonl: bool) -> None:
    if as_json and as_jsonl:
        raise UsageError("--json and --jsonl together", "pick one: --jsonl for appending to a file")


def duration(flag: str, default: str | None, help: str) -> typer.models.OptionInfo:
    """Seconds (float): ``90``, ``90s``, ``1.5m``, ``5m``, ``3h``; zero and signs refused."""
    return typer.Option(default, flag, help=help, metavar="DURATION",
                        parser=lambda text: timeutil.parse_duration(text, flag))


def memory(flag: str, default: str | None, help: str) -> typer.models.OptionInfo:
    """MiB (int): a size, where a bare number counts in MiB (``2048``, ``512M``, ``2G``)."""
    return typer.Option(default, flag, help=help, metavar="SIZE",
                        parser=lambda text: units.parse_size(text, bare_unit="M", option=flag) // 2**20)


def image_size(flag: str, default: str | None, help: str) -> typer.models.OptionInfo:
    """The size as written (str), once checked: Guix is given it as the user wrote it, and a bare
    number counts in bytes, as Guix reads it."""
    def check(text: str) -> str:
        units.parse_size(text, option=flag)
        return text

    return typer.Option(default, flag, help=help, metavar="SIZE", parser=check)


def date(flag: str, default: str | None, help: str) -> typer.models.OptionInfo:
    """A stored UTC stamp (str): ``2024-01``, ``2024-01-15``, ``2024-01-15T12:00[:SS][Z|±HH:MM]``."""
    return typer.Option(default, flag, help=help, metavar="DATE",
                        parser=lambda text: timeutil.parse_date(text, flag))


class Colour(StrEnum):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"

    def wanted(self, stream=None) -> bool:
        """auto: only on a terminal, and not when NO_COLOR is set or TERM is dumb."""
        if self is not Colour.AUTO:
            return self is Colour.ALWAYS
        stream = stream or sys.stdout
        return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _colour(text: str) -> Colour:
    try:
        return Colour(text)
    except ValueError:
        raise UsageError(f"invalid --color {text!r}", "use auto, always or never") from None


def colour() -> typer.models.OptionInfo:
    """``--color``/``--colour`` auto|always|never (a Colour)."""
    return typer.Option("auto", "--color", "--colour", help="auto, always or never.",
                        metavar="WHEN", parser=_colour)
