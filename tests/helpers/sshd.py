"""A private sshd on 127.0.0.1 for tests: remote hypervisors (qemu+ssh://) and SSH build hosts.

It runs as the current user (root here) from its own config in a temporary directory, on a free
port, with its own host key and authorized_keys; it is stopped by the PID in its PID file, so no
other sshd is touched. Use it as a context manager, or call start() and stop() (always stop: in
a finally or a fixture finalizer).

    with Sshd(tmp_path, authorized_keys=[pubkey]) as server:
        uri = server.libvirt_uri(keyfile)   # qemu+ssh://root@127.0.0.1:PORT/system?...
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from vmfleet.tools.run import run

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie (sshd daemonized, so PID 1 reaps it, in its time)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (ProcessLookupError, FileNotFoundError):
        return True


def _children(pid: int | None) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


class Sshd:
    def __init__(self, workdir: Path, authorized_keys: list[str], port: int | None = None):
        self.dir = Path(workdir)
        self.authorized_keys = authorized_keys
        self.port = port or free_port()
        self.host_key_path = self.dir / "ssh_host_ed25519_key"
        self.pid_file = self.dir / "sshd.pid"
        self.log_file = self.dir / "sshd.log"
        self.pid: int | None = None

    @property
    def host_key(self) -> str:
        """The server's public host key as vmfleet stores pins: 'ssh-ed25519 AAAA…'."""
        return " ".join(Path(f"{self.host_key_path}.pub").read_text().split()[:2])

    def start(self) -> Sshd:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.host_key_path.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key_path)])
        auth = self.dir / "authorized_keys"
        auth.write_text("".join(k.strip() + "\n" for k in self.authorized_keys))
        auth.chmod(0o600)
        conf = self.dir / "sshd_config"
        conf.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.host_key_path}\n"
            f"AuthorizedKeysFile {auth}\n"
            f"PidFile {self.pid_file}\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "MaxStartups 50\n"
            "MaxSessions 50\n"
            "Subsystem sftp internal-sftp\n"
        )
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        run([SSHD, "-f", str(conf), "-E", str(self.log_file)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.pid_file.exists() and self.pid_file.read_text().strip():
                self.pid = int(self.pid_file.read_text().strip())
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not start on 127.0.0.1:{self.port}: "
                           f"{self.log_file.read_text() if self.log_file.exists() else ''}")

    def wait_idle(self, timeout: float = 10) -> None:
        """Wait (polling, with a deadline) until no connection is being served: sshd forks a
        child per connection, which has written its last log line once it is gone."""
        deadline = time.monotonic() + timeout
        while _children(self.pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd {self.pid} still serves a connection after {timeout} s")
            time.sleep(0.02)

    def stop(self) -> None:
        """End this sshd (by its recorded PID) and wait until it is gone."""
        pid = self.pid
        if pid is None and self.pid_file.exists():
            text = self.pid_file.read_text().strip()
            pid = int(text) if text else None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if _gone(pid):
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pid = None

    def libvirt_uri(self, keyfile: Path, user: str = "root") -> str:
        """A qemu+ssh URI through this sshd; no_verify=1 because its host key is throwaway; to the
        tests' libvirtd (tests.helpers.deploy_env.system_uri) through its socket."""
        from tests.helpers.deploy_env import system_socket

        socket_path = system_socket()
        return (f"qemu+ssh://{user}@127.0.0.1:{self.port}/system"
                f"?keyfile={keyfile}&no_verify=1" + (f"&socket={socket_path}" if socket_path else ""))

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
