"""libvirt domain XML from a small typed description, and the few facts read back from it.

Why a typed ``DomainSpec`` and not a template: the XML is tested against stored expected files
(tests/unit/expected/), so any change to what vmfleet asks libvirt for shows up as a diff in
review. The description is deliberately small: one qcow2 disk (the VM's overlay), a serial
console logged to a file (so a deploy that times out can show what the guest printed), and one
network, either QEMU user-mode networking with SSH forwarded to a port on 127.0.0.1 or a
libvirt network.

An EFI image (guix's ``efi-raw`` or ``qcow2-gpt``) boots with UEFI firmware: OVMF from Debian's
``ovmf`` package, as a read-only pflash ``<loader>`` plus a per-VM ``<nvram>`` made by libvirt
from the package's variable-store template at first start. Explicit paths rather than libvirt
9.0's ``<os firmware='efi'>`` autoselection: the XML says exactly what boots, and the 4 MiB
build without Secure Boot works on the i440fx machine vmfleet uses (the secure-boot builds need
q35 and SMM). The NVRAM file lives next to the VM's overlay and goes with it.

User-mode networking goes through ``<qemu:commandline>`` because libvirt 9.0 has no
``<interface type='user'>`` with port forwarding (and rejects the passt backend). The NIC gets an
explicit PCI address on the i440fx root bus (``pci.0``, slot 0x10); without one QEMU would pick
slot 2, which libvirt already gave the disk.

vmfleet's own facts (VM, system, generation, image, overlay, which vmfleet home owns it) live in
``<metadata>`` under vmfleet's namespace, so ``vmfleet ps`` can match libvirt's domains to the
registry even when one of the two has lost track of the other.
"""

from __future__ import annotations

import enum
import xml.etree.ElementTree as ET
from dataclasses import dataclass, fields
from typing import Any

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
VMFLEET_NS = "urn:x-vmfleet:domain:1"
NETDEV_ID = "vmfleet0"
NIC_PCI_SLOT = "0x10"


class DomainType(enum.StrEnum):
    """libvirt's domain type: 'qemu' is software emulation (TCG), 'kvm' hardware acceleration."""

    QEMU = "qemu"
    KVM = "kvm"


@dataclass(frozen=True)
class UserNet:
    """QEMU user-mode networking; the guest's port 22 is reachable at ssh_host:ssh_port."""

    ssh_port: int
    ssh_host: str = "127.0.0.1"


@dataclass(frozen=True)
class LibvirtNet:
    """A NIC on a libvirt network; the address comes from its DHCP leases or the guest agent."""

    network: str
    mac: str | None = None


# Debian 12's ovmf package (2022.11): the 4 MiB builds without Secure Boot.
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


@dataclass(frozen=True)
class Uefi:
    """UEFI firmware: a read-only code image and this VM's own variable store."""

    nvram: str                # the VM's NVRAM file (libvirt copies the template there)
    loader: str = OVMF_CODE
    template: str = OVMF_VARS


@dataclass(frozen=True)
class VmMetadata:
    """What vmfleet writes into a domain's <metadata>; every value is text."""

    vm: str
    system: str
    generation: int
    generation_id: int
    image_sha256: str
    overlay: str
    controller: str  # 'hostname:/path/to/vmfleet/home': whose domain this is


@dataclass(frozen=True)
class DomainSpec:
    name: str
    memory_mib: int
    vcpus: int
    disk: str  # path of the VM's qcow2 overlay, as the hypervisor host sees it
    console_log: str  # serial console log file, on the hypervisor host
    network: UserNet | LibvirtNet
    metadata: VmMetadata
    domain_type: DomainType = DomainType.QEMU
    uuid: str | None = None
    firmware: Uefi | None = None  # None: BIOS (SeaBIOS), what qcow2 images boot with


