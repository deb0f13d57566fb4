"""SSH, and only here (paramiko): vmfleet's key pair, pinned host keys, remote commands.

vmfleet logs into its VMs with its own ed25519 key pair, made once by ``vmfleet init`` under
``Home.keys`` (private key mode 0600); ``vmfleet key`` prints the public half for a config's
openssh authorized-keys.

Host keys are pinned, never trusted blindly: the first contact returns the key the server
presented (the caller stores it, e.g. in the VM's registry row), and every later contact compares
the presented key with the pinned one *before* authenticating, raising ``HostKeyMismatch`` on a
difference. Ports of user-mode networking are reused between VMs, so pins belong to a VM, not
to ``host:port``; ``KnownHosts`` is the file-based store for long-lived machines (build hosts).

Errors are kept apart as in testinfra: ``SshError`` means we could not get a working session
(unreachable, refused, wrong key); a command that ran and failed is not an error for ``run``
(it returns ``RemoteResult`` with the exit status), only for ``check_output``.

Why a paramiko Transport and not ``paramiko.SSHClient``: SSHClient also checks a known key
before it logs in and can take a jump host's channel as its socket, but its one ``connect()``
does the handshake and the login together, and ``wait_until_ready`` needs them apart (retry a
refused connection or a missing banner while the guest boots; never retry a changed host key or
a refused login key). Its host keys are a ``host:port`` store, while pins here belong to a VM
(user-mode ports are reused), so each call would build a throw-away store. The checks are the
part below ``_connect``; the tests pin them (key checked before auth, jump hosts, exit status
after EOF).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import logging
import os
import select
import shlex
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vmfleet.errors import CommandFailed, HostKeyMismatch, SshError, UnknownHostKey

# paramiko logs every failed attempt (a guest still booting) as an ERROR with a traceback;
# vmfleet reports failures itself, so keep those off the user's terminal.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False

KEY_FILE = "id_ed25519"
KNOCK_EVERY = 0.5  # wait_until_ready opens a new TCP connection this often (seconds)...
BANNER_WAIT = 10.0  # ...and gives each this long for the server's first bytes
HUNG_UP_TRIES = 3  # connect's tries when the server hangs up before its banner
MAX_KNOCKS = 2  # connections open at once while waiting
ALIVE_EVERY = 1.0  # and asks whether the machine is still worth waiting for this often
STATUS_WAIT = 30.0  # seconds to wait for a command's exit status after its output ended
INTERACTIVE_STATUS_WAIT = 5.0  # the same for a login shell (a user waits on it)
KNOWN_HOSTS_FILE = "known_hosts"


# --- vmfleet's key pair ------------------------------------------------------------------------

def key_path(keys_dir: Path) -> Path:
    return Path(keys_dir) / KEY_FILE


def ensure_keypair(keys_dir: Path, comment: str = "vmfleet") -> Path:
    """Make vmfleet's ed25519 key pair if it does not exist; return the private key's path.

    The private key is written with mode 0600 from the start (never world-readable, not even
    for a moment), in OpenSSH format so that ssh(1) can use it too.
    """
    keys_dir = Path(keys_dir)
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    private = keys_dir / KEY_FILE
    if private.exists():
        return private
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH)
    tmp = keys_dir / f".{KEY_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    (keys_dir / f".{KEY_FILE}.pub.{os.getpid()}").write_bytes(public + f" {comment}\n".encode())
    os.replace(keys_dir / f".{KEY_FILE}.pub.{os.getpid()}", keys_dir / f"{KEY_FILE}.pub")
    os.replace(tmp, private)
    return private


def public_key(keys_dir: Path) -> str:
    """vmfleet's public key, one line: 'ssh-ed25519 AAAA… vmfleet'."""
    pub = Path(keys_dir) / f"{KEY_FILE}.pub"
    if not pub.exists():
        raise SshError(f"vmfleet has no key pair in {keys_dir}", "run 'vmfleet init' first")
    return pub.read_text().strip()


