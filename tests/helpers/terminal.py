"""A pseudo-terminal for in-process CLI tests: stdin and stderr become the pty's slave side (so
isatty() is true, as for a person at a terminal), what the user types is written to the master
side first, and what was shown (stderr, with the terminal's echo) is read back from it.

In-process because the libvirt test driver's domains live in this process. Prompts are short,
so everything fits in the pty's buffer; the master is drained after the command ends.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import sys
import termios
from collections.abc import Iterator


class Screen:
    def __init__(self, master: int):
        self.master = master
        self.text = ""

    def read(self) -> str:
        chunks = []
        while select.select([self.master], [], [], 0.05)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data.decode(errors="replace"))
        self.text += "".join(chunks).replace("\r\n", "\n")
        return self.text


@contextlib.contextmanager
def terminal(typed: str = "", *, stdout_too: bool = False) -> Iterator[Screen]:
    """stdin and stderr (and stdout with ``stdout_too``) on a fresh pty; ``typed`` is waiting
    as input. Yields the Screen; read it after the command."""
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO  # what was typed is not echoed: the screen shows vmfleet's output
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    stdin = os.fdopen(os.dup(slave), "r")
    err = os.fdopen(os.dup(slave), "w")
    out = os.fdopen(os.dup(slave), "w") if stdout_too else None
    if typed:
        os.write(master, typed.encode())
    saved = sys.stdin, sys.stderr, sys.stdout
    sys.stdin, sys.stderr = stdin, err
    if out is not None:
        sys.stdout = out
    screen = Screen(master)
    try:
        yield screen
    finally:
        for f in (err, out):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.flush()
        sys.stdin, sys.stderr, sys.stdout = saved
        screen.read()
        for f in (stdin, err, out):
            if f is not None:
                f.close()
        os.close(slave)
        os.close(master)
