"""vmfleet's SSH layer against a real sshd on 127.0.0.1: commands, pins, waiting, jump, SFTP."""

from __future__ import annotations

import threading
import time

import pytest

from tests.helpers.sshd import Sshd, free_port
from vmfleet.errors import CommandFailed, HostKeyMismatch, SshError
from vmfleet.tools import ssh

pytestmark = pytest.mark.integration


@pytest.fixture
def keys(tmp_path):
    return ssh.ensure_keypair(tmp_path / "keys")


@pytest.fixture
def server(tmp_path, keys):
    srv = Sshd(tmp_path / "sshd", [ssh.public_key(keys.parent)])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_run_returns_status_and_both_outputs(server, keys):
    with ssh.connect("127.0.0.1", server.port, key=keys) as conn:
        assert conn.host_key == server.host_key
        rc, out, err = conn.run("echo out; echo err >&2; exit 3")
        assert (rc, out, err) == (3, "out\n", "err\n")
        assert conn.run(["printf", "%s|", "a b", "it's", "$HOME"]).stdout == "a b|it's|$HOME|"
        assert conn.run("wc -c", input=b"x" * 300_000).stdout.strip() == "300000"
        big = conn.run("head -c 3000000 /dev/zero | tr '\\0' a; head -c 2000000 /dev/zero >&2")
        assert (len(big.stdout), len(big.stderr)) == (3_000_000, 2_000_000)  # no deadlock


def test_check_output_raises_on_failure_with_stderr(server, keys):
    with ssh.connect("127.0.0.1", server.port, key=keys) as conn:
        assert conn.check_output("echo hi") == "hi\n"
        with pytest.raises(CommandFailed, match="exit 2") as exc:
            conn.check_output("echo broken >&2; exit 2")
        assert exc.value.returncode == 2 and exc.value.stderr == "broken\n"


def test_connection_failure_is_an_error_not_a_status(keys):
    with pytest.raises(SshError, match="cannot connect") as exc:
        ssh.connect("127.0.0.1", free_port(), key=keys, timeout=2)
    assert not isinstance(exc.value, HostKeyMismatch)


def test_a_different_host_key_is_refused_before_logging_in(server, keys, tmp_path):
    with ssh.connect("127.0.0.1", server.port, key=keys) as conn:
        pinned = conn.host_key
    with ssh.connect("127.0.0.1", server.port, key=keys, pinned=pinned) as conn:
        assert conn.run("true").rc == 0
    # The server is replaced by one with another key on the same address.
    server.stop()
    impostor = Sshd(tmp_path / "impostor", [ssh.public_key(keys.parent)], port=server.port)
    impostor.start()
    try:
        logins_before = impostor.log_file.read_text().count("Accepted publickey")
        with pytest.raises(HostKeyMismatch, match="changed") as exc:
            ssh.connect("127.0.0.1", server.port, key=keys, pinned=pinned)
        assert ssh.fingerprint(pinned) in exc.value.message
        # wait_until_ready does not retry (or accept) a mismatch either.
        t0 = time.monotonic()
        with pytest.raises(HostKeyMismatch):
            ssh.wait_until_ready("127.0.0.1", server.port, key=keys, pinned=pinned, timeout=20)
        assert time.monotonic() - t0 < 5
        impostor.wait_idle()  # every connection ended and logged
        assert impostor.log_file.read_text().count("Accepted publickey") == logins_before
    finally:
        impostor.stop()


def test_known_hosts_refuses_unknown_hosts_unless_trusted(server, keys, tmp_path):
    known = ssh.KnownHosts(tmp_path / "known_hosts")
    with pytest.raises(SshError, match="not a known host"):
        ssh.connect("127.0.0.1", server.port, key=keys, known_hosts=known)
    with ssh.connect("127.0.0.1", server.port, key=keys, known_hosts=known, trust_new=True):
        pass
    assert known.get("127.0.0.1", server.port) == server.host_key
    with ssh.connect("127.0.0.1", server.port, key=keys, known_hosts=known) as conn:
        assert conn.run("true").rc == 0


def test_a_key_the_server_does_not_know_is_refused(server, tmp_path):
    other = ssh.ensure_keypair(tmp_path / "other")
    with pytest.raises(SshError, match="refused vmfleet's key") as exc:
        ssh.connect("127.0.0.1", server.port, key=other)
    assert "vmfleet key" in exc.value.hint


def test_wait_until_ready_waits_for_a_late_server(tmp_path, keys):
    late = Sshd(tmp_path / "late", [ssh.public_key(keys.parent)])
    failed: list[BaseException] = []  # an exception in the timer thread is otherwise lost

    def start_late():
        try:
            late.start()
        except BaseException as e:
            failed.append(e)

    timer = threading.Timer(1.5, start_late)
    timer.start()
    try:
        t0 = time.monotonic()
        try:
            with ssh.wait_until_ready("127.0.0.1", late.port, key=keys, timeout=30,
                                      interval=0.2) as conn:
                assert conn.run("echo up").stdout == "up\n"
        except SshError:
            timer.join()
            assert not failed, f"the late sshd did not start: {failed[0]!r}"
            raise
        assert 1.0 < time.monotonic() - t0 < 15
    finally:
        timer.join()
        late.stop()
    assert not failed, f"the late sshd failed: {failed[0]!r}"


def test_wait_until_ready_gives_up_with_the_reason(keys):
    t0 = time.monotonic()
    with pytest.raises(SshError, match="did not answer within 1.5 s"):
        ssh.wait_until_ready("127.0.0.1", free_port(), key=keys, timeout=1.5, interval=0.2)
    assert time.monotonic() - t0 < 5
    with pytest.raises(SshError, match="the domain shut off"):
        ssh.wait_until_ready("127.0.0.1", free_port(), key=keys, timeout=30,
                             alive=lambda: "the domain shut off")


def test_through_a_jump_host(server, keys):
    jump = ssh.connect("127.0.0.1", server.port, key=keys)
    with ssh.connect("127.0.0.1", server.port, key=keys, via=jump,
                     pinned=server.host_key) as conn:
        assert conn.run("echo via").stdout == "via\n"
    assert not jump.transport.is_active()  # closed together with the session it carried


def test_sftp_upload_and_download(server, keys, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"\x00\x01" * 100_000)
    seen = []
    with ssh.connect("127.0.0.1", server.port, key=keys) as conn:
        conn.upload(src, str(tmp_path / "remote.bin"), on_chunk=lambda n, t: seen.append((n, t)))
        conn.download(str(tmp_path / "remote.bin"), tmp_path / "back.bin")
        with pytest.raises(SshError, match="no such file"):
            conn.download(str(tmp_path / "missing"), tmp_path / "x")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    assert seen[-1] == (200_000, 200_000)
