"""Which image type and guix argv a pin and a bootloader get (real commits: docs/guix-facts.md)."""

import pytest

from vmfleet.errors import UsageError
from vmfleet.guix import image_types as it
from vmfleet.guix.revisions import KNOWN_COMMITS, Feature, revision


def pin(label):
    return revision(KNOWN_COMMITS[label][0])


def test_pins_are_placed_by_the_table_of_real_commits():
    assert pin("v1.0.0").has(Feature.SAVE_PROVENANCE) is False
    assert pin("2019-12").has(Feature.SAVE_PROVENANCE) is True
    assert pin("v1.2.0").has(Feature.IMAGE_ACTION) is False
    assert pin("v1.3.0").has(Feature.IMAGE_ACTION) is True
    assert pin("2024-05").has(Feature.EFI_NEEDS_GPT) is True
    assert pin("2024-11").has(Feature.QCOW2_GPT) is False
    assert pin("2025-12").has(Feature.QCOW2_GPT) is True
    assert revision("8e2f32cee98").label == "v1.4.0"            # an abbreviation
    assert revision("b85836d3067").has(Feature.SAVE_PROVENANCE)   # the feature commit itself
    unknown = revision("0123456789abcdef0123456789abcdef01234567")
    assert not unknown.known and unknown.has(Feature.SAVE_PROVENANCE) is None


def test_old_pins_build_vm_images_without_provenance():
    plan = it.plan(pin("v1.0.0"), "grub-bootloader")
    assert (plan.type, plan.action, plan.save_provenance) == ("vm-image", "vm-image", False)
    assert it.plan(pin("v1.2.0"), "grub-bootloader").save_provenance is True


def test_unknown_pins_try_save_provenance():
    plan = it.plan(revision(None), "grub-bootloader")
    assert (plan.type, plan.save_provenance) == ("qcow2", None)


@pytest.mark.parametrize("label,bootloader,expected", [
    ("v1.4.0", "grub-bootloader", "qcow2"),
    ("v1.4.0", "grub-efi-bootloader", "efi-raw"),
    ("2024-05", "grub-efi-bootloader", "efi-raw"),
    ("2024-11", "grub-efi-removable-bootloader", "efi-raw"),
    ("2025-12", "grub-efi-bootloader", "qcow2-gpt"),
    ("v1.5.0", "grub-bootloader", "qcow2"),
])
def test_the_type_follows_the_bootloader_and_the_pin(label, bootloader, expected):
    plan = it.plan(pin(label), bootloader)
    assert plan.type == expected
    assert plan.firmware == ("efi" if expected != "qcow2" else "bios")
    assert plan.raw_output == (expected == "efi-raw")


def test_qcow2_with_grub_efi_is_refused_where_guix_refuses_it():
    with pytest.raises(UsageError) as e:
        it.plan(pin("2024-05"), "grub-efi-bootloader", "qcow2")
    assert "EFI bootloader required with GPT partitioning" in e.value.message
    assert "--image-type efi-raw" in e.value.hint
    with pytest.raises(UsageError) as e:
        it.plan(pin("v1.5.0"), "grub-efi-bootloader", "qcow2")
    assert "--image-type qcow2-gpt" in e.value.hint
    # Before e5078ff3210 guix accepted it: so does vmfleet.
    assert it.plan(pin("2023-10"), "grub-efi-bootloader", "qcow2").type == "qcow2"


def test_qcow2_gpt_before_it_existed_is_refused():
    with pytest.raises(UsageError) as e:
        it.plan(pin("2024-11"), "grub-efi-bootloader", "qcow2-gpt")
    assert "2025-12-22" in e.value.message and "efi-raw" in e.value.hint
    assert it.plan(revision(None), "grub-efi-bootloader", "qcow2-gpt").type == "qcow2-gpt"


def test_image_types_before_image_existed_are_refused():
    with pytest.raises(UsageError, match="predates"):
        it.plan(pin("v1.2.0"), "grub-bootloader", "efi-raw")