def _load_key(path: Path) -> paramiko.PKey:
    try:
        return paramiko.Ed25519Key.from_private_key_file(os.fspath(path))
    except FileNotFoundError:
        raise SshError(f"no SSH key at {path}", "run 'vmfleet init' to make vmfleet's key pair") \
            from None
    except paramiko.SSHException:
        pass
    try:
        return paramiko.RSAKey.from_private_key_file(os.fspath(path))
    except (paramiko.SSHException, ValueError) as e:
        raise SshError(f"cannot read the SSH key {path}: {e}",
                       "use an unencrypted ed25519 or RSA key") from None


# --- host keys ---------------------------------------------------------------------------------

def key_text(key: paramiko.PKey) -> str:
    """A host key as vmfleet stores it: 'ssh-ed25519 AAAA…'."""
    return f"{key.get_name()} {key.get_base64()}"


def fingerprint(text: str) -> str:
    """OpenSSH's SHA256 fingerprint of a stored key ('SHA256:…'), to show users."""
    try:
        blob = base64.b64decode(text.split()[1])
    except (IndexError, ValueError):
        return text
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


class KnownHosts:
    """Pinned host keys of long-lived machines in a file: '[host]:port type base64' lines."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @staticmethod
    def _name(host: str, port: int) -> str:
        return host if port == 22 else f"[{host}]:{port}"

    def get(self, host: str, port: int) -> str | None:
        if not self.path.exists():
            return None
        want = self._name(host, port)
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == want:
                return f"{parts[1]} {parts[2]}"
        return None

    def add(self, host: str, port: int, key: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(f"{self._name(host, port)} {key}\n")

    def forget(self, host: str, port: int) -> None:
        if not self.path.exists():
            return
        want = self._name(host, port)
        lines = [ln for ln in self.path.read_text().splitlines() if ln.split()[:1] != [want]]
        self.path.write_text("".join(ln + "\n" for ln in lines))


# --- connections -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RemoteResult:
    """What a remote command did: its exit status and output (rc -1: no status, e.g. killed)."""

    rc: int
    stdout: str
    stderr: str

    def __iter__(self):  # so that `rc, out, err = conn.run(...)` works
        return iter((self.rc, self.stdout, self.stderr))


class _Retryable(SshError):
    """Nobody answered properly yet (refused, reset, no banner): worth trying again."""

    handshake = False  # the server accepted the connection, then the SSH handshake failed


class Connection:
    """An authenticated SSH session to one machine. Close it, or use it as a context manager."""

    def __init__(self, transport: paramiko.Transport, host: str, port: int, user: str,
                 host_key: str, via: Connection | None = None):
        self.transport = transport
        self.host = host
        self.port = port
        self.user = user
        self.host_key = host_key  # what the server presented (equal to the pin, if there was one)
        self.via = via  # the jump host this session runs through, closed with it

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.transport.close()
        if self.via is not None:
            self.via.close()

    def _session(self) -> paramiko.Channel:
        try:
            return self.transport.open_session()
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise SshError(f"lost the SSH connection to {self.host}:{self.port}: {e}",
                           "check that the machine is still up") from None

    def run(self, command: str | Sequence[str], *, input: bytes | str | None = None,
            timeout: float | None = None) -> RemoteResult:
        """Run a command; never raises because the command failed (see ``check_output``).

        A list is quoted for the remote shell; a string is passed as one shell command line.
        """
        out, err = bytearray(), bytearray()
        rc = self._exec(command, input, out.extend, err.extend, timeout)
        return RemoteResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def check_output(self, command: str | Sequence[str], **kwargs) -> str:
        """stdout of a command that must succeed; CommandFailed (with its stderr) otherwise."""
        result = self.run(command, **kwargs)
        if result.rc != 0:
            text = command if isinstance(command, str) else shlex.join(command)
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise CommandFailed(
                f"{text!r} failed on {self.host}:{self.port} (exit {result.rc}): {last[0]}",
                f"run it by hand there to see why (ssh -p {self.port} {self.user}@{self.host})",
                returncode=result.rc, stdout=result.stdout, stderr=result.stderr)
        return result.stdout

    def stream(self, command: str | Sequence[str], stdout: BinaryIO, stderr: BinaryIO,
               *, input: bytes | None = None) -> int:
        """Run a command, copying its output as it arrives; returns its exit status."""
        def writer(f):
            def write(data: bytes) -> None:
                f.write(data)
                f.flush()
            return write
        return self._exec(command, input, writer(stdout), writer(stderr), None)

    def _exec(self, command, input, on_out: Callable[[bytes], None],
              on_err: Callable[[bytes], None], timeout: float | None) -> int:
        text = command if isinstance(command, str) else shlex.join(command)
        chan = self._session()
        try:
            chan.exec_command(text)
            if input is not None:
                chan.sendall(input.encode() if isinstance(input, str) else input)
            chan.shutdown_write()
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                busy = False
                if chan.recv_ready():
                    on_out(chan.recv(65536))
                    busy = True
                if chan.recv_stderr_ready():
                    on_err(chan.recv_stderr(65536))
                    busy = True
                if busy:
                    continue
                # The end is the server's EOF, not the exit status: sshd may send the status
                # before the last of the output.
                if chan.eof_received or chan.closed:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise SshError(f"{text!r} on {self.host}:{self.port} did not finish within "
                                   f"{timeout:g} s", "raise the timeout")
                select.select([chan], [], [], 0.2)
            # What arrived between the last read and the EOF (nothing comes after it).
            while chan.recv_ready():
                on_out(chan.recv(65536))
            while chan.recv_stderr_ready():
                on_err(chan.recv_stderr(65536))
            if not chan.status_event.wait(STATUS_WAIT):
                return -1
            return chan.recv_exit_status() if chan.exit_status_ready() else -1
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise SshError(f"lost the SSH connection to {self.host}:{self.port}: {e}",
                           "check that the machine is still up") from None
        finally:
            chan.close()

    def upload(self, local_path: str | os.PathLike, remote_path: str,
               on_chunk: Callable[[int, int], None] | None = None) -> None:
        """Copy a local file to the machine over SFTP; ``on_chunk(bytes_so_far, total)``."""
        with self._sftp("upload", remote_path) as sftp:
            sftp.put(os.fspath(local_path), remote_path, callback=on_chunk)

    def download(self, remote_path: str, local_path: str | os.PathLike,
                 on_chunk: Callable[[int, int], None] | None = None) -> None:
        """Copy a file from the machine over SFTP; ``on_chunk(bytes_so_far, total)``."""
        with self._sftp("download", remote_path) as sftp:
            sftp.get(remote_path, os.fspath(local_path), callback=on_chunk)

    @contextlib.contextmanager
    def _sftp(self, what: str, remote_path: str):
        try:
            sftp = self.transport.open_sftp_client()
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise SshError(f"no SFTP on {self.host}:{self.port}: {e}",
                           "enable the sftp subsystem of its sshd") from None
        try:
            yield sftp
        except FileNotFoundError:
            raise SshError(f"cannot {what} {remote_path} on {self.host}:{self.port}: "
                           "no such file or directory", "check the path") from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise SshError(f"cannot {what} {remote_path} on {self.host}:{self.port}: {e}",
                           "check the path, its permissions and the free space") from None
        finally:
            sftp.close()

    def interactive(self) -> int:
        """A login shell on the terminal (raw mode); returns the shell's exit status."""
        import termios
        import tty

        chan = self._session()
        size = os.get_terminal_size() if sys.stdin.isatty() else os.terminal_size((80, 24))
        chan.get_pty(term=os.environ.get("TERM", "vt100"), width=size.columns,
                     height=size.lines)
        chan.invoke_shell()
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd) if sys.stdin.isatty() else None
        inputs = [chan, fd]
        try:
            if saved is not None:
                tty.setraw(fd)
            while True:
                ready, _, _ = select.select(inputs, [], [])
                if chan in ready:
                    data = chan.recv(65536)
                    if not data:
                        break
                    os.write(sys.stdout.fileno(), data)
                if fd in ready:
                    data = os.read(fd, 4096)
                    if not data:
                        chan.shutdown_write()
                        inputs = [chan]  # an fd at EOF stays readable: select would spin
                    else:
                        chan.sendall(data)
        finally:
            if saved is not None:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        # sshd often sends its EOF before the exit status: wait for that (bounded), and never
        # report success without it.
        got = chan.status_event.wait(INTERACTIVE_STATUS_WAIT)
        status = chan.recv_exit_status() if got else -1
        chan.close()
        return status


