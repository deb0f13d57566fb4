"""Errors reported the way Guix reports them (docs/guix-facts.md).

``GuixError`` carries what Guix prints: ``PROGRAM: error: MESSAGE`` (or
``FILE:LINE:COL: error: MESSAGE`` when the error has a source location), then ``hint: …``
lines, and exit status 1. ``lines_before`` are printed first (a failed build's trail),
``lines_after`` after the message (Guile's display-error of a load error). A read error has
a ``bare_location``: guix/ui.scm prints ``FILE:LINE:COL: missing closing parenthesis`` with
neither the program's name nor ``error:``.
"""

from __future__ import annotations


class GuixError(Exception):
    def __init__(self, message: str, *, program: str = "guix system",
                 location: str | None = None, hints: tuple[str, ...] = (),
                 lines_before: tuple[str, ...] = (), lines_after: tuple[str, ...] = (),
                 bare_location: str | None = None, unlocated: bool = False):
        super().__init__(message)
        self.unlocated = unlocated        # "error: …" with neither location nor program
        self.message = message
        self.program = program
        self.location = location
        self.hints = hints
        self.lines_before = lines_before
        self.lines_after = lines_after
        self.bare_location = bare_location

    def render(self) -> str:
        lines = list(self.lines_before)
        if self.bare_location:
            lines.append(f"{self.bare_location}: {self.message}")
        elif self.unlocated:
            lines.append(f"error: {self.message}")
        else:
            where = self.location or self.program
            lines.append(f"{where}: error: {self.message}")
        lines += list(self.lines_after)
        lines += [f"hint: {h}" for h in self.hints]
        return "\n".join(lines) + "\n"


class Unsupported(GuixError):
    """Something real Guix does that the stand-in does not (said plainly, exit 1)."""


class GuileThrow(GuixError):
    """An exception no handler of guix/ui.scm catches: Guile prints a backtrace and the
    throw (the stand-in prints no frames; exit status 1)."""

    def __init__(self, key: str, args: str):
        super().__init__(f"Throw to key `{key}' with args `{args}'.")

    def render(self) -> str:
        return ("Backtrace:\n(frames not modelled by the stand-in)\n"
                f"ERROR: In procedure raise-exception:\n{self.message}\n")


class GuileException(GuixError):
    """An error no handler of guix/ui.scm catches, raised by a Guile procedure: Guile 3.0 prints
    a backtrace whose last lines locate raise-exception in ice-9/boot-9.scm (Guix v1.4.0 on
    Debian's Guile 3.0.8: ``ice-9/boot-9.scm:1685:16: In procedure raise-exception:``, then the
    reason); the stand-in prints no frames. Exit status 1."""

    def render(self) -> str:
        return ("Backtrace:\n(frames not modelled by the stand-in)\n"
                f"ice-9/boot-9.scm:1685:16: In procedure raise-exception:\n{self.message}\n")
