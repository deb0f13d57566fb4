"""vmfleet's key pair and host-key pins (no network; the sshd tests are in integration)."""

from __future__ import annotations

import socket
import stat
import time

import pytest

from vmfleet.errors import SshError
from vmfleet.tools import ssh
from vmfleet.tools.run import run


def test_key_pair_is_made_once_with_a_private_key_only_we_can_read(tmp_path):
    keys = tmp_path / "keys"
    private = ssh.ensure_keypair(keys)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    public = ssh.public_key(keys)
    assert public.startswith("ssh-ed25519 AAAA") and public.endswith(" vmfleet")
    before = private.read_bytes()
    assert ssh.ensure_keypair(keys) == private and private.read_bytes() == before
    # OpenSSH agrees it is a valid key whose public half is the one we print.
    derived = run(["ssh-keygen", "-y", "-f", str(private)]).stdout.split()[:2]
    assert derived == public.split()[:2]


def test_public_key_before_init_says_what_to_do(tmp_path):
    with pytest.raises(SshError, match="no key pair") as exc:
        ssh.public_key(tmp_path)
    assert "vmfleet init" in exc.value.hint


def test_fingerprint_matches_ssh_keygen(tmp_path):
    ssh.ensure_keypair(tmp_path)
    expected = run(["ssh-keygen", "-l", "-f", str(tmp_path / "id_ed25519.pub")]).stdout.split()[1]
    assert ssh.fingerprint(ssh.public_key(tmp_path)) == expected


def test_known_hosts_pins_per_host_and_port(tmp_path):
    known = ssh.KnownHosts(tmp_path / "known_hosts")
    assert known.get("hv1", 22) is None
    known.add("hv1", 22, "ssh-ed25519 AAAA1")
    known.add("127.0.0.1", 2222, "ssh-ed25519 AAAA2")
    assert known.get("hv1", 22) == "ssh-ed25519 AAAA1"
    assert known.get("127.0.0.1", 2222) == "ssh-ed25519 AAAA2"
    assert known.get("127.0.0.1", 22) is None
    assert "[127.0.0.1]:2222 ssh-ed25519 AAAA2" in known.path.read_text()  # OpenSSH's format
    known.forget("hv1", 22)
    assert known.get("hv1", 22) is None and known.get("127.0.0.1", 2222)


def test_remote_result_unpacks_like_testinfra():
    rc, out, err = ssh.RemoteResult(3, "o", "e")
    assert (rc, out, err) == (3, "o", "e")


def test_wait_until_ready_closes_the_jump_session_when_alive_raises(tmp_path):
    import paramiko

    class Transport:
        def open_channel(self, *a, **k):
            raise paramiko.ChannelException(2, "Connect failed")

    class Jump:
        host, port, transport, closed = "hv", 22, Transport(), 0

        def close(self):
            self.closed += 1

    def alive():
        raise SshError("lost the libvirt connection", "retry")

    jump = Jump()
    with pytest.raises(SshError, match="lost the libvirt connection"):
        ssh.wait_until_ready("127.0.0.1", 22, key=ssh.ensure_keypair(tmp_path), timeout=5,
                             alive=alive, via=jump)
    assert jump.closed == 1


class _ShellChannel:
    """A paramiko Channel's interactive side over a socketpair: the test plays the server."""

    def __init__(self):
        import socket
        import threading

        self.ours, self.server = socket.socketpair()
        self.status_event = threading.Event()
        self.exit_status = -1
        self.shutdowns = 0
        self.sent = b""

    def fileno(self):
        return self.ours.fileno()

    def get_pty(self, **kw):
        pass

    def invoke_shell(self):
        pass

    def recv(self, n):
        return self.ours.recv(n)

    def sendall(self, data):
        self.sent += data

    def shutdown_write(self):
        self.shutdowns += 1

    def exit_status_ready(self):
        return self.status_event.is_set()

    def recv_exit_status(self):
        self.status_event.wait()
        return self.exit_status

    def close(self):
        self.ours.close()


def _interactive(monkeypatch, tmp_path, chan, stdin: bytes) -> int:
    import os
    import sys

    r, w = os.pipe()
    os.write(w, stdin)
    os.close(w)  # stdin ends at once (e.g. `vmfleet ssh web < /dev/null`)
    monkeypatch.setattr(sys, "stdin", open(r, "rb", buffering=0))
    monkeypatch.setattr(sys, "stdout", open(tmp_path / "out", "wb"))
    conn = ssh.Connection(None, "127.0.0.1", 22, "root", "ssh-ed25519 AAAA")
    monkeypatch.setattr(conn, "_session", lambda: chan)
    try:
        return conn.interactive()
    finally:
        sys.stdin.close()
        sys.stdout.close()


def test_interactive_waits_for_the_exit_status_that_comes_after_eof(monkeypatch, tmp_path):
    import threading

    chan = _ShellChannel()
    chan.server.sendall(b"bye\r\n")
    chan.server.close()  # OpenSSH often sends EOF before the exit-status message

    def late_status():
        chan.exit_status = 3
        chan.status_event.set()

    threading.Timer(0.3, late_status).start()
    assert _interactive(monkeypatch, tmp_path, chan, b"exit 3\n") == 3
    assert (tmp_path / "out").read_bytes() == b"bye\r\n"


def test_interactive_without_an_exit_status_is_not_success(monkeypatch, tmp_path):
    chan = _ShellChannel()
    chan.server.close()
    monkeypatch.setattr(ssh, "INTERACTIVE_STATUS_WAIT", 0.2, raising=False)
    assert _interactive(monkeypatch, tmp_path, chan, b"") == -1


