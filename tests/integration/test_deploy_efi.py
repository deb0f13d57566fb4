"""A grub-efi config, pinned where Guix refuses -t qcow2 for it (2024-05), whose openssh
service gives vmfleet's key to a wheel user only (no permit-root-login: Guix's default #f),
deployed through vmfleet with the stand-in: vmfleet builds efi-raw, converts it to qcow2, boots
it under libvirt with OVMF (TCG), logs in as that user, and reads the VM unprivileged.
One boot."""

from __future__ import annotations

import pytest

from tests.helpers.deploy_env import boot_home, unique_vm_name
from vmfleet.build import builds as build
from vmfleet.deploy import hosts, lifecycle, vm_access
from vmfleet.deploy.vm_records import Options, VmState
from vmfleet.errors import UsageError
from vmfleet.guix.revisions import KNOWN_COMMITS
from vmfleet.registry import generations
from vmfleet.tools import ssh, virt

pytestmark = pytest.mark.integration

BOOT_TIMEOUT = 300.0

CONFIG = """(use-modules (gnu))
(use-service-modules networking ssh)
(operating-system
  (host-name "desk")
  (timezone "Etc/UTC")
  (bootloader (bootloader-configuration
                (bootloader grub-efi-bootloader)
                (targets '("/boot/efi"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device (file-system-label "Guix_image"))
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account (name "alice") (group "users")
                             (supplementary-groups '("wheel")))
               %base-user-accounts))
  (services (append (list (service dhcp-client-service-type)
                          (service openssh-service-type
                                   (openssh-configuration
                                    (authorized-keys
                                     `(("alice" ,(local-file "vmfleet.pub")))))))
                    %base-services)))
"""


def channels(commit: str) -> str:
    """As 'guix describe -f channels' writes it: with the introduction, which guix since
    2025-05-23 (default URL git.guix.gnu.org) requires of the savannah URL."""
    return f"""(list (channel
        (name 'guix)
        (url "https://git.savannah.gnu.org/git/guix.git")
        (branch "master")
        (commit "{commit}")
        (introduction
          (make-channel-introduction
            "9edb3f66fd807b096b48283debdcddccfea34bad"
            (openpgp-fingerprint
              "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA")))))
"""


def test_a_grub_efi_config_deploys_boots_with_uefi_and_logs_in_as_its_wheel_user():
    with boot_home("vmfleet-test-efi-") as (home, reg, _old, _new):
        inputs = generations.Inputs("desk.scm", CONFIG, channels(KNOWN_COMMITS["2024-05"][0]),
                                    {"vmfleet.pub": ssh.public_key(home.keys).encode()})
        gen, _ = generations.record(reg, "desk", inputs, current_from="2024-06-01T00:00:00Z")
        with pytest.raises(UsageError, match="EFI bootloader required"):
            build.ensure_image(reg, home, gen, image_type="qcow2")   # refused before guix runs
        built = build.ensure_image(reg, home, gen)
        assert built.image_type == "efi-raw" and built.firmware == "efi"
        assert " -t efi-raw " in " ".join(built.command) + " "

        name = unique_vm_name()
        vm = lifecycle.deploy(reg, home, "desk", name=name, options=Options(timeout=BOOT_TIMEOUT))
        assert vm.state is VmState.RUNNING and vm.ssh_user == "alice"
        with virt.connect(hosts.get(reg, hosts.LOCAL).uri) as conn:
            xml = conn.domain_xml(name)
        assert "OVMF_CODE_4M.fd" in xml and f"{name}.nvram.fd" in xml
        with vm_access.connect_ssh(reg, home, name) as conn:
            assert conn.check_output("id -un").strip() == "alice"
            assert conn.check_output("cat /etc/hostname").strip() == "desk"
        facts = vm_access.inspect_vm(reg, home, name, files=True)
        assert facts.system and facts.items        # the store and its database, unprivileged
        lifecycle.destroy(reg, home, name)
        assert not (home.overlays / f"{name}.nvram.fd").exists()
