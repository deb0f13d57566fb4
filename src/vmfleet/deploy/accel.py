"""Choosing the accelerator: KVM only when it really works, otherwise TCG (domain type 'qemu').

Why not trust libvirt's domain capabilities: on some machines (nested virtualization on cloud
VMs among them) ``/dev/kvm`` exists and libvirt offers domain type 'kvm', yet a KVM guest hangs
while booting. So ``auto`` runs a probe: a 512-byte boot sector that writes one byte to the
serial port and leaves QEMU through the isa-debug-exit device, once under KVM. KVM is used only
if that finishes within ``PROBE_BUDGET`` seconds and QEMU prints no warning or error (on the
broken machines it took 3.7 s and QEMU warned that the host lacks CPU features that the guest
CPU model needs; a healthy host takes about 0.1 s). The verdict is kept for the process.

The probe runs QEMU on this machine, so it only decides for local hosts. On remote hosts
``auto`` means TCG; pass ``--accel kvm`` for a remote host whose KVM you know works. Tests and
CI force TCG with ``--accel tcg`` or ``VMFLEET_ACCEL=tcg``.
"""

from __future__ import annotations

import enum
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from vmfleet import settings
from vmfleet.errors import CommandFailed, CommandTimeout, DeployError, ToolMissing, UsageError
from vmfleet.tools.domain_xml import DomainType
from vmfleet.tools.run import run

ENV = settings.ACCEL
PROBE_BUDGET = 2.0
# mov dx,0x3f8; mov al,'K'; out dx,al; mov al,1; out 0xf4,al; hlt; jmp $-1 ... 0x55 0xaa
_BOOT_SECTOR = bytes([0xBA, 0xF8, 0x03, 0xB0, 0x4B, 0xEE, 0xB0, 0x01, 0xE6, 0xF4, 0xF4, 0xEB,
                      0xFD])
_EXPECTED_EXIT = (1 << 1) | 1  # isa-debug-exit turns the value 1 into exit status 3


class Accel(enum.StrEnum):
    AUTO = "auto"
    KVM = "kvm"
    TCG = "tcg"


_verdict: tuple[bool, str] | None = None
_verdict_lock = threading.Lock()  # apply deploys from threads: one probe, the others wait for it


def setting(value: str | None) -> Accel:
    """The accelerator asked for: the option, else $VMFLEET_ACCEL, else auto."""
    text = (value or settings.get(ENV) or "auto").strip().lower()
    try:
        return Accel(text)
    except ValueError:
        raise UsageError(f"unknown accelerator {text!r}", "use auto, kvm or tcg") from None


def resolve(value: str | None, *, remote: bool,
            kvm_offered: bool | Callable[[], bool]) -> DomainType:
    """The libvirt domain type to use on a host (``kvm_offered``: libvirt lists kvm there; a
    callable is only asked when the answer matters)."""
    choice = setting(value)
    if choice is Accel.TCG:
        return DomainType.QEMU
    if callable(kvm_offered):
        kvm_offered = kvm_offered()
    if choice is Accel.KVM:
        if not kvm_offered:
            raise DeployError("KVM is not available on this host",
                              "use --accel tcg (slower, always works) or enable KVM there")
        return DomainType.KVM
    if remote or not kvm_offered:
        return DomainType.QEMU
    works, _why = probe_kvm()
    return DomainType.KVM if works else DomainType.QEMU


def probe_kvm() -> tuple[bool, str]:
    """Whether a guest boots under KVM on this machine, and why not."""
    global _verdict
    with _verdict_lock:
        if _verdict is None:
            _verdict = _probe()
        return _verdict


def _probe(accel: str = "kvm") -> tuple[bool, str]:
    """Boot the probe guest under ``accel`` (the tests run it under tcg to check the probe
    itself)."""
    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is missing or not accessible"
    with tempfile.TemporaryDirectory(prefix="vmfleet-kvm-probe-") as tmp:
        disk = Path(tmp) / "probe.img"
        disk.write_bytes(_BOOT_SECTOR + bytes(510 - len(_BOOT_SECTOR)) + b"\x55\xaa")
        argv = ["qemu-system-x86_64", "-accel", accel, "-machine", "pc", "-m", "16",
                "-nodefaults", "-display", "none", "-serial", "stdio",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-drive", f"format=raw,file={disk},if=ide"]
        try:
            result = run(argv, check=False, timeout=PROBE_BUDGET)
        except CommandTimeout:
            return False, f"a {accel} guest did not finish a boot-sector probe in {PROBE_BUDGET:g} s"
        except (ToolMissing, CommandFailed) as e:
            return False, str(e)
    if result.returncode != _EXPECTED_EXIT or "K" not in result.stdout:
        return False, f"the {accel} probe failed (exit {result.returncode}): {result.stderr.strip()}"
    if "warning" in result.stderr.lower() or "error" in result.stderr.lower():
        return False, f"QEMU complained under {accel}: {result.stderr.strip()}"
    return True, "ok"
