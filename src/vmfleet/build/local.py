"""The local builder: guix runs here (started by ``tools.run.spawn``: in its own process group
so a timeout or Ctrl-C ends it whole, and ended by the kernel if vmfleet is killed), with
messages in English (``guix_environment``) so vmfleet can read them."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from vmfleet.build.runner import LineSink, Outcome, stream
from vmfleet.errors import BuildError
from vmfleet.guix.command import guix_environment
from vmfleet.tools import killpoint
from vmfleet.tools.run import kill_group, spawn

GUIX_MISSING = ("install Guix (https://guix.gnu.org/manual/en/html_node/Installation.html), "
                "set VMFLEET_GUIX to its path, or build on a Guix host with "
                "--builder ssh://user@host")


class LocalBuilder:
    name = "local"
    guix: list[str] | None = None  # the guix of guix.command (VMFLEET_GUIX or PATH)

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def prepare(self, inputs_dir: Path) -> Path:
        return inputs_dir

    def execute(self, argv: Sequence[str], cwd: Path | str, on_line: LineSink,
                timeout: float | None) -> Outcome:
        self.proc = proc = spawn(argv, cwd=cwd, env=guix_environment(), hint=GUIX_MISSING)
        timed_out = threading.Event()
        timer = None
        if timeout:
            def expire() -> None:
                timed_out.set()
                kill_group(proc)
            timer = threading.Timer(timeout, expire)
            timer.start()
        def guix_line(text: str) -> None:
            on_line(text)
            killpoint.reached("build:guix-running")  # guix has started and is working

        try:
            stdout, stderr = stream(self.proc.stdout, self.proc.stderr, guix_line)
            rc = self.proc.wait()
        finally:
            if timer:
                timer.cancel()
            kill_group(self.proc)  # on interrupt: end guix and everything it started
        return Outcome(rc, stdout, stderr, timed_out.is_set())

    def fetch(self, store_path: str, dest_dir: Path) -> Path:
        """The image guix built; local builds read it where it is (copying happens in the store)."""
        return Path(store_path)

    def local_copy(self, path: str, dest: Path, max_bytes: int) -> Path:
        """Where it is; the comparison reads it in place."""
        if not Path(path).is_file():
            raise BuildError(f"{path} is not a file here", "it may have been collected: run the check again")
        return Path(path)

    def cleanup(self) -> None:
        pass
