"""libvirt, and only here: connections, domains and storage pools, with errors that name the fix.

Every other module talks to hypervisors through ``Conn``, which speaks in domain names, volume
names and plain records, and turns ``libvirt.libvirtError`` into ``LibvirtError`` /
``NotFound`` with a hint. The cases a user meets are told apart: libvirtd not running, a URI
no driver understands, a remote host that cannot be reached, a directory QEMU may not read,
a full disk.

Remote hosts (``qemu+ssh://…``) get their disks through libvirt's storage API, so vmfleet
needs nothing on them but libvirtd and sshd: a ``dir`` pool that vmfleet defines itself (no
``default`` pool is assumed), base images uploaded into it once as volumes, overlays created
there as qcow2 volumes backed by them.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt

from vmfleet.errors import LibvirtError, NotFound
from vmfleet.tools import domain_xml


def _quiet(_ctx, _err) -> None:
    """libvirt prints every error to stderr by default; vmfleet reports them itself."""


libvirt.registerErrorHandler(_quiet, None)

DEFAULT_URI = "qemu:///system"


class DomainState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    SHUTOFF = "shut off"
    SHUTTING_DOWN = "shutting down"
    CRASHED = "crashed"
    OTHER = "other"

    @property
    def active(self) -> bool:
        return self in (DomainState.RUNNING, DomainState.PAUSED, DomainState.SHUTTING_DOWN)


_STATES = {
    libvirt.VIR_DOMAIN_RUNNING: DomainState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: DomainState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: DomainState.PAUSED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: DomainState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: DomainState.SHUTTING_DOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: DomainState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: DomainState.CRASHED,
}


@dataclass(frozen=True)
class DomainInfo:
    name: str
    state: DomainState
    metadata: domain_xml.VmMetadata | None  # None: not a vmfleet domain
    xml: str


def is_remote_uri(uri: str) -> bool:
    """A URI naming a host (qemu+ssh://user@hv1/system) is remote; qemu:///system is not."""
    return bool(urllib.parse.urlsplit(uri).hostname)


def uri_host(uri: str) -> str | None:
    return urllib.parse.urlsplit(uri).hostname


REMOTE_CONNECT_TIMEOUT = 30.0


def connect(uri: str, *, timeout: float | None = None) -> Conn:
    """Open a connection to ``uri``; errors say whether libvirtd, the URI or the network is at
    fault.

    A remote URI whose host does not answer would block for minutes (ssh's TCP timeout), so
    remote connections give up after ``timeout`` seconds (default 30). The attempt goes on in a
    daemon thread and is dropped when vmfleet exits.
    """
    if not is_remote_uri(uri):
        return Conn(_open(uri), uri)
    limit = REMOTE_CONNECT_TIMEOUT if timeout is None else timeout
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(_try_open(uri)), daemon=True,
                              name=f"libvirt-connect {uri}")
    worker.start()
    worker.join(limit)
    if not outcome:
        raise LibvirtError(f"no answer from {uri} within {limit:g} s",
                           f"check that {uri_host(uri)} is up and reachable over ssh")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return Conn(result, uri)


def _try_open(uri: str):
    try:
        return _open(uri)
    except BaseException as e:  # handed to the caller's thread
        return e


def _open(uri: str):
    try:
        raw = libvirt.open(uri)
    except libvirt.libvirtError as e:
        raise _connect_error(uri, e) from None
    if raw is None:  # old bindings returned None instead of raising
        raise LibvirtError(f"cannot connect to {uri}", "check that libvirtd runs there")
    return raw


def _connect_error(uri: str, e: libvirt.libvirtError) -> LibvirtError:
    msg = _msg(e)
    code = e.get_error_code()
    if code == libvirt.VIR_ERR_NO_CONNECT or "no connection driver" in msg:
        return LibvirtError(
            f"unknown libvirt URI {uri}: {msg}",
            "use a URI like qemu:///system or qemu+ssh://root@HOST/system "
            "(and check the libvirt driver for it is installed)",
        )
    if "unexpected qemu URI path" in msg:
        return LibvirtError(f"unknown libvirt URI {uri}: {msg}",
                            "the path of a qemu URI is /system or /session")
    if is_remote_uri(uri):
        host = uri_host(uri)
        if "Could not resolve hostname" in msg or "Name or service not known" in msg:
            return LibvirtError(f"unknown host {host} in {uri}: {msg}",
                                "check the host name (or add it to /etc/hosts or ~/.ssh/config)")
        if "Permission denied" in msg or "authentication" in msg.lower():
            return LibvirtError(
                f"ssh to {host} refused our key ({uri}): {msg}",
                "put a key that ssh can use into the remote user's authorized_keys, "
                "or name one with ?keyfile=PATH in the URI",
            )
        if "libvirt-sock" in msg or "Failed to connect socket" in msg:
            return LibvirtError(f"libvirtd is not running on {host} ({uri}): {msg}",
                                f"start libvirtd on {host} (systemctl start libvirtd)")
        return LibvirtError(
            f"cannot reach {uri}: {msg}",
            f"check that {host} is up and its sshd answers: ssh {host} virsh version",
        )
    if "Failed to connect socket" in msg or "libvirt-sock" in msg:
        return LibvirtError(
            f"libvirtd is not running ({uri}): {msg}",
            "start it: scripts/start-services.sh (or systemctl start libvirtd; "
            "without systemd: libvirtd -d and virtlogd -d)",
        )
    if "Permission denied" in msg or "authentication" in msg.lower():
        return LibvirtError(f"not allowed to use {uri}: {msg}",
                            "run vmfleet as root or as a member of the libvirt group")
    return LibvirtError(f"cannot connect to {uri}: {msg}", "check that libvirtd runs: virsh -c "
                        f"'{uri}' version")


