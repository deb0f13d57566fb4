"""Domain XML against stored expected files, and the facts read back from libvirt's XML.

Expected files: tests/helpers/golden.py (``VMFLEET_UPDATE_EXPECTED=1`` rewrites them).
"""

from __future__ import annotations

import libvirt
import pytest

from tests.helpers import golden
from vmfleet.tools import domain_xml as dx

META = dx.VmMetadata(vm="web-old", system="web", generation=3, generation_id=17,
                     image_sha256="ab" * 32, overlay="/srv/vmfleet/overlays/web-old.qcow2",
                     controller="ctl:/srv/vmfleet")


def spec(**changes) -> dx.DomainSpec:
    base = dict(name="web-old", memory_mib=512, vcpus=1,
                disk="/srv/vmfleet/overlays/web-old.qcow2",
                console_log="/srv/vmfleet/logs/web-old.console",
                network=dx.UserNet(22201), metadata=META)
    base.update(changes)
    return dx.DomainSpec(**base)


CASES = {
    "user-net-tcg": spec(),
    "libvirt-net-kvm": spec(network=dx.LibvirtNet("lab", mac="52:54:00:12:34:56"),
                            domain_type=dx.DomainType.KVM, memory_mib=2048, vcpus=2),
    "remote-pool-uuid": spec(disk="/var/lib/vmfleet/pool/web-old.qcow2",
                             console_log="/var/lib/vmfleet/pool/web-old.console",
                             uuid="6b1c2f4e-0c8e-4c55-9a43-5f0b3b8f9e11"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_xml_matches_expected_file(case):
    golden.check(f"domain-{case}.xml", dx.to_xml(CASES[case]))


def test_user_networking_forwards_ssh_on_loopback_only():
    xml = dx.to_xml(spec())
    assert "hostfwd=tcp:127.0.0.1:22201-:22" in xml
    assert "virtio-net-pci,netdev=vmfleet0,bus=pci.0,addr=0x10" in xml
    assert "<interface" not in xml  # never libvirt's default network
    assert dx.ssh_endpoint(xml) == ("127.0.0.1", 22201)


def test_a_restart_keeps_the_console_log_of_the_boot_that_failed():
    # virtlogd truncates the log at each start unless append is on: 'vmfleet start' or
    # 'rollback' after a failed boot would wipe what that boot printed.
    import xml.etree.ElementTree as ET

    log = ET.fromstring(dx.to_xml(spec())).find("devices/serial/log")
    assert log.get("file") == "/srv/vmfleet/logs/web-old.console"
    assert log.get("append") == "on"


def test_libvirt_network_has_no_qemu_commandline():
    xml = dx.to_xml(spec(network=dx.LibvirtNet("lab")))
    assert "qemu:commandline" not in xml
    assert "<source network=\"lab\"" in xml
    assert dx.ssh_endpoint(xml) is None


def test_metadata_round_trips_through_libvirt():
    """libvirt keeps vmfleet's metadata, and ps can read it back from libvirt's own XML."""
    conn = libvirt.open("test:///default")
    try:
        dom = conn.defineXML(dx.to_xml(spec(name="vmfleet-test-xml")))
        try:
            assert dx.read_metadata(dom.XMLDesc(0)) == dx.VmMetadata(**{
                **META.__dict__, "vm": "web-old"})
            assert dx.domain_type(dom.XMLDesc(0)) is dx.DomainType.QEMU
        finally:
            dom.undefine()
    finally:
        conn.close()


def test_foreign_domains_have_no_vmfleet_metadata():
    assert dx.read_metadata("<domain type='kvm'><name>other</name></domain>") is None
    assert dx.read_metadata(
        "<domain><metadata><x:vm xmlns:x='urn:other'/></metadata></domain>") is None


def test_with_ssh_port_moves_only_the_forward():
    xml = dx.to_xml(spec())
    moved = dx.with_ssh_port(xml, 22299)
    assert dx.ssh_endpoint(moved) == ("127.0.0.1", 22299)
    assert moved.replace("22299", "22201") == xml


def test_same_spec_same_text():
    assert dx.to_xml(spec()) == dx.to_xml(spec())
    assert dx.to_xml(spec()) != dx.to_xml(spec(vcpus=2))