def connect(host: str, port: int, *, key: Path, user: str = "root", pinned: str | None = None,
            timeout: float = 10.0, known_hosts: KnownHosts | None = None,
            trust_new: bool = False, via: Connection | None = None) -> Connection:
    """Open an authenticated session, checking the host key against ``pinned`` first.

    With ``pinned=None`` (first contact) any host key is accepted and returned as
    ``Connection.host_key`` for the caller to pin. With ``known_hosts``, the pin comes from that
    file; a host it does not know is refused unless ``trust_new``, which records its key there.
    Raises HostKeyMismatch on a different key, SshError when the machine cannot be reached,
    refuses the key or is unknown. With ``via`` (an open session to a jump host), the TCP
    connection is made from there (``ssh -J``); the returned session closes ``via`` with it.
    """
    unknown_refused = False
    if known_hosts is not None and pinned is None:
        pinned = known_hosts.get(host, port)
        unknown_refused = pinned is None and not trust_new
    for attempt in range(HUNG_UP_TRIES):
        started = time.monotonic()
        try:
            conn = _connect(host, port, key=key, user=user, pinned=pinned, timeout=timeout,
                            refuse_unknown=unknown_refused, via=via)
            break
        except _Retryable as e:
            # A server that hangs up at once, before its banner, is refusing for now (sshd's
            # MaxStartups, dropbear's limit of unauthenticated connections per address): ask
            # again. A refused connection or a silent server is reported at once.
            hung_up = e.handshake and time.monotonic() - started < min(timeout, BANNER_WAIT) / 2
            if not hung_up or attempt == HUNG_UP_TRIES - 1:
                raise SshError(e.message, e.hint) from None
            time.sleep(1.0)
    if known_hosts is not None and pinned is None:
        known_hosts.add(host, port, conn.host_key)
    return conn


