"""What commands print: results on stdout (JSON or a table), messages and progress on stderr."""

from __future__ import annotations

import dataclasses
import enum
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tabulate import tabulate

from vmfleet.errors import UsageError


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=False) + "\n")


def print_jsonl(rows: Any) -> None:
    """JSON Lines: one compact object a line, flushed, so that ``>> file.jsonl`` from a timer
    stays a valid JSON Lines file (each element of what ``--json`` prints as an array)."""
    for row in rows if isinstance(rows, (list, tuple)) else [rows]:
        sys.stdout.write(json.dumps(to_jsonable(row), separators=(",", ":"), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """Aligned columns under upper-case headers (tabulate's plain format); empty cells as '-'."""
    cells = [[("-" if c is None or c == "" else str(c)) for c in row] for row in rows]
    text = tabulate(cells, [h.upper() for h in headers], tablefmt="plain", disable_numparse=True,
                    stralign="left")
    sys.stdout.write("\n".join(line.rstrip() for line in text.splitlines()) + "\n")


# The one palette of states, for every command that shows them (SGR codes).
GOOD = ("running", "done", "succeeded", "reproducible", "replaced", "restarted", "created",
        "kept", "present", "nothing to do", "unchanged")
QUIET = ("stopped", "retired", "skipped", "cached")
WARN = ("interrupted", "deploying", "timeout", "rolled back", "rolled-back", "image-differs",
        "unknown")
BAD = ("failed", "missing", "orphan", "fails", "drifted", "file removed", "crashed")


def paint_state(text, colour: bool):
    """A state word coloured by what it means (green good, dim quiet, yellow needs a look,
    red wrong), when ``colour``; None stays None (an empty cell)."""
    if not colour or text is None:
        return text
    word = str(text)
    key = word.split(":")[0].strip()
    code = ("32" if key in GOOD else "2" if key in QUIET else "33" if key in WARN
            else "31" if key in BAD else None)
    return f"\x1b[{code}m{word}\x1b[0m" if code else word


def wrap_list(items: Sequence[str], width: int = 40) -> str:
    """Names for one table cell: comma-separated, on as many lines as it takes (the table keeps
    its columns aligned however many there are)."""
    import textwrap

    return "\n".join(textwrap.wrap(", ".join(items), width, break_on_hyphens=False,
                                    break_long_words=False)) or "-"


def wrap_text(text: str, indent: str = "  ", width: int | None = None) -> str:
    """A long list or sentence for a person: wrapped to the terminal, each line indented."""
    import textwrap

    cols = width or max(40, shutil.get_terminal_size((100, 20)).columns - 1)
    return textwrap.fill(text, cols, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False)


def emit(value: Any, as_json: bool, human: Callable[[Any], object], as_jsonl: bool = False) -> None:
    if as_json and as_jsonl:
        raise UsageError("--json and --jsonl together", "pick one: --jsonl for appending to a file")
    if as_jsonl:
        print_jsonl(value)
    elif as_json:
        print_json(value)
    else:
        human(value)


def say(message: str) -> None:
    """A message for the user, on stderr (stdout is for results)."""
    sys.stderr.write(message + "\n")


class Progress:
    """Every long command's progress (build, check, deploy, redeploy): guix's status lines as one
    live line on a terminal, or plain lines when piped; ``note`` prints a message that stays.

    Use as a context manager so that the live line is cleared however the command ends.
    """

    def __init__(self, stream=None, indent: str = ""):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.indent = indent
        self.width = shutil.get_terminal_size((100, 20)).columns - 1
        self._shown = False

    def __call__(self, line: str) -> None:
        """A status line (a guix progress refresh): it replaces the last one on a terminal."""
        line = line.rstrip()
        if not line.strip():
            return
        if self.live:
            self.stream.write("\r\033[K" + (self.indent + line)[: self.width])
            self._shown = True
        else:
            self.stream.write(self.indent + line + "\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        """A message that stays (a step done, a warning), printed above the live line."""
        self.done()
        self.stream.write(message + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.done()
