"""Host ports for SSH forwards: a free 127.0.0.1 port from ``$VMFLEET_PORT_RANGE``, chosen
under the host lock and never one a running domain already forwards.
"""

from __future__ import annotations

import socket
from collections.abc import Set

from vmfleet import settings
from vmfleet.deploy import hosts
from vmfleet.deploy.vm_records import DEFAULT_PORT_RANGE, PORT_RANGE_ENV
from vmfleet.errors import DeployError, UsageError
from vmfleet.registry import vms as vm_rows
from vmfleet.registry.db import Registry
from vmfleet.tools import domain_xml, virt

# --- ports -------------------------------------------------------------------------------------

def port_range() -> tuple[int, int]:
    text = settings.get(PORT_RANGE_ENV)
    if not text:
        return DEFAULT_PORT_RANGE
    try:
        low, high = (int(p) for p in text.split("-", 1))
        if not 1024 <= low <= high <= 65535:
            raise ValueError(text)
    except ValueError:
        raise UsageError(f"${PORT_RANGE_ENV} must look like 22200-22999, not {text!r}",
                         f"set it to LOW-HIGH with 1024 <= LOW <= HIGH <= 65535, e.g. "
                         f"export {PORT_RANGE_ENV}=22200-22999, or unset it") from None
    return low, high


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def busy_ports(conn: virt.Conn) -> set[int]:
    """Ports that running domains on the host forward to their SSH (any vmfleet home's)."""
    ports = set()
    for dom in conn.domains():
        endpoint = domain_xml.ssh_endpoint(dom.xml) if dom.state.active else None
        if endpoint:
            ports.add(endpoint[1])
    return ports


def allocate_port(reg: Registry, host: hosts.Host, exclude: Set[int] = frozenset()) -> int:
    """The lowest port of the range that no VM of this host has and (locally) nothing binds.

    Called under the host lock, and the port stays reserved in the registry from then on, so
    two vmfleet processes never pick the same one; ``exclude`` adds the ports that running
    domains of the host use (other vmfleet homes' too, see ``busy_ports``). Other programs'
    ports on remote hosts cannot be tested from here: one of those makes QEMU fail to start,
    and deploy retries with the next port.
    """
    taken = vm_rows.ssh_ports(reg, host.name)
    low, high = port_range()
    for port in range(low, high + 1):
        if port in taken or port in exclude:
            continue
        if host.remote or port_free(port):
            return port
    raise DeployError(f"no free port for SSH forwarding in {low}-{high} on host {host.name}",
                      f"destroy VMs you no longer need, or widen ${PORT_RANGE_ENV}")