def test_unknown_image_type():
    with pytest.raises(UsageError, match="unknown --image-type"):
        it.plan(pin("v1.4.0"), "grub-bootloader", "iso9660")


# gnu/system/image.scm@6bd17a0806a:531-533: from 2023-09-20 a GPT image needs grub-efi or
# grub-efi32 (+ grub-efi-removable-bootloader from 21989dd57da:534-537); the 2023-10 pin
# (2023-11-01) lies between them.
@pytest.mark.parametrize("bootloader", ["grub-efi-removable-bootloader",
                                        "grub-efi-netboot-bootloader",
                                        "grub-efi-netboot-removable-bootloader"])
def test_efi_bootloaders_a_gpt_image_refuses_at_the_2023_10_pin(bootloader):
    with pytest.raises(UsageError) as e:
        it.plan(pin("2023-10"), bootloader)
    assert "EFI bootloader required with GPT partitioning" in e.value.message
    assert "--image-type efi-raw" not in e.value.hint     # that is what guix refuses
    assert "grub-efi-bootloader" in e.value.hint
    with pytest.raises(UsageError):
        it.plan(pin("2023-10"), bootloader, "efi-raw")


def test_removable_counts_as_efi_from_2024_01_17():
    assert it.plan(revision("21989dd57da"), "grub-efi-removable-bootloader").type == "efi-raw"
    with pytest.raises(UsageError):
        it.plan(revision("21989dd57da"), "grub-efi-netboot-bootloader")
    # e5078ff3210 inverted the check: a GPT image takes any bootloader.
    assert it.plan(pin("2024-05"), "grub-efi-netboot-bootloader").type == "efi-raw"


def test_a_bios_bootloader_with_a_gpt_image_is_refused_from_2023_09_to_2024_05():
    with pytest.raises(UsageError) as e:
        it.plan(pin("2023-10"), "grub-bootloader", "efi-raw")
    assert "--image-type qcow2" in e.value.hint
    assert it.plan(pin("2023-06"), "grub-bootloader", "efi-raw").type == "efi-raw"
    assert it.plan(pin("2024-05"), "grub-bootloader", "efi-raw").type == "efi-raw"


# gnu/system/image.scm@e5078ff3210:535-538 (three names), @5df3514ab0f:358-361 (bound
# variables: memq never matches), @e12ba8c865f:369-377 (six names).
@pytest.mark.parametrize("label,bootloader,refused", [
    ("2024-05", "grub-efi-bootloader", True),
    ("2024-05", "grub-efi32-bootloader", True),
    ("2024-05", "grub-efi-removable-bootloader", True),
    ("2024-05", "grub-efi-netboot-bootloader", False),
    ("2024-11", "grub-efi-netboot-removable-bootloader", False),
    ("5df3514ab0f", "grub-efi-bootloader", False),
    ("e12ba8c865f", "grub-efi-bootloader", True),
    ("e12ba8c865f", "grub-efi-netboot-bootloader", True),
    ("2025-12", "grub-efi32-removable-bootloader", True),
])
def test_qcow2_refuses_the_efi_bootloaders_guix_lists_at_the_pin(label, bootloader, refused):
    rev = pin(label) if label in KNOWN_COMMITS else revision(label)
    if refused:
        with pytest.raises(UsageError, match="EFI bootloader required"):
            it.plan(rev, bootloader, "qcow2")
    else:
        assert it.plan(rev, bootloader, "qcow2").type == "qcow2"


def test_efi_raw_is_gpt_only_from_209204e23b3():
    assert it.partition_table(pin("2023-06"), "efi-raw") == "mbr"
    assert it.partition_table(revision("209204e23b3"), "efi-raw") == "gpt"
    assert it.partition_table(pin("v1.4.0"), "qcow2") == "mbr"
    assert it.partition_table(pin("2025-12"), "qcow2-gpt") == "gpt"
    assert it.partition_table(revision(None), "efi-raw") is None
