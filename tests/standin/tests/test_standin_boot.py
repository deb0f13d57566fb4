"""An image the guix stand-in builds boots under QEMU (TCG) and serves SSH like a Guix VM.

QEMU runs directly (no libvirt): user-mode networking with SSH forwarded to a free port on
127.0.0.1 (the only address this test talks to), the serial console to a file. The guest is
booted from a qcow2 overlay of the built image, as vmfleet deploys it; it must show
OpenSSH's banner, accept the key the config authorizes for the ordinary wheel user (and refuse
root, as openssh's default permit-root-login #f does) from /etc/ssh/authorized_keys.d/USER
(gnu/services/ssh.scm@6298c3ffd965:378-381, 471-472), give that user a home made from
/etc/skel with no ~/.ssh (gnu/build/activation.scm@8e2f32cee982:204-228), have /run/current-system with the
image's provenance, power off on the ACPI power button, and keep its SSH host key when the
same overlay boots again.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

REPO = Path(__file__).resolve().parents[3]
GUIX = REPO / "tests" / "standin" / "bin" / "guix"
COMMIT = "60c97924e9519361494aaf0686e28eb831a42315"      # guix, 2023-11-01

CONFIG = """(use-modules (gnu))
(use-service-modules networking ssh)
(use-package-modules admin)

(operating-system
  (host-name "standin-boot")
  (timezone "Etc/UTC")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device (file-system-label "Guix_image"))
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account (name "alice") (group "users")
                             (supplementary-groups '("wheel")))
               %base-user-accounts))
  (packages (cons htop %base-packages))
  (services (append (list (service dhcp-client-service-type)
                          (service openssh-service-type
                                   (openssh-configuration
                                    (authorized-keys
                                     `(("alice" ,(local-file "id_ed25519.pub"))
                                       ("root" ,(local-file "id_ed25519.pub")))))))
                    %base-services)))
"""

CHANNELS = f"""(list (channel
        (name 'guix)
        (url "https://git.savannah.gnu.org/git/guix.git")
        (branch "master")
        (commit "{COMMIT}")
        (introduction
          (make-channel-introduction
            "9edb3f66fd807b096b48283debdcddccfea34bad"
            (openpgp-fingerprint
              "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA")))))
"""

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def banner(port: int, timeout: float) -> str | None:
    """The SSH banner on 127.0.0.1:port, polling until ``timeout`` (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                s.settimeout(3)
                data = s.recv(64)
                if data.startswith(b"SSH-"):
                    return data.split(b"\r\n")[0].decode("ascii", "replace")
        except OSError:
            pass
        time.sleep(0.5)
    return None


class Qemu:
    """One qemu-system-x86_64 process, ended by its PID however the test ends."""

    def __init__(self, disk: Path, workdir: Path, firmware: list[str] = ()):
        self.port = free_port()
        self.serial = workdir / f"serial-{self.port}.log"
        self.qmp_path = workdir / f"qmp-{self.port}.sock"
        argv = ["qemu-system-x86_64", "-machine", "accel=tcg", "-m", "256", "-nographic",
                "-display", "none", "-monitor", "none", "-serial", f"file:{self.serial}",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-drive", f"file={disk},if=virtio,format=qcow2",
                "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{self.port}-:22",
                "-device", "virtio-net-pci,netdev=n0", *firmware]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)

    def powerdown(self) -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.qmp_path))
            f = s.makefile("rw")
            f.readline()                                   # greeting
            for cmd in ("qmp_capabilities", "system_powerdown"):
                f.write(json.dumps({"execute": cmd}) + "\n")
                f.flush()
                reply = json.loads(f.readline())
                while "return" not in reply and "error" not in reply:
                    reply = json.loads(f.readline())
                assert "return" in reply, reply

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()


def ssh(port: int, key: Path, command: str, user: str = "alice") -> tuple[str, str]:
    """Run a command as USER; return (stdout, the server's host key fingerprint)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())   # a fresh local test VM
    try:
        client.connect("127.0.0.1", port=port, username=user, key_filename=str(key),
                       look_for_keys=False, allow_agent=False, timeout=20, banner_timeout=20,
                       auth_timeout=20)
        fingerprint = client.get_transport().get_remote_server_key().fingerprint
        _, stdout, _ = client.exec_command(command, timeout=30)
        return stdout.read().decode(), fingerprint
    finally:
        client.close()


def test_standin_image_boots_to_ssh_and_keeps_its_host_key(tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(tmp_path / "id_ed25519")], check=True)
    (tmp_path / "config.scm").write_text(CONFIG)
    (tmp_path / "channels.scm").write_text(CHANNELS)
    started = time.monotonic()
    r = subprocess.run([str(GUIX), "time-machine", "-C", str(tmp_path / "channels.scm"), "--",
                        "system", "image", "-t", "qcow2", "--save-provenance",
                        str(tmp_path / "config.scm")], capture_output=True, text=True,
                       env={**os.environ, "VMFLEET_STANDIN_STORE": str(tmp_path / "store")},
                       timeout=300)
    build_seconds = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    image = Path(r.stdout.strip())
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image),
                    str(overlay)], check=True)

    fingerprints = []
    for boot in (1, 2):
        vm = Qemu(overlay, tmp_path)
        try:
            started = time.monotonic()
            seen = banner(vm.port, timeout=120)
            boot_seconds = time.monotonic() - started
            assert seen and seen.startswith("SSH-2.0-OpenSSH"), (
                seen, vm.serial.read_text(errors="replace")[-3000:])
            out, fingerprint = ssh(vm.port, tmp_path / "id_ed25519",
                                   "cat /etc/hostname; readlink /run/current-system; "
                                   "cat /run/current-system/provenance")
            fingerprints.append(fingerprint)
            hostname, system, provenance = out.split("\n", 2)
            assert hostname == "standin-boot"
            assert system.startswith("/gnu/store/") and system.endswith("-system")
            assert f'(commit "{COMMIT}")' in provenance
            if boot == 1:
                out, _ = ssh(vm.port, tmp_path / "id_ed25519",
                             "ls -a ~; stat -c %a ~; ls /etc/ssh/authorized_keys.d")
                names = set(out.split())
                assert ".ssh" not in names and {".bashrc", ".bash_profile"} <= names, out
                assert "700" in out.split() and {"alice", "root"} <= names, out
                # root has the key too, but permit-root-login is #f
                with pytest.raises(paramiko.AuthenticationException):
                    ssh(vm.port, tmp_path / "id_ed25519", "true", user="root")
            vm.powerdown()
            assert vm.wait(timeout=60) == 0, "the guest did not power off on the ACPI button"
            print(f"boot {boot}: build {build_seconds:.1f} s, SSH banner after "
                  f"{boot_seconds:.1f} s")
        finally:
            vm.kill()
    assert fingerprints[0] == fingerprints[1], "the host key changed across a reboot"