def to_xml(spec: DomainSpec) -> str:
    """The domain XML for ``spec``; the same spec always gives the same text."""
    root = ET.Element("domain", {"type": str(spec.domain_type)})
    if isinstance(spec.network, UserNet):
        root.set("xmlns:qemu", QEMU_NS)
    _text(root, "name", spec.name)
    if spec.uuid:
        _text(root, "uuid", spec.uuid)
    metadata = ET.SubElement(root, "metadata")
    meta = ET.SubElement(metadata, "vmfleet:vm", {"xmlns:vmfleet": VMFLEET_NS})
    for f in fields(VmMetadata):
        meta.set(f.name.replace("_", "-"), str(getattr(spec.metadata, f.name)))
    _text(root, "memory", str(spec.memory_mib), unit="MiB")
    _text(root, "vcpu", str(spec.vcpus))
    os_ = ET.SubElement(root, "os")
    _text(os_, "type", "hvm", arch="x86_64", machine="pc")
    if spec.firmware is not None:
        _text(os_, "loader", spec.firmware.loader, readonly="yes", type="pflash")
        _text(os_, "nvram", spec.firmware.nvram, template=spec.firmware.template)
    ET.SubElement(os_, "boot", dev="hd")
    ET.SubElement(root, "features").append(ET.Element("acpi"))
    ET.SubElement(root, "clock", offset="utc")
    _text(root, "on_poweroff", "destroy")
    _text(root, "on_reboot", "restart")
    _text(root, "on_crash", "destroy")

    devices = ET.SubElement(root, "devices")
    disk = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="qcow2")
    ET.SubElement(disk, "source", file=spec.disk)
    ET.SubElement(disk, "target", dev="vda", bus="virtio")
    if isinstance(spec.network, LibvirtNet):
        iface = ET.SubElement(devices, "interface", type="network")
        if spec.network.mac:
            ET.SubElement(iface, "mac", address=spec.network.mac)
        ET.SubElement(iface, "source", network=spec.network.network)
        ET.SubElement(iface, "model", type="virtio")
    serial = ET.SubElement(devices, "serial", type="pty")
    # append: a restart after a failed boot must not wipe what that boot printed.
    ET.SubElement(serial, "log", file=spec.console_log, append="on")
    ET.SubElement(serial, "target", port="0")
    console = ET.SubElement(devices, "console", type="pty")
    ET.SubElement(console, "target", type="serial", port="0")
    ET.SubElement(devices, "controller", type="usb", model="none")
    ET.SubElement(devices, "memballoon", model="none")
    # Entropy from the host: without it a guest's first boot waits for its own (sshd host
    # keys, Guix's urandom-seed); Guix's initrd loads virtio-rng (gnu/system/linux-initrd.scm).
    rng = ET.SubElement(devices, "rng", model="virtio")
    _text(rng, "backend", "/dev/urandom", model="random")

    if isinstance(spec.network, UserNet):
        cmdline = ET.SubElement(root, "qemu:commandline")
        for arg in user_net_args(spec.network.ssh_port, spec.network.ssh_host):
            ET.SubElement(cmdline, "qemu:arg", value=arg)

    ET.indent(root, "  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def user_net_args(ssh_port: int, ssh_host: str = "127.0.0.1") -> list[str]:
    return [
        "-netdev", f"user,id={NETDEV_ID},hostfwd=tcp:{ssh_host}:{ssh_port}-:22",
        "-device", f"virtio-net-pci,netdev={NETDEV_ID},bus=pci.0,addr={NIC_PCI_SLOT}",
    ]


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    el.text = text
    return el


# --- reading back ------------------------------------------------------------------------------

def read_metadata(xml: str) -> VmMetadata | None:
    """vmfleet's metadata of a domain, or None when the domain is not vmfleet's."""
    root = ET.fromstring(xml)
    el = root.find(f"metadata/{{{VMFLEET_NS}}}vm")
    if el is None:
        return None
    values: dict[str, Any] = {}
    for f in fields(VmMetadata):
        raw = el.get(f.name.replace("_", "-"), "")
        values[f.name] = int(raw) if f.type == "int" and raw.lstrip("-").isdigit() else raw
    if not isinstance(values["generation"], int) or not isinstance(values["generation_id"], int):
        return None
    return VmMetadata(**values)


def domain_type(xml: str) -> DomainType:
    return DomainType(ET.fromstring(xml).get("type", "qemu"))


def ssh_endpoint(xml: str) -> tuple[str, int] | None:
    """(host, port) that user-mode networking forwards to the guest's port 22, if any."""
    for value in _qemu_args(ET.fromstring(xml)):
        for part in value.split(","):
            if part.startswith("hostfwd=tcp:") and part.endswith("-:22"):
                host, _, port = part[len("hostfwd=tcp:"):-len("-:22")].rpartition(":")
                return host, int(port)
    return None


def with_ssh_port(xml: str, port: int) -> str:
    """The same domain XML with SSH forwarded from another host port.

    Used when a stopped or retired VM comes back and its old port has been taken meanwhile.
    A text substitution rather than a re-serialization, so libvirt's XML stays as it wrote it.
    """
    old = ssh_endpoint(xml)
    if old is None:
        return xml
    host, old_port = old
    return xml.replace(f"hostfwd=tcp:{host}:{old_port}-:22", f"hostfwd=tcp:{host}:{port}-:22")


def with_home(xml: str, old_controller: str, new_controller: str, old_root: str,
              new_root: str) -> str:
    """The same domain XML for a vmfleet home that moved from ``old_root`` to ``new_root``: its
    controller and every path below the old home (disk, console log, metadata) follow it.
    A text substitution, like ``with_ssh_port``."""
    from xml.sax.saxutils import escape

    xml = xml.replace(f">{escape(old_controller)}<", f">{escape(new_controller)}<")
    return xml.replace(escape(old_root.rstrip("/")) + "/", escape(new_root.rstrip("/")) + "/")


def _qemu_args(root: ET.Element) -> list[str]:
    return [arg.get("value", "") for arg in root.iter(f"{{{QEMU_NS}}}arg")]
