"""EFI configs: the image type is chosen (or refused) before guix runs, an efi-raw image is
converted to qcow2 on its way into the image store, and the type is recorded with the build."""

import sys

import pytest

from vmfleet.build import builds
from vmfleet.errors import UsageError
from vmfleet.guix.revisions import KNOWN_COMMITS
from vmfleet.home import Home
from vmfleet.registry import generations
from vmfleet.registry.db import Registry
from vmfleet.tools import qemu_img

# Writes a 1 MiB raw disk into its 'store' and prints its name; logs every argv.
FAKE_GUIX = f"""#!{sys.executable}
import os, sys
open(os.environ["FAKE_GUIX_LOG"], "a").write(" ".join(sys.argv[1:]) + "\\n")
store = os.environ["FAKE_GUIX_STORE"]
os.makedirs(store, exist_ok=True)
out = os.path.join(store, "00000000000000000000000000000000-disk-image")
with open(out, "wb") as f:
    f.write(b"\\x00" * 510 + b"\\x55\\xaa" + b"\\x00" * (1024 * 1024 - 512))
print(out)
"""

CONFIG = """(use-modules (gnu))
(operating-system
  (host-name "desk")
  (timezone "Europe/Berlin")
  (bootloader (bootloader-configuration (bootloader {bootloader}) (targets '("/boot/efi"))))
  (file-systems %base-file-systems))
"""


def channels(label):
    return f"""(list (channel (name 'guix) (url "https://git.savannah.gnu.org/git/guix.git")
  (commit "{KNOWN_COMMITS[label][0]}")))"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    guix = tmp_path / "guix"
    guix.write_text(FAKE_GUIX)
    guix.chmod(0o755)
    log = tmp_path / "guix.log"
    log.touch()
    monkeypatch.setenv("VMFLEET_GUIX", str(guix))
    monkeypatch.setenv("FAKE_GUIX_LOG", str(log))
    monkeypatch.setenv("FAKE_GUIX_STORE", str(tmp_path / "gnu"))
    home = Home(tmp_path / "home")
    reg = Registry.memory()
    reg.migrate()

    def gen(label, bootloader="grub-efi-bootloader"):
        inputs = generations.Inputs("desk.scm", CONFIG.format(bootloader=bootloader),
                                    channels(label))
        return generations.record(reg, f"desk{label.replace('.', '').replace('-', '')}", inputs,
                                  current_from="2024-06-01T00:00:00Z")[0]

    yield reg, home, gen, log
    reg.close()


def test_grub_efi_at_2024_05_builds_efi_raw_and_stores_a_qcow2(env):
    reg, home, gen, log = env
    built = builds.ensure_image(reg, home, gen("2024-05"))
    assert " -t efi-raw " in log.read_text()
    assert built.image_type == "efi-raw" and built.firmware == "efi"
    assert built.options == {"image_type": "efi-raw"}
    assert qemu_img.info(built.image_path).format == "qcow2"


def test_grub_efi_at_2025_12_builds_qcow2_gpt(env):
    reg, home, gen, log = env
    built = builds.ensure_image(reg, home, gen("2025-12"))
    assert " -t qcow2-gpt " in log.read_text()
    assert built.image_type == "qcow2-gpt" and built.firmware == "efi"


def test_bios_grub_keeps_qcow2_and_its_cache_key(env):
    reg, home, gen, log = env
    built = builds.ensure_image(reg, home, gen("v1.4.0", "grub-bootloader"))
    assert " -t qcow2 " in log.read_text() and built.options == {}
    assert built.image_type == "qcow2" and built.firmware == "bios"


def test_a_refused_combination_never_runs_guix(env):
    reg, home, gen, log = env
    with pytest.raises(UsageError) as e:
        builds.ensure_image(reg, home, gen("2024-05"), image_type="qcow2")
    assert "EFI bootloader required with GPT partitioning" in e.value.message
    assert log.read_text() == ""
    assert reg.query("SELECT * FROM builds") == []


def test_an_image_size_the_pinned_guix_refuses_never_runs_guix(env):
    """At 2019-12 (before fa99c4bbc7a) guix reads `1.G`'s unit from after the last digit and
    refuses it (docs/guix-facts.md S1): vmfleet says so before anything runs."""
    reg, home, gen, log = env
    with pytest.raises(UsageError, match="at this pin") as e:
        builds.ensure_image(reg, home, gen("2019-12", "grub-bootloader"), image_size="1.G")
    assert "1G, not 1.G" in e.value.hint
    assert log.read_text() == "" and reg.query("SELECT * FROM builds") == []
