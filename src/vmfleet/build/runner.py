"""Where a build runs: here (``local``) or on a build host over SSH (``ssh://user@host[:port]``).

A builder takes a directory of inputs, runs an argv there with stderr streamed line by line,
and hands back the image file guix named on stdout. This module holds what
both builders share: the outcome record and the line-streaming loop.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool


class Builder(Protocol):
    """Where guix runs: ``LocalBuilder`` (here) or ``RemoteBuilder`` (a build host over SSH)."""

    name: str                # 'local' or 'ssh://user@host[:port]', recorded with each build
    guix: list[str] | None   # the guix command there (None: the default one)

    def prepare(self, inputs_dir: Path) -> Path | str:
        """Make the inputs available where guix runs; returns that directory."""
        ...

    def execute(self, argv: Sequence[str], cwd: Path | str, on_line: LineSink,
                timeout: float | None) -> Outcome:
        """Run guix there, each line of its stderr handed to ``on_line``."""
        ...

    def fetch(self, store_path: str, dest_dir: Path) -> Path:
        """The image guix built, as a file here."""
        ...

    def local_copy(self, path: str, dest: Path, max_bytes: int) -> Path:
        """A file of the store guix ran with (a --check result), as a file here: itself on this
        machine, a verified copy at ``dest`` from a build host."""
        ...

    def cleanup(self) -> None:
        """Remove what ``prepare`` and the build left there."""
        ...


class LineSplitter(io.RawIOBase):
    """A binary sink that hands each complete line (ended by \\n or \\r, as guix's progress
    bars are) to ``on_line`` and keeps them all in ``lines``."""

    def __init__(self, on_line: LineSink):
        self.on_line, self.pending = on_line, b""
        self.lines: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]  # bytes only, never a buffer
        self.pending += data
        *complete, self.pending = re.split(rb"\r\n|\r|\n", self.pending)
        for raw in complete:
            line = raw.decode(errors="replace")
            self.lines.append(line)
            self.on_line(line)
        return len(data)

    def finish(self) -> str:
        """Flush a last unterminated line; return everything as text."""
        if self.pending:
            self.write(b"\n")
        return "\n".join(self.lines)


def stream(proc_stdout, proc_stderr, on_line: LineSink) -> tuple[str, str]:
    """Collect stdout whole (in a thread) and stderr line by line."""
    out_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: out_chunks.append(proc_stdout.read()), daemon=True)
    reader.start()
    splitter = LineSplitter(on_line)
    while chunk := proc_stderr.read1(65536):
        splitter.write(chunk)
    err = splitter.finish()
    reader.join()
    return b"".join(out_chunks).decode(errors="replace"), err