def _msg(e: libvirt.libvirtError) -> str:
    return (e.get_error_message() or str(e)).strip()


def operation_error(uri: str, action: str, e: libvirt.libvirtError) -> LibvirtError | NotFound:
    """A libvirt failure during ``action`` (e.g. "start domain web"), with a fitting hint."""
    msg = _msg(e)
    code = e.get_error_code()
    if code in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_STORAGE_VOL,
                libvirt.VIR_ERR_NO_STORAGE_POOL):
        return NotFound(f"cannot {action} on {uri}: {msg}",
                        "run 'vmfleet ps' to see what exists")
    if "Cannot access storage file" in msg and "as uid:" in msg:
        return LibvirtError(
            f"cannot {action}: QEMU may not read the disk ({msg})",
            "QEMU runs as another user: make every directory above vmfleet's home "
            "traversable (chmod o+x, e.g. on /root) or use --home under /var/lib",
        )
    if "No space left on device" in msg:
        return LibvirtError(f"cannot {action}: the disk is full ({msg})",
                            "free space on the hypervisor host (vmfleet images gc, or remove "
                            "retired VMs with vmfleet destroy)")
    if code == libvirt.VIR_ERR_SYSTEM_ERROR and ("Cannot recv data" in msg
                                                 or "Cannot write data" in msg
                                                 or "End of file" in msg):
        return LibvirtError(f"lost the connection to {uri} during {action}: {msg}",
                            "check that libvirtd still runs there, then run the command again")
    if "already exists" in msg:
        return LibvirtError(f"cannot {action}: {msg}",
                            "pick another --name, or remove the old one (vmfleet destroy NAME)")
    return LibvirtError(f"cannot {action} on {uri}: {msg}",
                        "see libvirtd's log; run with --debug for details")


