"""Many VMs at once for fleet tests and the bench: registry rows plus domains on libvirt's
test:///default driver, without overlays or boots (plan only reads rows and domain states)."""

from __future__ import annotations

import libvirt

from vmfleet import timeutil
from vmfleet.deploy import hosts
from vmfleet.deploy.vm_access import controller_id
from vmfleet.home import Home
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation
from vmfleet.tools import domain_xml


def add_test_hosts(reg: Registry, count: int) -> list[str]:
    """Hosts hv1..hvN, all on test:///default (one shared mock hypervisor)."""
    names = [f"hv{i}" for i in range(1, count + 1)]
    for name in names:
        hosts.add(reg, name, "test:///default")
    return names


def fake_vm(reg: Registry, conn: libvirt.virConnect, home: Home, name: str, gen: Generation,
            host: str, *, state: str = "running", replaces: str | None = None,
            memory_mib: int = 512, vcpus: int = 1, domain: str | None = "running",
            created: str | None = None) -> None:
    """A VM row and (unless ``domain`` is None) its domain, 'running' or 'shut off'."""
    now = created or timeutil.now()
    with reg.write():
        reg.execute(
            "INSERT INTO vms (name, system, generation_id, host, image_sha256, overlay, state,"
            " network, memory_mib, vcpus, replaces, created, updated, ssh_host, ssh_port)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (name, gen.system, gen.id, host, "0" * 64, f"/nonexistent/{name}.qcow2", state,
             "user", memory_mib, vcpus, replaces, now, now, "127.0.0.1", 1))
    if domain is None:
        return
    spec = domain_xml.DomainSpec(
        name=name, memory_mib=memory_mib, vcpus=vcpus, disk=f"/nonexistent/{name}.qcow2",
        console_log=f"/nonexistent/{name}.console", network=domain_xml.UserNet(1),
        metadata=domain_xml.VmMetadata(vm=name, system=gen.system, generation=gen.number,
                                       generation_id=gen.id, image_sha256="0" * 64,
                                       overlay=f"/nonexistent/{name}.qcow2",
                                       controller=controller_id(home)))
    dom = conn.defineXML(domain_xml.to_xml(spec))
    if domain == "running":
        dom.create()


def fleet_text(rows: list[dict]) -> str:
    """A fleet file from dicts (values written as TOML strings or numbers)."""
    def value(v):
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)
    body = ",\n".join("  { " + ", ".join(f"{k} = {value(v)}" for k, v in r.items()) + " }"
                      for r in rows)
    return f"vm = [\n{body},\n]\n"
