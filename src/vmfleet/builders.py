"""Where a build runs: here (``local``) or on a build host over SSH (``ssh://user@host[:port]``).

A builder takes a directory of inputs, runs an argv there with stderr streamed line by line,
and hands back the image file guix named on stdout. The remote builder lives in
``remote_build.py``; this module holds the local one and the streaming loop.
"""

from __future__ import annotations

import io
import re
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolMissing, UsageError
from .run import kill_group

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool


class LineSplitter(io.RawIOBase):
    """A binary sink that hands each complete line (ended by \\n or \\r, as guix's progress
    bars are) to ``on_line`` and keeps them all in ``lines``."""

    def __init__(self, on_line: LineSink):
        self.on_line, self.lines, self.pending = on_line, [], b""

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
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


class LocalBuilder:
    name = "local"

    def __init__(self):
        self.proc: subprocess.Popen | None = None

    def prepare(self, inputs_dir: Path) -> Path:
        return inputs_dir

    def execute(self, argv: Sequence[str], cwd: Path, on_line: LineSink,
                timeout: float | None) -> Outcome:
        try:
            self.proc = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         start_new_session=True)
        except FileNotFoundError:
            raise ToolMissing(f"{argv[0]} not found",
                              "install Guix (https://guix.gnu.org/manual/en/html_node/Installation.html), "
                              "set VMFLEET_GUIX to its path, or build on a Guix host with "
                              "--builder ssh://user@host") from None
        timed_out = threading.Event()
        timer = None
        if timeout:
            def expire():
                timed_out.set()
                kill_group(self.proc)
            timer = threading.Timer(timeout, expire)
            timer.start()
        try:
            stdout, stderr = stream(self.proc.stdout, self.proc.stderr, on_line)
            rc = self.proc.wait()
        finally:
            if timer:
                timer.cancel()
            kill_group(self.proc)  # on interrupt: end guix and everything it started
        return Outcome(rc, stdout, stderr, timed_out.is_set())

    def fetch(self, store_path: str, dest_dir: Path) -> Path:
        """The image guix built; local builds read it where it is (copying happens in the store)."""
        return Path(store_path)

    def cleanup(self) -> None:
        pass


def parse_builder(text: str | None, home=None, *, trust_new_host: bool = False):
    """'local' (default) or 'ssh://user@host[:port][?guix=/path/to/guix]'."""
    if not text or text == "local":
        return LocalBuilder()
    if text.startswith("ssh://"):
        from .remote_build import RemoteBuilder, parse_ssh_url

        return RemoteBuilder(**parse_ssh_url(text), home=home, trust_new_host=trust_new_host)
    raise UsageError(f"unknown builder {text!r}", "use 'local' or ssh://user@host[:port]")
