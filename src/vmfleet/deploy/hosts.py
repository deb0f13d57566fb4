"""Hypervisor hosts: a name for a libvirt URI, and for remote ones the storage pool vmfleet uses.

``local`` (qemu:///system) exists without being added; ``vmfleet host add NAME URI`` adds others,
usually ``qemu+ssh://root@hv1/system``. A host whose URI names a machine is *remote*: its disks
go through libvirt's storage API into a ``dir`` pool that vmfleet defines there itself (never
assuming a ``default`` pool), and SSH to its VMs goes through the host's own sshd, because
user-mode networking forwards to the host's 127.0.0.1 only.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from vmfleet import settings, timeutil
from vmfleet.errors import NotFound, UnknownHostKey, UsageError
from vmfleet.home import Home
from vmfleet.names import check_name
from vmfleet.registry import hosts as host_rows
from vmfleet.registry import vms as vm_rows
from vmfleet.registry.db import Registry
from vmfleet.tools import virt

LOCAL = "local"
LOCAL_URI_ENV = settings.LOCAL_URI  # where 'local' points; tests may aim it at test:///default
DEFAULT_POOL = "vmfleet"
DEFAULT_POOL_DIR = "/var/lib/vmfleet/pool"


@dataclass(frozen=True)
class Host:
    name: str
    uri: str
    remote: bool
    pool: str | None  # remote hosts only
    pool_dir: str | None
    created: str | None  # None for the built-in 'local'

    @property
    def ssh_user(self) -> str:
        return urllib.parse.urlsplit(self.uri).username or "root"

    @property
    def ssh_address(self) -> tuple[str, int]:
        """(host, port) of the remote host's sshd, as the URI names it."""
        parts = urllib.parse.urlsplit(self.uri)
        return parts.hostname or "", parts.port or 22

    @property
    def ssh_keyfile(self) -> Path | None:
        """The key the URI names (?keyfile=…), else the user's usual one, if any."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.uri).query)
        if query.get("keyfile"):
            return Path(query["keyfile"][0])
        for name in ("id_ed25519", "id_rsa"):
            path = Path(os.path.expanduser(f"~/.ssh/{name}"))
            if path.exists():
                return path
        return None


def local_host() -> Host:
    return Host(LOCAL, settings.get(LOCAL_URI_ENV) or virt.DEFAULT_URI, False, None, None, None)


def _from_row(row: dict) -> Host:
    remote = virt.is_remote_uri(row["uri"])
    return Host(row["name"], row["uri"], remote,
                row.get("pool") or (DEFAULT_POOL if remote else None),
                row.get("pool_dir") or (DEFAULT_POOL_DIR if remote else None),
                row["created"])


# vmfleet runs QEMU domains ('test' is libvirt's mock driver, for tests); libvirt's transports.
DRIVERS = ("qemu", "test")
TRANSPORTS = ("ssh", "libssh", "libssh2", "tcp", "tls", "unix", "ext")


def check_uri(uri: str) -> str:
    """A libvirt URI vmfleet can use. An unknown scheme is refused here: libvirt would take
    ``foo://hv1/system`` for a TLS connection and complain about a missing CA certificate."""
    parts = urllib.parse.urlsplit(uri)
    if not parts.scheme or "://" not in uri:
        raise UsageError(f"not a libvirt URI: {uri!r}",
                         "write it like qemu:///system or qemu+ssh://root@hv1/system")
    driver, _, transport = parts.scheme.partition("+")
    if driver not in DRIVERS or (transport and transport not in TRANSPORTS):
        raise UsageError(f"unknown URI scheme {parts.scheme!r} in {uri}",
                         "vmfleet runs QEMU domains: write qemu:///system or "
                         "qemu+ssh://root@HOST/system (transports: " + ", ".join(TRANSPORTS) + ")")
    return uri