def _connect(host: str, port: int, *, key: Path, user: str, pinned: str | None,
             timeout: float, refuse_unknown: bool = False,
             via: Connection | None = None, banner_timeout: float | None = None,
             sock: socket.socket | paramiko.Channel | None = None) -> Connection:
    """``sock``: a connection to ``host:port`` already open (wait_until_ready's), else one is
    made here, through ``via`` when given."""
    where = f"{host}:{port}" + (f" (through {via.host}:{via.port})" if via else "")
    pkey = _load_key(Path(key))
    if sock is None and via is not None:
        try:
            sock = via.transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0),
                                              timeout=timeout)
        except paramiko.ChannelException as e:
            raise _Retryable(f"cannot connect to {where}: {e.text}",
                             "check that the machine is up and its sshd listens there") from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise SshError(f"lost the SSH connection to {via.host}:{via.port}: {e}",
                           "check that the host is still up") from None
    elif sock is None:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise _Retryable(f"cannot connect to {where}: {e.strerror or e}",
                             "check that the machine is up and its sshd listens there") from None
    transport = paramiko.Transport(sock)
    transport.banner_timeout = banner_timeout or timeout
    transport.handshake_timeout = timeout
    transport.auth_timeout = timeout
    if pinned is not None:
        # Ask for the pinned key's type, so a server with several host keys shows that one.
        kind = pinned.split()[0]
        kinds = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if kind == "ssh-rsa" else [kind]
        with contextlib.suppress(ValueError):
            transport.get_security_options().key_types = kinds
    try:
        try:
            transport.start_client(timeout=timeout)
            presented = key_text(transport.get_remote_server_key())
        except (paramiko.SSHException, OSError, EOFError) as e:
            failed = _Retryable(f"no SSH server answered at {where}: {e}",
                                "the machine may still be booting; check its console log")
            failed.handshake = True
            raise failed from None
        if refuse_unknown:
            raise UnknownHostKey(
                f"{where} is not a known host (its key is {fingerprint(presented)})",
                "check that fingerprint on the machine (ssh-keygen -lf /etc/ssh/ssh_host_*.pub) "
                "and trust it explicitly",
            )
        if pinned is not None and presented.split()[:2] != pinned.split()[:2]:
            raise HostKeyMismatch(
                f"host key of {where} changed: pinned {fingerprint(pinned)}, "
                f"presented {fingerprint(presented)}",
                "someone may be impersonating the machine; if it was really rebuilt, "
                "forget the old pin deliberately (never done automatically)",
            )
        try:
            transport.auth_publickey(user, pkey)
        except paramiko.AuthenticationException:
            raise SshError(
                f"{where} refused vmfleet's key for user {user}",
                "add the output of 'vmfleet key' to the config's openssh authorized-keys "
                f"for {user}",
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise _Retryable(f"SSH login to {where} failed: {e}",
                             "the machine may still be booting; check its console log") from None
        transport.set_keepalive(15)
        return Connection(transport, host, port, user, presented, via)
    except BaseException:
        transport.close()
        raise


def wait_until_ready(host: str, port: int, *, key: Path, user: str = "root",
                     pinned: str | None = None, timeout: float = 300.0,
                     interval: float = KNOCK_EVERY,
                     alive: Callable[[], str | None] | None = None,
                     via: Connection | None = None,
                     on_first_key: Callable[[str], None] | None = None) -> Connection:
    """Try to connect until SSH answers and a command runs, or ``timeout`` seconds pass.

    Connection refused, reset, or no banner yet (QEMU's port forward accepts TCP before the
    guest listens) are retried, with a new connection every ``interval`` seconds
    (``_Knocker``). A host-key mismatch or a refused key is not: waiting would not change them.
    ``alive`` is asked about once a second; a non-None answer (e.g. "the domain shut off")
    ends the wait at once with that reason. ``via``: as for ``connect``; it is closed
    when the wait fails. ``on_first_key``: with ``pinned=None``, called with the host key the
    first time one is seen (before logging in), so the caller pins it at first contact; later
    tries must then present the same key.
    """
    try:
        return _wait_until_ready(host, port, key=key, user=user, pinned=pinned,
                                 timeout=timeout, interval=interval, alive=alive, via=via,
                                 on_first_key=on_first_key)
    except BaseException:
        if via is not None:
            via.close()
        raise


class _Knocker:
    """wait_until_ready's connections to ``host:port``: a new one every ``every`` seconds, each
    kept until the server speaks (SSH servers send their banner first), hangs up, or
    BANNER_WAIT passes.

    Why more than one: QEMU's user-mode port forward accepts a connection before the guest
    listens, and a connection made then may never reach the guest's sshd, while one made after
    it listens is answered at once. Waiting long on one connection made a boot's SSH-ready
    seconds late; giving up on each early would never let a slow sshd (OpenSSH under TCG)
    answer. So the oldest connection waits up to BANNER_WAIT while a fresh one replaces the
    previous fresh one at each knock: never more than MAX_KNOCKS open, far below what sshd
    and dropbear refuse from one address (MaxStartups 10; 5 unauthenticated per address).
    """

    def __init__(self, host: str, port: int, via: Connection | None, every: float):
        self.host, self.port, self.via = host, port, via
        self.where = f"{host}:{port}" + (f" (through {via.host}:{via.port})" if via else "")
        self.every = max(every, 0.05)
        self.pending: list[tuple[float, socket.socket | paramiko.Channel]] = []
        self.next_knock = 0.0
        self.last_error: SshError | None = None

    def answered(self, until: float) -> socket.socket | paramiko.Channel | None:
        """A connection on which the server has spoken (its bytes still unread), or None if
        none has by ``until``."""
        while True:
            now = time.monotonic()
            if now >= self.next_knock:
                self.next_knock = now + self.every
                if len(self.pending) >= MAX_KNOCKS:
                    self.pending.pop()[1].close()  # the newest: the oldest keeps waiting
                self._knock()
            for opened, conn in list(self.pending):
                state = self._state(conn)
                if state == "spoke":
                    self.pending.remove((opened, conn))
                    return conn
                if state == "gone" or now - opened > BANNER_WAIT:
                    if state != "gone":
                        self.last_error = _Retryable(
                            f"no SSH server answered at {self.where} within {BANNER_WAIT:g} s",
                            "the machine may still be booting; check its console log")
                    self.pending.remove((opened, conn))
                    conn.close()
            wait = min(self.next_knock, until) - time.monotonic()
            if wait <= 0 and time.monotonic() >= until:
                return None
            if wait > 0:
                select.select([c for _, c in self.pending], [], [], wait)

    def close(self) -> None:
        for _, conn in self.pending:
            conn.close()
        self.pending.clear()

    def _knock(self) -> None:
        if self.via is not None:
            try:
                conn = self.via.transport.open_channel("direct-tcpip", (self.host, self.port),
                                                       ("127.0.0.1", 0), timeout=10)
            except paramiko.ChannelException as e:
                self.last_error = _Retryable(f"cannot connect to {self.where}: {e.text}",
                                             "check that the machine is up and its sshd "
                                             "listens there")
                return
            except (paramiko.SSHException, OSError, EOFError) as e:
                raise SshError(f"lost the SSH connection to {self.via.host}:{self.via.port}: {e}",
                               "check that the host is still up") from None
            self.pending.append((time.monotonic(), conn))
            return
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM)[0]
        except OSError as e:
            self.last_error = _Retryable(f"cannot connect to {self.where}: {e.strerror or e}",
                                         "check the machine's address")
            return
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        error = sock.connect_ex(address)
        if error not in (0, errno.EINPROGRESS):
            sock.close()
            self.last_error = _Retryable(f"cannot connect to {self.where}: {os.strerror(error)}",
                                         "check that the machine is up and its sshd listens "
                                         "there")
            return
        self.pending.append((time.monotonic(), sock))

    def _state(self, conn: socket.socket | paramiko.Channel) -> str:
        """"spoke", "gone" (refused, reset or closed) or "waiting"."""
        if isinstance(conn, paramiko.Channel):
            if conn.recv_ready():
                return "spoke"
            return "gone" if conn.closed or conn.eof_received else "waiting"
        try:
            data = conn.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return "waiting"
        except OSError as e:
            self.last_error = _Retryable(f"cannot connect to {self.where}: {e.strerror or e}",
                                         "check that the machine is up and its sshd listens "
                                         "there")
            return "gone"
        return "spoke" if data else "gone"


