"""Many VMs at once for fleet tests and the bench: registry rows plus domains on libvirt's
test:///default driver, without overlays or boots (plan only reads rows and domain states)."""

from __future__ import annotations

import libvirt

from tests.helpers.fleet import channels_scm, os_config
from vmfleet import timeutil
from vmfleet.deploy import hosts
from vmfleet.deploy.vm_access import controller_id
from vmfleet.home import Home
from vmfleet.registry import generations
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


# Guix revisions the stand-in knows (tests/standin/guix_standin/history.py, docs/guix-facts.md).
GUIX_2023_06 = "76e39909e886bb51cf9b2fa03a1523545faca880"
GUIX_2024_05 = "dc4c48f10281007a0ab3541b8a64198c60c6d5b0"


def channels_with_introduction(commit: str) -> str:
    """A guix channel pinned to ``commit`` with Guix's channel introduction (the commit and key
    fingerprint of guix/channels.scm's %guix-channel-introduction), as ``guix describe -f
    channels`` writes it: time-machine refuses a guix channel it cannot authenticate."""
    return channels_scm(commit).rstrip().removesuffix("))") + """
        (introduction
          (make-channel-introduction
            "9edb3f66fd807b096b48283debdcddccfea34bad"
            (openpgp-fingerprint
              "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA")))))
"""


def record_site(reg, pubkey: str):
    """For real builds and boots: site@1 (2023-07, nginx) and site@2 (2024-06, nginx and git), and db@1 with site@1's
    inputs (so both systems share one image)."""
    gens = []
    for when, commit, pkgs in (("2023-07-02T00:00:00Z", GUIX_2023_06, ("nginx",)),
                               ("2024-06-01T00:00:00Z", GUIX_2024_05, ("nginx", "git"))):
        inputs = generations.Inputs("site.scm", os_config("site", packages=pkgs),
                                    channels_with_introduction(commit),
                                    {"vmfleet.pub": pubkey.encode()})
        gens.append(generations.record(reg, "site", inputs, current_from=when)[0])
    db, _ = generations.record(reg, "db", generations.inputs_of(reg, gens[0]),
                               current_from="2023-07-02T00:00:00Z")
    return gens[0], gens[1], db