def add(reg: Registry, name: str, uri: str, *, pool: str | None = None,
        pool_dir: str | None = None, verify: bool = True, home: Home | None = None,
        trust_new_host: bool = False) -> Host:
    """Record a host; with ``verify``, first check that libvirt answers at ``uri``.

    With ``verify`` and ``home``, a remote host's SSH host key is pinned too (in the home's
    known_hosts; SSH to its VMs goes through that sshd): an unknown key is refused unless
    ``trust_new_host``, since nothing later asks again.
    """
    check_name(name, "host")
    check_uri(uri)
    if name == LOCAL:
        raise UsageError("'local' is built in (qemu:///system)",
                         f"pick another name, or set ${LOCAL_URI_ENV} to aim 'local' elsewhere")
    if pool is not None:
        check_name(pool, "pool")
    if pool_dir is not None and not pool_dir.startswith("/"):
        raise UsageError(f"--pool-dir must be an absolute path, not {pool_dir!r}",
                         f"give the directory as the remote host sees it, e.g. {DEFAULT_POOL_DIR}")
    if host_rows.row(reg, name):
        raise UsageError(f"host {name} already exists", "pick another name, or "
                         f"'vmfleet host remove {name}' first")
    if verify:
        virt.connect(uri).close()
        host = _from_row({"name": name, "uri": uri, "pool": pool, "pool_dir": pool_dir,
                          "created": None})
        if host.remote and home is not None:
            pin_ssh_key(home, host, trust_new=trust_new_host).close()
    with reg.write():
        host_rows.add(reg, name=name, uri=uri, created=timeutil.now(), pool=pool,
                      pool_dir=pool_dir)
    return get(reg, name)


def ssh_key(home: Home, host: Host) -> Path:
    """The key vmfleet logs into a remote host's sshd with (see ``Host.ssh_keyfile``)."""
    from vmfleet.tools import ssh

    return host.ssh_keyfile or ssh.ensure_keypair(home.keys)


def pin_ssh_key(home: Home, host: Host, *, trust_new: bool = False):
    """An SSH session to a remote host, its host key checked against the home's known_hosts.

    An unknown key is recorded only with ``trust_new`` (``vmfleet host add --trust-new-host``);
    otherwise UnknownHostKey names that flag.
    """
    from vmfleet.tools import ssh

    address, port = host.ssh_address
    known = ssh.KnownHosts(home.keys / ssh.KNOWN_HOSTS_FILE)
    try:
        return ssh.connect(address, port, key=ssh_key(home, host), user=host.ssh_user,
                           known_hosts=known, trust_new=trust_new)
    except UnknownHostKey as e:
        add = f"vmfleet host add {host.name} {host.uri} --trust-new-host"
        raise UnknownHostKey(
            f"host {host.name}: {e.message}",
            f"{e.hint}: {add}" if host.created is None else
            f"{e.hint}: 'vmfleet host remove {host.name}' then '{add}', or add the line "
            f"'{ssh.KnownHosts._name(address, port)} TYPE KEY' to {known.path}",
        ) from None


def get(reg: Registry, name: str) -> Host:
    if name == LOCAL:
        return local_host()
    row = host_rows.row(reg, name)
    if row is None:
        known = ", ".join(h.name for h in list_hosts(reg))
        raise NotFound(f"no host {name!r} (known: {known})",
                       f"add it: vmfleet host add {name} qemu+ssh://root@HOST/system")
    return _from_row(row)


def list_hosts(reg: Registry) -> list[Host]:
    return [local_host()] + [_from_row(r) for r in host_rows.rows(reg)]


def remove(reg: Registry, name: str) -> None:
    """Forget a host; refused while the registry has VMs on it."""
    host = get(reg, name)
    if host.name == LOCAL:
        raise UsageError("'local' is built in and cannot be removed",
                         f"to aim it at another libvirt, set ${LOCAL_URI_ENV}")
    vms = vm_rows.names(reg, host=name)
    if vms:
        raise UsageError(f"host {name} still has VMs: {', '.join(vms)}",
                         "destroy them first (vmfleet destroy VM)")
    with reg.write():
        host_rows.delete(reg, name)