def test_interactive_stops_reading_stdin_after_its_eof(monkeypatch, tmp_path):
    import os
    import threading

    reads = []
    real_read = os.read

    def counting_read(fd, n):
        data = real_read(fd, n)
        reads.append(data)
        return data

    monkeypatch.setattr(ssh.os, "read", counting_read)
    chan = _ShellChannel()

    def server_ends():
        chan.exit_status = 0
        chan.status_event.set()
        chan.server.close()

    threading.Timer(0.3, server_ends).start()
    assert _interactive(monkeypatch, tmp_path, chan, b"") == 0
    assert reads == [b""] and chan.shutdowns == 1  # no spinning on os.read -> b""


def test_wait_until_ready_pins_the_host_key_at_first_contact(monkeypatch, tmp_path):
    """Issue 12: a deploy killed while its VM boots had seen the VM's key and not pinned it."""
    import types

    seen_pins, pinned = [], []

    class Session:
        host_key = "ssh-ed25519 FIRST"
        transport = types.SimpleNamespace(close=lambda: None)

        def run(self, command, timeout):
            if len(seen_pins) == 1:
                raise SshError("the guest is still starting", "wait")
            raise KeyboardInterrupt  # killed during the wait

    def connect(host, port, *, pinned, **kw):
        seen_pins.append(pinned)
        return Session()

    class Knocker:  # every knock is answered at once
        def __init__(self, *a, **k):
            pass

        def answered(self, until):
            return object()

        def close(self):
            pass

    monkeypatch.setattr(ssh, "_connect", connect)
    monkeypatch.setattr(ssh, "_Knocker", Knocker)
    with pytest.raises(KeyboardInterrupt):
        ssh.wait_until_ready("127.0.0.1", 22, key=ssh.ensure_keypair(tmp_path), timeout=30,
                             interval=0.01, on_first_key=pinned.append)
    assert pinned == ["ssh-ed25519 FIRST"]  # recorded before the kill
    assert seen_pins == [None, "ssh-ed25519 FIRST"]  # and required from then on


class _FakeForward:
    """A listener on 127.0.0.1 that plays QEMU's port forward in front of a booting guest:
    connections accepted before ``listens_after`` seconds never hear a word (the guest was not
    listening when they came); later ones get a banner after ``banner_delay`` seconds. Counts
    the connections open at once."""

    def __init__(self, listens_after: float, banner_delay: float = 0.0):
        import socket
        import threading

        self.listens_after, self.banner_delay = listens_after, banner_delay
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open_now = self.most_open = 0
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        import threading

        self.server.settimeout(0.05)
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._serve, args=(conn, time.monotonic() - self.t0))
            t.start()
            self.threads.append(t)

    def _serve(self, conn, accepted_at):
        with self.lock:
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
        try:
            conn.settimeout(0.05)
            deadline = time.monotonic() + self.banner_delay
            while not self.stopped.is_set():
                if accepted_at >= self.listens_after and time.monotonic() >= deadline:
                    conn.sendall(b"SSH-2.0-fake\r\n")
                    deadline = float("inf")
                try:
                    if conn.recv(1) == b"":
                        return  # the client hung up
                except TimeoutError:
                    pass
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.open_now -= 1

    def stop(self):
        self.stopped.set()
        for t in self.threads:
            t.join(timeout=5)
        self.server.close()


@pytest.mark.parametrize("listens_after,banner_delay,within", [
    (1.5, 0.0, (1.4, 3.0)),   # fresh connections find the guest soon after it listens
    (0.0, 3.0, (2.9, 5.5)),   # a slow server still gets to speak: the oldest one waits
])
def test_the_knocker_finds_a_guest_soon_after_it_listens_with_few_connections(
        listens_after, banner_delay, within):
    forward = _FakeForward(listens_after, banner_delay)
    knocker = ssh._Knocker("127.0.0.1", forward.port, None, every=0.2)
    try:
        t0 = time.monotonic()
        sock = knocker.answered(until=t0 + 10)
        took = time.monotonic() - t0
        assert sock is not None
        assert sock.recv(4, socket.MSG_PEEK) == b"SSH-"  # left for paramiko
        sock.close()
        assert within[0] < took < within[1], took
    finally:
        knocker.close()
        forward.stop()
    # two, and one replaced that the server has not seen closed yet (without a cap: ~15 here)
    assert forward.most_open <= 3


def test_connect_asks_again_when_the_server_hangs_up_before_its_banner(monkeypatch, tmp_path):
    """An sshd at its MaxStartups (or dropbear at 5 unauthenticated connections from one
    address) closes new connections at once: connect tries again; a refusal it reports at once."""
    calls = []

    def hung_up_twice(host, port, **kw):
        calls.append(port)
        if port == 1:
            raise ssh._Retryable("cannot connect to 127.0.0.1:1: Connection refused", "up?")
        if len(calls) < 3:
            e = ssh._Retryable("no SSH server answered at 127.0.0.1:2: EOF", "booting?")
            e.handshake = True
            raise e
        return "session"

    monkeypatch.setattr(ssh, "_connect", hung_up_twice)
    monkeypatch.setattr(ssh.time, "sleep", lambda s: None)
    key = ssh.ensure_keypair(tmp_path)
    assert ssh.connect("127.0.0.1", 2, key=key) == "session" and calls == [2, 2, 2]
    calls.clear()
    with pytest.raises(SshError, match="Connection refused"):
        ssh.connect("127.0.0.1", 1, key=key)
    assert calls == [1]
