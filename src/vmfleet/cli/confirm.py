"""The one confirmation rule of commands that change what runs (apply, redeploy of fleet VMs,
destroy, prune), as terraform's ``-auto-approve``:

- ``--yes``: go ahead (what a script writes);
- on a terminal: show what will happen (the caller did), then ask; anything but y/yes is no;
- neither: refuse with the hint, before anything changed.

Answering no is not an error: the command says nothing was changed and exits 1.
"""

from __future__ import annotations

import sys

from vmfleet.errors import UsageError


class Declined(Exception):
    """The user answered no: nothing was done (exit 1, no 'error:')."""


def on_terminal() -> bool:
    """Whether a person can answer: the question goes to stderr, the answer comes from stdin."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def confirm(question: str, *, yes: bool, what: str) -> None:
    """Return when the user (or ``--yes``) agreed; raise Declined or UsageError otherwise.

    ``what`` names the change for the refusal: 'applying 3 changes needs confirmation'."""
    if yes:
        return
    if not on_terminal():
        raise UsageError(f"{what} needs confirmation, and there is no terminal to ask on",
                         "pass --yes (what a script writes), or run it on a terminal")
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        answer = ""
    if not answer.endswith("\n"):
        sys.stderr.write("\n")
    if answer.strip().lower() not in ("y", "yes"):
        raise Declined(what)
