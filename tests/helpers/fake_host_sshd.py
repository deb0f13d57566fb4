"""A stand-in for ``ssh.connect`` to a remote hypervisor's sshd (unit tests of host keys)."""

from __future__ import annotations

HV_URI = "qemu+ssh://root@hv1.example:2222/system"


class FakeHostSshd:
    """Stands in for ssh.connect to a remote host's sshd whose host key is KEY."""

    KEY = "ssh-ed25519 AAAAhostkey"

    def __init__(self):
        self.calls = []

    def connect(self, host, port, *, known_hosts=None, trust_new=False, **kw):
        from vmfleet.errors import UnknownHostKey
        from vmfleet.tools import ssh

        self.calls.append((host, port, trust_new))
        pinned = known_hosts.get(host, port)
        if pinned is None and not trust_new:
            raise UnknownHostKey(f"{host}:{port} is not a known host", "check the fingerprint")
        if pinned is None:
            known_hosts.add(host, port, self.KEY)
        return ssh.Connection(None, host, port, "root", self.KEY)
