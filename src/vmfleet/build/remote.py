"""Building on a Guix host over SSH, for users who cannot install Guix locally.

The inputs go up over SFTP into a fresh ``mktemp -d`` directory, the same guix command runs
there with its stderr streamed back line by line, the image comes back over SFTP and its sha256
is checked against the host's ``sha256sum``; the remote directory is removed in every case.
Guix's messages are read in English there too (``REMOTE_ENVIRONMENT_SH``).
The build runs in its own session (``setsid``), so a timeout or Ctrl-C ends its whole process
group on the host. The host key must be known (keys/known_hosts); ``--trust-new-host`` records
an unknown one, a changed one is always refused.
"""

from __future__ import annotations

import hashlib
import io
import shlex
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from vmfleet.build.runner import LineSink, LineSplitter, Outcome
from vmfleet.errors import BuildError, SshError, UnknownHostKey, UsageError
from vmfleet.guix.command import REMOTE_ENVIRONMENT_SH
from vmfleet.home import Home
from vmfleet.tools import ssh


def parse_ssh_url(text: str) -> dict:
    """ssh://user@host[:port][?guix=/path/to/guix] -> RemoteBuilder keyword arguments."""
    parts = urlsplit(text)
    if parts.scheme != "ssh" or not parts.hostname:
        raise UsageError(f"invalid builder {text!r}", "write ssh://user@host[:port]")
    try:
        port = parts.port or 22
    except ValueError:
        raise UsageError(f"invalid port in {text!r}", "write ssh://user@host:2222") from None
    guix = parse_qs(parts.query).get("guix", [None])[0]
    return {"user": parts.username or "root", "host": parts.hostname, "port": port,
            "guix": shlex.split(guix) if guix else None}


class RemoteBuilder:
    def __init__(self, *, user: str, host: str, port: int, guix: list[str] | None,
                 home: Home, trust_new_host: bool = False):
        self.user, self.host, self.port, self.guix = user, host, port, guix
        self.name = f"ssh://{user}@{host}" + (f":{port}" if port != 22 else "")
        self.home, self.trust_new_host = home, trust_new_host
        self.conn: ssh.Connection | None = None
        self.remote_dir: str | None = None
        self.runs = 0

    def _connect(self) -> ssh.Connection:
        key = ssh.ensure_keypair(self.home.keys)
        known = ssh.KnownHosts(self.home.keys / ssh.KNOWN_HOSTS_FILE)
        try:
            return ssh.connect(self.host, self.port, key=key, user=self.user, known_hosts=known,
                               trust_new=self.trust_new_host)
        except UnknownHostKey as e:
            raise UnknownHostKey(f"build host {e.message}",
                                 f"{e.hint}: run the build again with --trust-new-host") from None

    def prepare(self, inputs_dir: Path) -> str:
        self.conn = self._connect()
        self.remote_dir = self.conn.check_output("mktemp -d /tmp/vmfleet-build.XXXXXX").strip()
        for path in sorted(inputs_dir.rglob("*")):
            rel = path.relative_to(inputs_dir).as_posix()
            target = f"{self.remote_dir}/{rel}"
            if path.is_dir():
                self.conn.check_output(["mkdir", "-p", target])
            else:
                self.conn.upload(path, target)
        return self.remote_dir

    def execute(self, argv: Sequence[str], cwd: Path | str, on_line: LineSink,
                timeout: float | None) -> Outcome:
        assert self.conn is not None
        self.runs += 1  # one pid file per command: a late kill never hits an earlier one's group
        cwd = str(cwd)  # a directory of the build host (what prepare returned)
        pid_file = f"{cwd}/.vmfleet-build-{self.runs}.pid"
        inner = (f"echo $$ > {shlex.quote(pid_file)}; {REMOTE_ENVIRONMENT_SH}"
                 f"cd {shlex.quote(cwd)} && exec {shlex.join(argv)}")
        command = f"exec setsid --wait sh -c {shlex.quote(inner)}"
        stdout, sink = io.BytesIO(), LineSplitter(on_line)  # LineSplitter is a binary sink too
        timed_out = threading.Event()
        timer = None
        if timeout:
            def expire():
                timed_out.set()
                self._kill(pid_file)
            timer = threading.Timer(timeout, expire)
            timer.start()
        try:
            rc = self.conn.stream(command, stdout, sink)  # type: ignore[arg-type]
        except BaseException:
            self._kill(pid_file)  # Ctrl-C, SIGTERM or a lost session: end the build there too
            raise
        finally:
            if timer:
                timer.cancel()
        return Outcome(rc, stdout.getvalue().decode(errors="replace"), sink.finish(),
                       timed_out.is_set())

    def _kill(self, pid_file: str) -> None:
        try:
            with self._connect() as c:
                c.run(f"kill -TERM -- -$(cat {shlex.quote(pid_file)}) 2>/dev/null", timeout=10)
        except Exception:  # noqa: BLE001 - best effort; the remote directory is removed anyway
            pass

    def fetch(self, store_path: str, dest_dir: Path) -> Path:
        return self.download_file(store_path, dest_dir / "image.qcow2")

    def local_copy(self, path: str, dest: Path, max_bytes: int) -> Path:
        return self.download_file(path, dest, max_bytes)

    def download_file(self, remote_path: str, local: Path, max_bytes: int | None = None) -> Path:
        """A regular file of the build host (an image, a --check result), checked against its
        sha256 there; one over ``max_bytes`` raises BuildError before anything is copied."""
        if self.conn is None:
            self.conn = self._connect()
        shown = self.conn.check_output(["sh", "-c", 'if test -f "$1"; then stat -c %s "$1"; fi',
                                        "sh", remote_path]).strip()
        if not shown.isdigit():
            raise BuildError(f"{remote_path} is not a file on {self.name}",
                             "it may have been collected: run the check again")
        if max_bytes is not None and int(shown) > max_bytes:
            raise BuildError(f"{remote_path} on {self.name} is {int(shown) >> 20} MiB, more than "
                             f"vmfleet copies to compare ({max_bytes >> 20} MiB)",
                             "compare it on the build host")
        expected = self.conn.check_output(["sha256sum", remote_path]).split()[0]
        self.conn.download(remote_path, local)
        digest = hashlib.sha256()
        with open(local, "rb") as f:
            while chunk := f.read(4 << 20):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise BuildError(f"{remote_path} downloaded from {self.name} is corrupt "
                             f"(sha256 {digest.hexdigest()[:12]}, the host has {expected[:12]})",
                             "run it again; check the build host's disk and the network")
        return local

    def cleanup(self) -> None:
        if self.conn is None:
            return
        try:
            if self.remote_dir:
                self.conn.run(["rm", "-rf", self.remote_dir], timeout=60)
        except SshError:
            pass  # the host is gone; its /tmp is its own business now
        finally:
            self.conn.close()
            self.conn = None
