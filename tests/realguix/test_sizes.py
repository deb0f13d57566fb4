"""Part 6: `--image-size` values vmfleet checks before a build (guix.command.check_image_size,
vmfleet.units.parse_size, after guix/ui.scm's size->number) against what the built Guix
accepts: a value vmfleet refuses that Guix takes, or the reverse, is listed."""

from __future__ import annotations

import pytest

from tests.helpers import real_guix as real
from vmfleet.errors import UsageError
from vmfleet.guix import command

pytestmark = pytest.mark.realguix

SIZES = ["4G", "4GiB", "4GB", "4g", "1.5G", ".5G", "1.G", "1e3M", "1/2G", "4096M", "4096",
         "4KB", "4Ki", "4 G", "-1G", "0", "G", "", "4Gb", "0x10M", "+4G", "4T"]

# Guix takes these when it only evaluates (-d): the size becomes the root partition's
# (gnu/system/image.scm@8e2f32cee98:815-823) and reaches mke2fs as "0k"/"-1048576k"
# (gnu/build/image.scm@8e2f32cee98:87-101), which refuses it ("invalid blocks", checked with
# Debian's e2fsprogs). vmfleet refuses them before the build, on purpose.
DOOMED = {"-1G", "0"}

CONFIG = """(use-modules (gnu))
(operating-system
  (host-name "sizes")
  (timezone "Etc/UTC")
  (bootloader (bootloader-configuration (bootloader grub-bootloader) (targets '("/dev/vda"))))
  (file-systems (cons (file-system (mount-point "/") (device "/dev/vda2") (type "ext4"))
                      %base-file-systems)))
"""


def _vmfleet_takes(size: str) -> bool:
    try:
        command.check_image_size(size)
        return True
    except UsageError:
        return False


def test_image_sizes_are_taken_or_refused_as_the_real_guix_does(real_guix, channels, tmp_path):
    (tmp_path / "sizes.scm").write_text(CONFIG)
    rows, table = [], []
    for size in SIZES:
        ran = real_guix.evaluate(channels, "sizes.scm", tmp_path, extra=(f"--image-size={size}",))
        guix_takes, ours = ran.ok, _vmfleet_takes(size)
        table.append((repr(size), "takes" if guix_takes else "refuses", "takes" if ours else "refuses"))
        if size in DOOMED:
            if not (guix_takes and not ours):
                rows.append((repr(size), "takes" if guix_takes else "refuses",
                             "takes" if ours else "refuses (expected: guix takes it at -d, vmfleet refuses it)"))
        elif guix_takes != ours:
            rows.append((repr(size), "takes" if guix_takes else ran.message[:80],
                         "takes" if ours else "refuses"))
    print(f"\n{len(SIZES)} sizes; {len(rows)} disagreements; {len(DOOMED)} refused early on purpose")
    print(real.table(table, ("size", "guix", "vmfleet")))
    if rows:
        pytest.fail(f"{len(rows)} sizes vmfleet and the real Guix take differently:\n"
                    + real.table(rows, ("size", "guix", "vmfleet")), pytrace=False)