def _wait_until_ready(host: str, port: int, *, key: Path, user: str, pinned: str | None,
                      timeout: float, interval: float, alive: Callable[[], str | None] | None,
                      via: Connection | None,
                      on_first_key: Callable[[str], None] | None = None) -> Connection:
    deadline = time.monotonic() + timeout
    last: SshError | None = None
    knocker = _Knocker(host, port, via, every=interval)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock = knocker.answered(until=time.monotonic() + min(ALIVE_EVERY, remaining))
            if sock is None:
                last = knocker.last_error or last
            else:
                try:
                    conn = _connect(host, port, key=key, user=user, pinned=pinned,
                                    timeout=max(1.0, min(30.0, remaining)), via=via, sock=sock)
                except _Retryable as e:
                    last = e
                else:
                    try:
                        if pinned is None:
                            pinned = conn.host_key  # first contact: from now on only this key
                            if on_first_key is not None:
                                on_first_key(pinned)
                        if conn.run("true", timeout=max(1.0, remaining)).rc == 0:
                            return conn
                    except SshError as e:
                        last = e
                    except BaseException:
                        conn.transport.close()
                        raise
                    conn.transport.close()
            if alive is not None:
                reason = alive()
                if reason:
                    raise SshError(f"gave up waiting for SSH on {host}:{port}: {reason}",
                                   "look at the console log")
    finally:
        knocker.close()
    raise SshError(
        f"SSH on {host}:{port} did not answer within {timeout:g} s"
        + (f" (last: {last.message})" if last else ""),
        "the guest may be slow to boot (raise --timeout) or broken (look at its console log)",
    )
