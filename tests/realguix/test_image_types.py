"""Part 7: which image type and bootloader pairs vmfleet believes the built revision takes
(guix.image_types: the type exists, and no 'EFI bootloader required with GPT partitioning')
against what the built Guix evaluates. vmfleet picks types and refuses pairs before guix runs
from this table, so a wrong entry is a false refusal or a doomed build."""

from __future__ import annotations

import itertools

import pytest

from tests.helpers import real_guix as real
from vmfleet.guix import image_types, revisions

pytestmark = pytest.mark.realguix

BOOTLOADERS = ("grub-bootloader", "grub-efi-bootloader", "grub-efi-removable-bootloader")

CONFIG = """(use-modules (gnu))
(operating-system
  (host-name "types")
  (timezone "Etc/UTC")
  (bootloader (bootloader-configuration (bootloader {bootloader}) (targets '("{target}"))))
  (file-systems (cons* (file-system (mount-point "/") (device "/dev/vda2") (type "ext4"))
                       {esp}%base-file-systems)))
"""
ESP = '(file-system (mount-point "/boot/efi") (device "/dev/vda1") (type "vfat"))\n                       '


def test_image_types_and_bootloaders_are_taken_as_the_real_guix_takes_them(built_guix, real_guix,
                                                                         channels, tmp_path):
    rev = revisions.revision(built_guix.commit)
    assert rev.known, f"{built_guix.commit} is not in vmfleet's table of revisions"
    rows, table = [], []
    for bootloader, image_type in itertools.product(BOOTLOADERS, image_types.BOOTABLE):
        efi = bootloader != "grub-bootloader"
        (tmp_path / "types.scm").write_text(CONFIG.format(
            bootloader=bootloader, target="/boot/efi" if efi else "/dev/vda", esp=ESP if efi else ""))
        ran = real_guix.evaluate(channels, "types.scm", tmp_path, image_type=image_type)
        ours = image_types.exists(rev, image_type) and not image_types.refused(rev, bootloader, image_type)
        table.append((bootloader, image_type, "takes" if ran.ok else "refuses", "takes" if ours else "refuses"))
        if ran.ok != ours:
            rows.append((bootloader, image_type, "takes" if ran.ok else ran.message[:90],
                         "takes" if ours else "refuses"))
    print(f"\n{len(table)} pairs at {built_guix.commit[:11]}; {len(rows)} disagreements\n"
          + real.table(table, ("bootloader", "type", "guix", "vmfleet")))
    if rows:
        pytest.fail(f"{len(rows)} pairs vmfleet and the real Guix take differently:\n"
                    + real.table(rows, ("bootloader", "type", "guix", "vmfleet")), pytrace=False)
