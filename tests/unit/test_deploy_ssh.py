"""vmfleet's key pair and host-key pins (no network; the sshd tests are in integration)."""

from __future__ import annotations

import stat

import pytest

from vmfleet import ssh
from vmfleet.errors import SshError
from vmfleet.run import run


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