class Conn:
    """An open libvirt connection. Close it, or use it as a context manager."""

    def __init__(self, raw: libvirt.virConnect, uri: str):
        self.raw = raw
        self.uri = uri

    @property
    def is_remote(self) -> bool:
        return is_remote_uri(self.uri)

    def close(self) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            self.raw.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _doing(self, action: str) -> Iterator[None]:
        try:
            yield
        except libvirt.libvirtError as e:
            raise operation_error(self.uri, action, e) from None

    # --- domains --------------------------------------------------------------------------
    def domains(self) -> list[DomainInfo]:
        """Every domain, running or only defined."""
        with self._doing("list domains"):
            raws = self.raw.listAllDomains(0)
        infos = []
        for dom in raws:
            try:
                infos.append(_info(dom))
            except libvirt.libvirtError:
                continue  # vanished between listing and reading: not there any more
        return infos

    def domain_states(self) -> dict[str, DomainState]:
        """Every domain's name and state, without reading its XML, in one call to libvirtd
        (virConnectGetAllDomainStats): one round trip per host instead of one per domain."""
        with self._doing("list domains"):
            stats = self.raw.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)
        return {dom.name(): _STATES.get(values.get("state.state"), DomainState.OTHER)
                for dom, values in stats}

    def domain(self, name: str) -> DomainInfo | None:
        dom = self._lookup(name)
        if dom is None:
            return None
        with self._doing(f"read domain {name}"):
            return _info(dom)

    def _lookup(self, name: str):
        try:
            return self.raw.lookupByName(name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise operation_error(self.uri, f"look up domain {name}", e) from None

    def _need(self, name: str):
        dom = self._lookup(name)
        if dom is None:
            raise NotFound(f"no domain {name} on {self.uri}", "run 'vmfleet ps' to see what exists")
        return dom

    def define(self, xml: str) -> None:
        name = ET.fromstring(xml).findtext("name")
        with self._doing(f"define domain {name}"):
            self.raw.defineXML(xml)

    def start(self, name: str) -> None:
        dom = self._need(name)
        with self._doing(f"start domain {name}"):
            if not dom.isActive():
                dom.create()

    def shutdown(self, name: str, timeout: float, poll: float = 0.25) -> bool:
        """Ask the guest to power off (ACPI); True when it did within ``timeout`` seconds."""
        dom = self._need(name)
        with self._doing(f"shut down domain {name}"):
            if not dom.isActive():
                return True
            with contextlib.suppress(libvirt.libvirtError):
                dom.shutdown()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not dom.isActive():
                    return True
                time.sleep(poll)
            return not dom.isActive()

    def destroy(self, name: str) -> None:
        """Power off at once (pulls the plug); fine when the domain is not running or absent."""
        dom = self._lookup(name)
        if dom is None:
            return
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError as e:
            if e.get_error_code() not in (libvirt.VIR_ERR_OPERATION_INVALID,
                                          libvirt.VIR_ERR_NO_DOMAIN):
                raise operation_error(self.uri, f"destroy domain {name}", e) from None

    def undefine(self, name: str) -> None:
        """Forget the domain (its disks stay); fine when it is absent."""
        dom = self._lookup(name)
        if dom is None:
            return
        flags = (libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                 | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                 | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        try:
            try:
                dom.undefineFlags(flags)
            except libvirt.libvirtError as e:
                if e.get_error_code() not in (libvirt.VIR_ERR_NO_SUPPORT,
                                              libvirt.VIR_ERR_INVALID_ARG):
                    raise
                dom.undefine()  # a driver without those flags (the test driver)
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise operation_error(self.uri, f"undefine domain {name}", e) from None

    def domain_xml(self, name: str, *, inactive: bool = True) -> str:
        dom = self._need(name)
        with self._doing(f"read domain {name}"):
            return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0)

    def interface_addresses(self, name: str) -> list[str]:
        """IPv4 addresses of a domain on a libvirt network: DHCP leases, then the guest agent."""
        dom = self._need(name)
        for source in (libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
                       libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT):
            try:
                ifaces = dom.interfaceAddresses(source, 0)
            except libvirt.libvirtError:
                continue
            found = [a["addr"] for iface in (ifaces or {}).values()
                     for a in (iface.get("addrs") or [])
                     if a.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV4
                     and not a["addr"].startswith("127.")]
            if found:
                return found
        return []

    def host_memory_mib(self) -> int | None:
        """The host's physical memory in MiB (None when libvirt does not say)."""
        try:
            return int(self.raw.getInfo()[1])
        except (libvirt.libvirtError, IndexError, TypeError, ValueError):
            return None

    def has_network(self, name: str) -> bool:
        try:
            self.raw.networkLookupByName(name)
            return True
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
                return False
            raise operation_error(self.uri, f"look up network {name}", e) from None

    def domain_capabilities_kvm(self) -> bool:
        """Whether libvirt offers domain type 'kvm' here (necessary, not sufficient: see accel)."""
        try:
            caps = self.raw.getDomainCapabilities(None, "x86_64", None, "kvm", 0)
        except libvirt.libvirtError:
            return False
        return "<domain>kvm</domain>" in caps

    # --- storage (remote hosts) ------------------------------------------------------------
    def ensure_pool(self, name: str, path: str) -> str:
        """A started ``dir`` pool named ``name`` at ``path`` (defined and built if missing);
        returns the pool's directory as the host sees it."""
        with self._doing(f"prepare storage pool {name}"):
            pool = self._pool(name)
            if pool is None:
                xml = (f"<pool type='dir'><name>{_esc(name)}</name>"
                       f"<target><path>{_esc(path)}</path></target></pool>")
                try:
                    pool = self.raw.storagePoolDefineXML(xml, 0)
                except libvirt.libvirtError as e:
                    if "already exists" not in _msg(e):  # another vmfleet defined it just now
                        raise
                    pool = self.raw.storagePoolLookupByName(name)
                with contextlib.suppress(libvirt.libvirtError):
                    pool.build(0)
                pool.setAutostart(1)
            if not pool.isActive():
                with contextlib.suppress(libvirt.libvirtError):
                    pool.build(0)  # the directory may have been removed
                try:
                    pool.create(0)
                except libvirt.libvirtError:
                    if not pool.isActive():  # not a race with another starter
                        raise
            return ET.fromstring(pool.XMLDesc(0)).findtext("target/path") or path

    def _pool(self, name: str):
        try:
            return self.raw.storagePoolLookupByName(name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
                return None
            raise

    def delete_pool(self, name: str) -> None:
        """Stop, delete (with its volumes) and undefine a pool; fine when absent."""
        with self._doing(f"delete storage pool {name}"):
            pool = self._pool(name)
            if pool is None:
                return
            if pool.isActive():
                with contextlib.suppress(libvirt.libvirtError):
                    pool.refresh(0)
                for vol in pool.listAllVolumes(0):
                    with contextlib.suppress(libvirt.libvirtError):
                        vol.delete(0)
                with contextlib.suppress(libvirt.libvirtError):
                    pool.delete(0)
                pool.destroy()
            pool.undefine()

    def volume_path(self, pool: str, volume: str) -> str | None:
        """The volume's path on the host, or None when the pool has no such volume."""
        with self._doing(f"look up volume {volume}"):
            vol = self._volume(pool, volume)
            return vol.path() if vol is not None else None

    def _volume(self, pool: str, volume: str, *, refresh: bool = False):
        p = self._pool(pool)
        if p is None:
            raise NotFound(f"no storage pool {pool} on {self.uri}",
                           "vmfleet creates it on the first deploy to this host")
        if refresh:
            with contextlib.suppress(libvirt.libvirtError):
                p.refresh(0)
        try:
            return p.storageVolLookupByName(volume)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return None
            raise

    def upload(self, pool: str, volume: str, source: Path,
               progress: Callable[[int], None] | None = None) -> str:
        """Copy a local file into a new volume of ``pool``; returns the volume's path there."""
        size = source.stat().st_size
        xml = (f"<volume><name>{_esc(volume)}</name><capacity unit='bytes'>{size}</capacity>"
               "<target><format type='raw'/></target></volume>")
        with self._doing(f"upload {source.name} to pool {pool}"):
            p = self._pool(pool)
            vol = p.createXML(xml, 0)
            stream = self.raw.newStream(0)
            sent = 0
            try:
                vol.upload(stream, 0, size, 0)
                with open(source, "rb") as f:
                    def chunk(_stream, nbytes, _opaque):
                        nonlocal sent
                        data = f.read(nbytes)
                        sent += len(data)
                        if progress:
                            progress(sent)
                        return data
                    stream.sendAll(chunk, None)
                stream.finish()
            except BaseException:
                with contextlib.suppress(libvirt.libvirtError):
                    stream.abort()
                with contextlib.suppress(libvirt.libvirtError):
                    vol.delete(0)
                raise
            return vol.path()

    def create_overlay(self, pool: str, volume: str, backing: str, capacity: int) -> str:
        """A qcow2 volume backed by the qcow2 file ``backing`` (a path on the host)."""
        xml = (f"<volume><name>{_esc(volume)}</name><capacity unit='bytes'>{capacity}</capacity>"
               "<target><format type='qcow2'/></target>"
               f"<backingStore><path>{_esc(backing)}</path><format type='qcow2'/></backingStore>"
               "</volume>")
        with self._doing(f"create overlay {volume} in pool {pool}"):
            return self._pool(pool).createXML(xml, 0).path()

    def create_marker(self, pool: str, volume: str) -> None:
        """An empty volume whose existence records that something finished (an upload)."""
        xml = (f"<volume><name>{_esc(volume)}</name><capacity unit='bytes'>0</capacity>"
               "<target><format type='raw'/></target></volume>")
        with self._doing(f"create {volume} in pool {pool}"):
            self._pool(pool).createXML(xml, 0)

    def delete_volume(self, pool: str, volume: str, *, refresh: bool = False) -> None:
        """Delete a volume; fine when it or its pool is absent."""
        with self._doing(f"delete volume {volume}"):
            if self._pool(pool) is None:
                return
            vol = self._volume(pool, volume, refresh=refresh)
            if vol is not None:
                vol.delete(0)

    def read_volume_tail(self, pool: str, volume: str, max_bytes: int) -> bytes:
        """The last ``max_bytes`` of a file in the pool (a console log), or b'' if absent."""
        try:
            vol = self._volume(pool, volume, refresh=True)
            if vol is None:
                return b""
            size = vol.info()[1]
            offset = max(0, size - max_bytes)
            stream = self.raw.newStream(0)
            vol.download(stream, offset, size - offset, 0)
            chunks: list[bytes] = []
            def keep(_stream, data: bytes, _opaque) -> int:
                chunks.append(data)
                return 0

            stream.recvAll(keep, None)
            stream.finish()
            return b"".join(chunks)
        except (libvirt.libvirtError, NotFound):
            return b""


def _info(dom) -> DomainInfo:
    state, _reason = dom.state(0)
    xml = dom.XMLDesc(0)
    return DomainInfo(
        name=dom.name(),
        state=_STATES.get(state, DomainState.OTHER),
        metadata=domain_xml.read_metadata(xml),
        xml=xml,
    )


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))
