"""Which ``guix system image -t TYPE`` to run for a config at a pin, and how the result boots.

Guix's contract (guix-facts.md, gnu/system/image.scm):

- ``qcow2`` is an MBR image booted by BIOS GRUB. Since e5078ff3210 (2024-05-22) a config
  whose bootloader is ``grub-efi*`` fails with it (``EFI bootloader required with GPT
  partitioning``).
- ``efi-raw`` (GPT + ESP) exists wherever ``image`` does: a raw disk, which vmfleet turns into
  a qcow2 with ``qemu-img convert``; it boots with UEFI firmware.
- ``qcow2-gpt`` exists since 20157dae27d (2025-12-22): a GPT qcow2 for UEFI.
- before e74baa12459 (2021-01-19) there is no ``image`` action: ``system vm-image`` makes a
  qcow2 (BIOS) and takes no ``-t``.

A combination Guix would refuse at a pin the table knows is refused here, before guix runs,
with the reason and what to use instead. At an unknown pin vmfleet picks the type that works
at every revision with ``image`` and lets guix answer.
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
    if requested is None:
        if not efi:
            chosen = QCOW2
        else:
            chosen = QCOW2_GPT if gpt_qcow2 else EFI_RAW
        return ImagePlan(chosen, provenance)
    if requested == QCOW2 and efi and rev.has(Feature.EFI_NEEDS_GPT):
        alternative = QCOW2_GPT if gpt_qcow2 else EFI_RAW
        raise UsageError(
            f"guix at {_pin(rev)} refuses -t qcow2 for a {bootloader} config ('EFI bootloader "
            f"required with GPT partitioning', since {since(Feature.EFI_NEEDS_GPT)})",
            f"use --image-type {alternative} (UEFI boot), or switch the config to grub-bootloader")
    if requested == QCOW2_GPT and gpt_qcow2 is False:
        raise UsageError(
            f"the image type qcow2-gpt does not exist at {_pin(rev)} (it appeared "
            f"{since(Feature.QCOW2_GPT)})",
            "use --image-type efi-raw (vmfleet converts it to qcow2), or pin a newer guix")
    return ImagePlan(requested, provenance)


def _pin(rev: Revision) -> str:
    short = (rev.commit or "?")[:12]
    return f"{short} ({rev.label}, {rev.date})" if rev.label else short
