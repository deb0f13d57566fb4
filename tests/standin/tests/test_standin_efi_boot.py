"""An efi-raw image the stand-in builds for a grub-efi config boots with UEFI firmware.

Debian's OVMF (package ``ovmf``) as pflash, QEMU TCG, user networking with SSH forwarded to
127.0.0.1 only; the guest must show the SSH banner and let the config's wheel user in with its
key. The QEMU process is ended by its PID however the test ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.standin.tests.test_standin_boot import CHANNELS, CONFIG, GUIX, Qemu, banner, ssh

pytestmark = pytest.mark.integration

OVMF_DIR = Path("/usr/share/OVMF")


def firmware(tmp_path: Path) -> list[str]:
    """pflash drives: Debian 12 ships OVMF_CODE_4M.fd/OVMF_VARS_4M.fd (and the 2M ones)."""
    for code, vars_ in (("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"), ("OVMF_CODE.fd", "OVMF_VARS.fd")):
        if (OVMF_DIR / code).exists() and (OVMF_DIR / vars_).exists():
            own_vars = tmp_path / vars_
            shutil.copyfile(OVMF_DIR / vars_, own_vars)
            return ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_DIR / code}",
                    "-drive", f"if=pflash,format=raw,unit=1,file={own_vars}"]
    pytest.fail("OVMF firmware not found: apt-get install ovmf (scripts/setup.sh installs it)")


def test_efi_raw_image_boots_with_uefi_to_ssh(tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(tmp_path / "id_ed25519")], check=True)
    (tmp_path / "config.scm").write_text(CONFIG.replace("grub-bootloader",
                                                        "grub-efi-bootloader")
                                         .replace("'(\"/dev/vda\")", "'(\"/boot/efi\")"))
    (tmp_path / "channels.scm").write_text(CHANNELS)
    r = subprocess.run([str(GUIX), "time-machine", "-C", str(tmp_path / "channels.scm"), "--",
                        "system", "image", "-t", "efi-raw", str(tmp_path / "config.scm")],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "VMFLEET_STANDIN_STORE": str(tmp_path / "store")})
    assert r.returncode == 0, r.stderr
    raw = Path(r.stdout.strip())
    assert raw.name.endswith("-disk-image")
    table = subprocess.run(["sfdisk", "-d", str(raw)], capture_output=True, text=True,
                           check=True).stdout
    assert "label: gpt" in table and "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" in table
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(disk)],
                   check=True)
    vm = Qemu(disk, tmp_path, firmware(tmp_path))
    try:
        started = time.monotonic()
        seen = banner(vm.port, timeout=240)
        assert seen and seen.startswith("SSH-2.0-OpenSSH"), (   # openssh-service-type: sshd
            seen, vm.serial.read_text(errors="replace")[-3000:])
        try:
            out, _ = ssh(vm.port, tmp_path / "id_ed25519", "id -un; cat /etc/hostname")
        except Exception as e:
            raise AssertionError(f"{e!r}; console:\n"
                                 f"{vm.serial.read_text(errors='replace')[-3000:]}") from e
        assert out.split() == ["alice", "standin-boot"]
        print(f"UEFI boot: SSH banner after {time.monotonic() - started:.1f} s")
    finally:
        vm.kill()
