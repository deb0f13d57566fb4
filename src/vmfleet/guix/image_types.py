"""Which ``guix system image -t TYPE`` to run for a config at a pin, and how the result boots.

Guix's contract (docs/guix-facts.md, "Images"; gnu/system/image.scm):

- ``qcow2`` is an MBR image booted by BIOS GRUB.
- ``efi-raw`` exists wherever ``image`` does: a raw disk (vmfleet turns it into a qcow2 with
  ``qemu-img convert``) with an ESP, booted with UEFI firmware. Its partition table is MBR
  until 209204e23b3 (2023-07-07), GPT after.
- ``qcow2-gpt`` exists since 20157dae27d (2025-12-22): a GPT qcow2 for UEFI.
- ``EFI bootloader required with GPT partitioning`` follows the bootloader's *name*
  (grub-efi-bootloader's is ``grub-efi``) and changed four times: from 6bd17a0806a
  (2023-09-20) a GPT image whose bootloader is not ``grub-efi``/``grub-efi32`` is refused
  (``grub-efi-removable-bootloader`` joins them at 21989dd57da, 2024-01-17); from
  e5078ff3210 (2024-05-22) the check is inverted: a non-GPT image whose bootloader is one of
  those three; from 5df3514ab0f (2025-11-26) nothing (the list holds bound variables, which
  ``memq`` of a name never matches); from e12ba8c865f (2025-12-02) six names.
- before e74baa12459 (2021-01-19) there is no ``image`` action: ``system vm-image`` makes a
  qcow2 (BIOS) and takes no ``-t``.

A combination Guix would refuse at a pin the table knows is refused here, before guix runs,
with the reason and what works instead. At an unknown pin vmfleet picks the type that works
at most revisions with ``image`` and lets guix answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmfleet.errors import UsageError
from vmfleet.guix.revisions import Feature, Revision, since

QCOW2, EFI_RAW, QCOW2_GPT, VM_IMAGE = "qcow2", "efi-raw", "qcow2-gpt", "vm-image"
# The types vmfleet can boot (as a qcow2, with BIOS or UEFI firmware).
BOOTABLE = (QCOW2, EFI_RAW, QCOW2_GPT)
EFI_TYPES = (EFI_RAW, QCOW2_GPT)


@dataclass(frozen=True)
class ImagePlan:
    """What to ask guix for and what to do with its answer."""

    type: str                  # qcow2, efi-raw, qcow2-gpt, or vm-image (revisions before 'image')
    save_provenance: bool | None  # None: unknown pin, try it and fall back on 'unrecognized option'

    @property
    def action(self) -> str:
        return "vm-image" if self.type == VM_IMAGE else "image"

    @property
    def raw_output(self) -> bool:
        """guix makes a raw disk: vmfleet converts it to qcow2 before storing it."""
        return self.type == EFI_RAW

    @property
    def firmware(self) -> str:
        return firmware_of(self.type)


def firmware_of(image_type: str | None) -> str:
    """'efi' for the GPT/ESP types, 'bios' for qcow2 and vm-image (and builds before types)."""
    return "efi" if image_type in EFI_TYPES else "bios"


def is_efi_bootloader(bootloader: str | None) -> bool:
    """``grub-efi-bootloader``, ``grub-efi-removable-bootloader``, ``grub-efi-netboot-…``…"""
    return bool(bootloader) and str(bootloader).startswith("grub-efi")


# bootloader variable -> its bootloader-name (gnu/bootloader/grub.scm); the others are
# named after their variable.
_NAMES = {"grub-bootloader": "grub", "grub-efi-bootloader": "grub-efi",
          "grub-efi32-bootloader": "grub-efi32"}
_THREE = ("grub-efi", "grub-efi32", "grub-efi-removable-bootloader")
_SIX = _THREE + ("grub-efi32-removable-bootloader", "grub-efi-netboot-bootloader",
                 "grub-efi-netboot-removable-bootloader")


def partition_table(rev: Revision, image_type: str) -> str | None:
    """'gpt' or 'mbr' for an image type at ``rev``; None when the pin is unknown and it
    depends on the revision (efi-raw)."""
    if image_type == QCOW2_GPT:
        return "gpt"
    if image_type == EFI_RAW:
        gpt = rev.has(Feature.EFI_RAW_GPT)
        return None if gpt is None else "gpt" if gpt else "mbr"
    return "mbr"


def refused(rev: Revision, bootloader: str | None, image_type: str) -> bool | None:
    """Whether guix at ``rev`` fails with 'EFI bootloader required with GPT partitioning' for
    this bootloader variable and image type; None when the pin is unknown."""
    if image_type == VM_IMAGE:
        return False
    if not rev.known:
        return None
    name = _NAMES.get(str(bootloader), str(bootloader))
    gpt = partition_table(rev, image_type) == "gpt"
    if rev.has(Feature.EFI_SIX_NAMES):
        return name in _SIX and not gpt
    if rev.has(Feature.EFI_CHECK_BROKEN):
        return False
    if rev.has(Feature.EFI_NEEDS_GPT):
        return name in _THREE and not gpt
    if rev.has(Feature.BIOS_GPT_REFUSED):
        efi = _THREE if rev.has(Feature.REMOVABLE_IS_EFI) else _THREE[:2]
        return gpt and name not in efi
    return False


def exists(rev: Revision, image_type: str) -> bool:
    """Whether `-t image_type` exists at ``rev`` (qcow2-gpt only from 20157dae27d)."""
    return image_type != QCOW2_GPT or rev.has(Feature.QCOW2_GPT) is not False


def plan(rev: Revision, bootloader: str | None, requested: str | None = None) -> ImagePlan:
    """The image type for a config whose bootloader is ``bootloader`` at revision ``rev``.

    ``requested`` is the user's ``--image-type``; None picks: qcow2 for BIOS GRUB, and for
    grub-efi qcow2-gpt where it exists, else efi-raw.
    """
    if requested is not None and requested not in BOOTABLE:
        raise UsageError(f"unknown --image-type {requested!r}",
                         f"choose one vmfleet can boot: {', '.join(BOOTABLE)}")
    provenance = rev.has(Feature.SAVE_PROVENANCE)
    efi = is_efi_bootloader(bootloader)
    has_image = rev.has(Feature.IMAGE_ACTION)
    if has_image is False:
        if requested not in (None, QCOW2):
            raise UsageError(
                f"--image-type {requested} needs 'guix system image', which the pinned guix "
                f"({_pin(rev)}) predates (it appeared {since(Feature.IMAGE_ACTION)})",
                "pin a newer guix, or build without --image-type (vmfleet uses 'system vm-image')")
        return ImagePlan(VM_IMAGE, provenance)
    gpt_qcow2 = rev.has(Feature.QCOW2_GPT)
    if requested == QCOW2_GPT and gpt_qcow2 is False:
        raise UsageError(
            f"the image type qcow2-gpt does not exist at {_pin(rev)} (it appeared "
            f"{since(Feature.QCOW2_GPT)})",
            "use --image-type efi-raw (vmfleet converts it to qcow2), or pin a newer guix")
    chosen = requested
    if chosen is None:
        chosen = (QCOW2_GPT if gpt_qcow2 else EFI_RAW) if efi else QCOW2
    if refused(rev, bootloader, chosen):
        raise UsageError(*_refusal(rev, bootloader, chosen, efi))
    return ImagePlan(chosen, provenance)


def _refusal(rev: Revision, bootloader: str | None, image_type: str,
             efi: bool) -> tuple[str, str]:
    """The message and a hint naming only what guix at ``rev`` accepts."""
    table = partition_table(rev, image_type)
    message = (f"guix at {_pin(rev)} refuses -t {image_type} ({table}) for a {bootloader} "
               f"config ('EFI bootloader required with GPT partitioning')")
    usable = [t for t in ((QCOW2_GPT, EFI_RAW) if efi else (QCOW2,))
              if exists(rev, t) and not refused(rev, bootloader, t)]
    if usable:
        boot = "UEFI" if efi else "BIOS"
        return message, (f"use --image-type {usable[0]} ({boot} boot), or switch the config's "
                         f"bootloader")
    if efi:
        return message, ("at this pin a GPT image takes only grub-efi-bootloader or "
                         "grub-efi32-bootloader: switch the config's bootloader to "
                         "grub-efi-bootloader, or pin a guix from 2024-05-22 (e5078ff3210) on")
    return message, "build without --image-type (qcow2, BIOS boot)"


def _pin(rev: Revision) -> str:
    short = (rev.commit or "?")[:12]
    return f"{short} ({rev.label}, {rev.date})" if rev.label else short
