"""The guix stand-in keeps the guix command line's contract (docs/guix-facts.md) and its knobs work.

Every test runs tests/standin/bin/guix as vmfleet does (argv in, stdout/stderr/exit status
out) against configs written here, with a fresh stand-in store per test or module.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmfleet.guix.channel_files import parse_channels

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[3]
GUIX = REPO / "tests" / "standin" / "bin" / "guix"
NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"
GUIX_URL = "https://git.savannah.gnu.org/git/guix.git"
GNU_URL = "https://git.guix.gnu.org/guix.git"
# Real commits of the guix channel (docs/guix-facts.md, "Pins").
C_V1_0 = "6298c3ffd9654d3231a6f25390b056483e8f407c"       # 2019-05-01: no --save-provenance
C_2019_12 = "b94cf161d066b0fc1f3830ac38fbc98597a1f922"    # --save-provenance, no `image'
C_2023_06 = "76e39909e886bb51cf9b2fa03a1523545faca880"    # efi-raw still MBR
C_2023_10 = "60c97924e9519361494aaf0686e28eb831a42315"    # GPT + BIOS GRUB refused
C_V1_3 = "a0178d34f582b50e9bdbb0403943129ae5b560ff"
C_V0_16 = "4a0b87f0ec5b6c2dcf82b372dd20ca7ea6acdd9c"
C_2024_05 = "dc4c48f10281007a0ab3541b8a64198c60c6d5b0"    # grub-efi + qcow2 refused
C_2020_11 = "a099685659b4bfa6b3218f84953cbb7ff9e88063"    # v1.2.0
C_2025_06 = "dd7e39ccfdd23a388dfa6b7665de466691bc6cda"    # zstd qcow2
C_2018 = "359fdda40f754bbf1b5dc261e7427b75463b59be"       # v0.15.0: before v0.16.0
NEWEST = "230aa373f315f247852ee07dff34146e9b480aec"       # v1.5.0
INTRO = ("\n        (introduction\n          (make-channel-introduction\n"
         "            \"9edb3f66fd807b096b48283debdcddccfea34bad\"\n"
         "            (openpgp-fingerprint\n"
         "              \"BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA\")))")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHYoQ9U2bE6n6U5x1mYbq2pQ5lqQ3rZ4dT1QnW0bXtQ7 test@standin"

CONFIG = """;; a small web server
(use-modules (gnu))
(use-service-modules networking ssh web)
(use-package-modules web admin)

(operating-system
  (host-name "{host}")
  (timezone "Etc/UTC")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device (file-system-label "Guix_image"))
                        (type "ext4"))
                      %base-file-systems))
  (packages (append (list nginx
                          (specification->package "htop"))
                    %base-packages))
  (services (append (list (service dhcp-client-service-type)
                          (service openssh-service-type
                                   (openssh-configuration
                                    (authorized-keys
                                     `(("root" ,(local-file "id.pub")))))))
                    %base-services)))
"""


def channels(commit: str | None, *, url: str = GUIX_URL, intro: bool = True) -> str:
    """A channels file as `guix describe -f channels` writes it (with the introduction)."""
    pin = f'\n        (commit "{commit}")' if commit else ""
    return (f"(list (channel\n        (name 'guix)\n        (url \"{url}\")\n"
            f"        (branch \"master\"){pin}{INTRO if intro else ''}))\n")


def guix(*args, env=None, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([str(GUIX), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


def write_system(d: Path, host: str = "web", text: str | None = None,
                 commit: str | None = C_2024_05) -> tuple[Path, Path]:
    d.mkdir(parents=True, exist_ok=True)
    (d / "id.pub").write_text(KEY + "\n")
    (d / "config.scm").write_text(text if text is not None else CONFIG.format(host=host))
    (d / "channels.scm").write_text(channels(commit))
    return d / "config.scm", d / "channels.scm"


def build(d: Path, store: Path, *extra, env=None, config="config.scm"):
    return guix("time-machine", "-C", d / "channels.scm", "--", "system", "image", "-t",
                "qcow2", "--save-provenance", *extra, d / config,
                env={"VMFLEET_STANDIN_STORE": str(store), **(env or {})})


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def store_line(stdout: str, store: Path, suffix: str = "image.qcow2") -> Path:
    assert stdout.endswith("\n") and stdout.count("\n") == 1, repr(stdout)
    line = stdout.strip()
    m = re.fullmatch(rf"{re.escape(str(store))}/([{NIX32}]{{32}})-{re.escape(suffix)}", line)
    assert m, line
    return Path(line)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One image of CONFIG at the 2024-05 pin, shared by the read-only tests."""
    d = tmp_path_factory.mktemp("web")
    write_system(d)
    store = d / "store"
    started = time.monotonic()
    r = build(d, store)
    elapsed = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    return d, store, store_line(r.stdout, store), r, elapsed


# --- the command line -----------------------------------------------------------------------


def test_version_names_the_current_commit():
    r = guix("--version")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0] == f"guix (GNU Guix) {NEWEST}"


def test_describe_channels_is_a_pinned_channels_file():
    r = guix("describe", "-f", "channels")
    assert r.returncode == 0 and r.stderr == ""
    [ch] = parse_channels(r.stdout, "describe")
    assert (ch.name, ch.url, ch.branch, ch.commit) == ("guix", GNU_URL, "master", NEWEST)
    assert ch.introduction.commit == "9edb3f66fd807b096b48283debdcddccfea34bad"


def test_describe_json_and_inside_time_machine(tmp_path):
    write_system(tmp_path, commit=C_2023_10)
    r = guix("time-machine", "-C", tmp_path / "channels.scm", "--", "describe", "-f", "json",
             env={"VMFLEET_STANDIN_STORE": str(tmp_path / "store")})
    assert r.returncode == 0, r.stderr
    [ch] = json.loads(r.stdout)
    assert ch["commit"] == C_2023_10 and ch["url"] == GUIX_URL and ch["branch"] == "master"
    assert "Updating channel 'guix' from Git repository at" in r.stderr


def test_list_image_types():
    r = guix("system", "--list-image-types")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[:2] == ["The available image types are:", ""]
    assert "   - qcow2" in lines and all(x.startswith("   - ") for x in lines[2:])


def test_image_build_prints_only_the_store_file_name(built):
    d, store, image, r, elapsed = built
    assert image.is_file()
    assert oct(image.stat().st_mode & 0o777) == "0o444"
    assert image.read_bytes()[:4] == b"QFI\xfb"                # qcow2
    assert re.search(r"^building /gnu/store/[0-9a-z]{32}-image\.qcow2\.drv\.\.\.$", r.stderr,
                     re.M)
    assert 5e6 < image.stat().st_size < 60e6


def test_same_inputs_are_found_in_the_store_at_once(built):
    d, store, image, _, _ = built
    before = image.stat().st_mtime_ns
    r = build(d, store)
    assert r.returncode == 0
    assert store_line(r.stdout, store) == image
    assert "building" not in r.stderr and "Updating channel" not in r.stderr
    assert image.stat().st_mtime_ns == before  # found, not made again (timing is bench/build.py's)


def test_derivation_and_dry_run_build_nothing(tmp_path):
    write_system(tmp_path)
    store = tmp_path / "store"
    r = build(tmp_path, store, "-d")
    assert r.returncode == 0, r.stderr
    drv = store_line(r.stdout, store, "image.qcow2.drv")
    assert drv.exists()
    r = build(tmp_path, store, "-n")
    assert r.returncode == 0 and r.stdout == ""
    assert "would be built" in r.stderr
    assert not list(store.glob("*-image.qcow2"))


def test_two_builds_in_fresh_stores_are_byte_identical(built, tmp_path):
    d, _, image, _, _ = built
    store = tmp_path / "store"
    r = build(d, store)
    assert r.returncode == 0, r.stderr
    again = store_line(r.stdout, store)
    assert again.name == image.name
    assert sha256(again) == sha256(image)


def test_the_callers_umask_does_not_reach_the_image(built, tmp_path):
    """Guix builds in its daemon, not with the umask of whoever runs guix (vmfleet runs it
    with 077): a build under umask 077 gives the same bytes."""
    d, _, image, _, _ = built
    store = tmp_path / "store"
    old = os.umask(0o077)
    try:
        r = build(d, store)
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stderr
    assert sha256(store_line(r.stdout, store)) == sha256(image)


def test_pins_from_different_months_give_different_images(built, tmp_path):
    d, store, image, _, _ = built
    (d / "channels-2023.scm").write_text(channels(C_2023_10))
    r = guix("time-machine", "-C", d / "channels-2023.scm", "--", "system", "image", "-t",
             "qcow2", "--save-provenance", d / "config.scm",
             env={"VMFLEET_STANDIN_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    assert store_line(r.stdout, store) != image


def test_vm_image_for_revisions_before_1_3(tmp_path):
    write_system(tmp_path, commit=C_2020_11)
    store = tmp_path / "store"
    r = build(tmp_path, store)
    assert r.returncode == 1 and r.stdout == ""
    assert "guix system: error: image: unknown action" in r.stderr.splitlines()
    r = guix("time-machine", "-C", tmp_path / "channels.scm", "--", "system", "vm-image",
             "--save-provenance", tmp_path / "config.scm",
             env={"VMFLEET_STANDIN_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    assert store_line(r.stdout, store, "qemu-image").read_bytes()[:4] == b"QFI\xfb"


def test_save_provenance_is_unknown_before_2019_12(tmp_path):
    """b85836d3067 (2019-12-07) added --save-provenance (guix/scripts/system.scm)."""
    write_system(tmp_path, commit=C_V1_0)
    store = tmp_path / "store"
    r = guix("time-machine", "-C", tmp_path / "channels.scm", "--", "system", "vm-image",
             "--save-provenance", tmp_path / "config.scm",
             env={"VMFLEET_STANDIN_STORE": str(store)})
    assert _error(r) == "guix system: error: save-provenance: unrecognized option"
    write_system(tmp_path, commit=C_2019_12)
    r = guix("time-machine", "-C", tmp_path / "channels.scm", "--", "system", "vm-image",
             "-d", "--save-provenance", tmp_path / "config.scm",
             env={"VMFLEET_STANDIN_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    r = build(tmp_path, store, "-d")
    assert _error(r) == "guix system: error: image: unknown action"


def test_guix_channel_without_introduction(tmp_path):
    """ensure-default-introduction (guix/channels.scm) adds the introduction only for the
    running guix's %default-channel-url: git.guix.gnu.org since 3b6e499d5e6."""
    write_system(tmp_path)
    store = tmp_path / "store"
    (tmp_path / "channels.scm").write_text(channels(C_2024_05, intro=False))
    r = build(tmp_path, store, "-d")
    assert _error(r) == ("guix time-machine: error: channel 'guix' lacks an introduction and "
                         "cannot be authenticated")
    assert r.stderr.splitlines()[-1].startswith("hint: Add the missing introduction")
    (tmp_path / "channels.scm").write_text(channels(C_2024_05, url=GNU_URL, intro=False))
    assert build(tmp_path, store, "-d").returncode == 0
    (tmp_path / "channels.scm").write_text(channels(C_2024_05, intro=False))
    r = build(tmp_path, store, "-d", env={"VMFLEET_STANDIN_CURRENT": C_2024_05})
    assert r.returncode == 0, r.stderr        # a 2024 guix's default URL is Savannah's


def test_grub_efi_with_qcow2_is_refused_from_2024_05(tmp_path):
    """e5078ff3210 (2024-05-22): qcow2 is MBR, and a grub-efi bootloader needs GPT."""
    text = CONFIG.format(host="web").replace("grub-bootloader", "grub-efi-bootloader")
    write_system(tmp_path, text=text, commit=C_2024_05)
    assert _error(build(tmp_path, tmp_path / "store", "-d")) == \
        "guix system: error: EFI bootloader required with GPT partitioning"
    write_system(tmp_path, text=text, commit=C_2023_10)
    assert build(tmp_path, tmp_path / "store", "-d").returncode == 0


def test_vm_image_t_before_2020_09_is_the_file_system_type(tmp_path):
    """Before 313f492657f (2020-09-30) -t is --file-system-type, which vm-image
    (system-qemu-image) ignores; there is no --image-type (guix/scripts/system.scm)."""
    write_system(tmp_path, commit=C_V1_0)
    store = tmp_path / "store"
    tm = ("time-machine", "-C", tmp_path / "channels.scm", "--", "system")
    env = {"VMFLEET_STANDIN_STORE": str(store)}
    r = guix(*tm, "vm-image", "-t", "qcow2", "-d", tmp_path / "config.scm", env=env)
    assert r.returncode == 0, r.stderr
    plain = guix(*tm, "vm-image", "-d", tmp_path / "config.scm", env=env)
    assert r.stdout == plain.stdout                  # the same derivation: -t is ignored
    assert _error(guix(*tm, "vm-image", "--image-type=qcow2", tmp_path / "config.scm",
                       env=env)) == "guix system: error: image-type: unrecognized option"
    assert _error(guix(*tm, "--list-image-types", env=env)) == \
        "guix system: error: list-image-types: unrecognized option"


def test_vm_image_t_at_1_2_is_looked_up_then_ignored(tmp_path):
    """v1.2.0: -t/--image-type and --list-image-types exist (313f492657f); the name is
    looked up (lookup-image-type-by-name, gnu/system/image.scm) for every action."""
    write_system(tmp_path, commit=C_2020_11)
    store = tmp_path / "store"
    tm = ("time-machine", "-C", tmp_path / "channels.scm", "--", "system")
    env = {"VMFLEET_STANDIN_STORE": str(store)}
    r = guix(*tm, "vm-image", "-t", "qcow2", "-d", tmp_path / "config.scm", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == guix(*tm, "vm-image", "-d", tmp_path / "config.scm", env=env).stdout
    assert _error(guix(*tm, "vm-image", "-t", "efi-raw", tmp_path / "config.scm", env=env)) \
        == "guix system: error: efi-raw: no such image type"      # `raw' until 1.3.0
    r = guix(*tm, "--list-image-types", env=env)
    assert r.returncode == 0 and "   - raw" in r.stdout.splitlines()


def test_efi_raw_is_mbr_until_2023_07_and_gpt_after(tmp_path):
    """209204e23b3 (2023-07-07): efi-raw prefers a GPT; before it an ESP and the root in an
    MBR table, like qcow2 (gnu/system/image.scm)."""
    store = tmp_path / "store"
    for commit, label in ((C_2023_06, "dos"), (C_2024_05, "gpt")):
        write_system(tmp_path, commit=commit)
        r = build(tmp_path, store, "-t", "efi-raw")
        assert r.returncode == 0, r.stderr
        disk = store_line(r.stdout, store, "disk-image")
        table = json.loads(subprocess.run(["sfdisk", "-J", str(disk)], capture_output=True,
                                          text=True, check=True).stdout)["partitiontable"]
        assert table["label"] == label
        assert len(table["partitions"]) == 2


def test_gpt_with_a_bios_bootloader_is_refused_from_2023_09_to_2024_05(tmp_path):
    """6bd17a0806a (2023-09-20): a GPT image with a bootloader that is not grub-efi or
    grub-efi32 is refused with the message e5078ff3210 later gave the opposite meaning."""
    store = tmp_path / "store"
    write_system(tmp_path, commit=C_2023_10)
    assert _error(build(tmp_path, store, "-t", "efi-raw", "-d")) == \
        "guix system: error: EFI bootloader required with GPT partitioning"
    write_system(tmp_path, commit=C_2023_06)
    assert build(tmp_path, store, "-t", "efi-raw", "-d").returncode == 0
    write_system(tmp_path, commit=C_2024_05)
    assert build(tmp_path, store, "-t", "efi-raw", "-d").returncode == 0


@pytest.mark.parametrize("commit, message", [
    (C_V1_3, "guix system: error: '{config}' does not return an operating system or an image"),
    (C_2020_11, "guix system: error: '{config}' does not return an operating system"),
    (C_V1_0, "guix system: error: stand-in: '{config}' is not an operating system; this guix "
             "does not check (it fails later, in Guile, in a way the stand-in does not model)"),
])
def test_not_an_operating_system_by_revision(tmp_path, commit, message):
    """guix/scripts/system.scm: the check came with ce10e6053bb (2019-05-16), "or an image"
    with 6e8cdf1d260 (2021-02-17); v1.0.0 has none."""
    write_system(tmp_path, text='(use-modules (gnu))\n"not a system"\n', commit=commit)
    r = guix("time-machine", "-C", tmp_path / "channels.scm", "--", "system", "vm-image",
             tmp_path / "config.scm", env={"VMFLEET_STANDIN_STORE": str(tmp_path / "store")})
    assert _error(r) == message.format(config=tmp_path / "config.scm")


@pytest.mark.parametrize("current, commit, refused_with", [
    (None, C_V0_16, None),                       # v1.5.0: 4a0b87f0ec5b (a26bce55e60)
    (C_2023_10, C_V0_16, "6298c3ffd965"),        # 79ec651a286 .. a26bce55e60: v1.0.0
    (C_2023_10, C_V1_0, None),
    (C_2023_06, C_V0_16, None),                  # before 79ec651a286: no check
    (None, C_2018, "4a0b87f0ec5b"),
    (C_2023_10, C_2018, "6298c3ffd965"),
])
def test_time_machine_oldest_commit_follows_the_running_guix(tmp_path, current, commit,
                                                            refused_with):
    """guix/scripts/time-machine.scm's %oldest-possible-commit is the running guix's; the
    message says May 1st, 2019 whichever hash it names."""
    (tmp_path / "channels.scm").write_text(channels(commit))
    env = {"VMFLEET_STANDIN_STORE": str(tmp_path / "store")}
    if current:
        env["VMFLEET_STANDIN_CURRENT"] = current
    r = guix("time-machine", "-C", tmp_path / "channels.scm", "--", "describe", "-f",
             "channels", env=env)
    if refused_with is None:
        assert r.returncode == 0, r.stderr
        assert commit in r.stdout
    else:
        assert _error(r) == (f"guix time-machine: error: cannot travel past commit "
                             f"`{refused_with}' from May 1st, 2019")


def test_time_machine_without_the_check_to_a_commit_the_stand_in_cannot_build(tmp_path):
    (tmp_path / "channels.scm").write_text(channels(C_2018))
    r = guix("time-machine", "-C", tmp_path / "channels.scm", "--", "describe",
             env={"VMFLEET_STANDIN_STORE": str(tmp_path / "store"),
                  "VMFLEET_STANDIN_CURRENT": C_2023_06})
    assert _error(r).startswith("guix time-machine: error: stand-in: this guix (76e3990) "
                                "does not check")


def test_qcow2_is_zstd_compressed_from_2025_04(tmp_path):
    """a0941c14ef1 (2025-04-30): qemu-img convert -c -o compression_type=zstd."""
    write_system(tmp_path, commit=C_2025_06)
    store = tmp_path / "store"
    r = build(tmp_path, store)
    assert r.returncode == 0, r.stderr
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json",
                                      store_line(r.stdout, store)],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["format-specific"]["data"]["compression-type"] == "zstd"


# --- errors, as Guix prints them --------------------------------------------------------------


def _error(r) -> str:
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    return [line for line in r.stderr.splitlines() if " error: " in line][-1]


@pytest.mark.parametrize("commit, message", [
    ("dc4c48f10281007a0ab3541b8a64198c60c6d5b1",
     "guix time-machine: error: Git error: object not found - no match for id "
     "(dc4c48f10281007a0ab3541b8a64198c60c6d5b1)"),
    (C_2018, "guix time-machine: error: cannot travel past commit `4a0b87f0ec5b' from "
             "May 1st, 2019"),
])
def test_time_machine_errors(tmp_path, commit, message):
    write_system(tmp_path, commit=commit)
    r = build(tmp_path, tmp_path / "store")
    assert _error(r) == message


@pytest.mark.parametrize("old, new, line", [
    # gnu/packages.scm: specification->package leaves without a location
    ('(specification->package "htop")', '(specification->package "htopp")',
     "guix system: error: htopp: unknown package"),
    ('(specification->package "htop")', '(specification->package "htop@9")',
     "guix system: error: htop: package not found for version 9"),
    # guix/ui.scm, report-load-error: a missing parenthesis has no "error:"
    ("%base-services)))", "%base-services))", "{dir}/config.scm:6:0: missing closing parenthesis"),
])
def test_config_errors_without_error_locations(tmp_path, old, new, line):
    text = CONFIG.format(host="web").replace(old, new)
    write_system(tmp_path, text=text)
    r = build(tmp_path, tmp_path / "store")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines()[-1] == line.format(dir=tmp_path)


@pytest.mark.parametrize("old, new, message, token", [
    ("(list nginx", "(list nginx-extra", "nginx-extra: unbound variable", "nginx-extra"),
    ("(use-package-modules web admin)", "(use-package-modules admin)",
     "nginx: unbound variable", "nginx"),
    # (an unbound name inside `services` has none at this pin: the field is thunked, see
    # test_standin_modules.test_an_unbound_variable_in_services_is_found_when_the_thunk_is_forced)
])
def test_config_errors_have_guile_locations(tmp_path, old, new, message, token):
    text = CONFIG.format(host="web").replace(old, new)
    write_system(tmp_path, text=text)
    line = _error(build(tmp_path, tmp_path / "store"))
    m = re.fullmatch(r"(.+):(\d+):(\d+): error: (.+)", line)
    assert m, line
    assert m.group(1) == str(tmp_path / "config.scm")
    assert m.group(4).endswith(message)
    if token:
        assert token in text.splitlines()[int(m.group(2)) - 1][int(m.group(3)):]


def test_a_missing_local_file_fails_in_canonicalize_path_as_in_guix_1_4_0(tmp_path):
    """guix/gexp.scm@8e2f32cee98:472-480: the name is canonicalized when the file is interned; the
    system-error has no source location (real Guix v1.4.0 on tests/corpus/os/missing-local-file.scm)."""
    text = CONFIG.format(host="web").replace('"id.pub"', '"missing.pub"')
    write_system(tmp_path, text=text)
    line = _error(build(tmp_path, tmp_path / "store"))
    assert line == f'guix system: error: canonicalize-path: No such file or directory: "{tmp_path}/missing.pub"'


def test_missing_module_hint_names_it(tmp_path):
    text = CONFIG.format(host="web").replace("(use-package-modules web admin)",
                                             "(use-package-modules admin)")
    write_system(tmp_path, text=text)
    r = build(tmp_path, tmp_path / "store")
    assert "hint: Did you forget `(use-modules (gnu packages web))'?" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["system", "image", "nothere.scm"],
     "guix system: error: failed to load 'nothere.scm': No such file or directory"),
    (["system", "image", "--image-size=4X", "config.scm"], "guix system: error: unknown unit: X"),
    (["system", "image", "--image-size=4KB", "config.scm"], "guix system: error: unknown unit: KB"),
    (["system", "image", "--image-size=x4", "config.scm"], "guix system: error: invalid number: x4"),
    (["system", "image", "-t", "floppy", "config.scm"],
     "guix system: error: floppy: no such image type"),
    (["system", "frobnicate", "config.scm"], "guix system: error: frobnicate: unknown action"),
    (["system", "image", "--frob", "config.scm"],
     "guix system: error: frob: unrecognized option"),    # SRFI-37 passes the bare name
    (["system", "image", "--check", "config.scm"],        # --check is `guix build''s only
     "guix system: error: check: unrecognized option"),
    (["build", "--check", "hello"],
     "guix build: error: stand-in: 'guix build' builds derivations (.drv files that 'guix "
     "system image' wrote) only"),
    (["time-machine", "-C", "nothere.scm", "--", "describe"],
     "guix time-machine: error: failed to load 'nothere.scm': No such file or directory"),
])
def test_usage_errors(tmp_path, args, message):
    write_system(tmp_path)
    r = guix(*args, cwd=tmp_path, env={"VMFLEET_STANDIN_STORE": str(tmp_path / "store")})
    assert _error(r) == message


def test_unknown_command():
    r = guix("frobnicate")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines()[0] == "guix: frobnicate: command not found"


# --- knobs ----------------------------------------------------------------------------------


def test_nondeterministic_knob_changes_bytes_not_the_name(built, tmp_path):
    d, _, image, _, _ = built
    store = tmp_path / "store"
    r = build(d, store, env={"VMFLEET_STANDIN_NONDETERMINISTIC": "1"})
    assert r.returncode == 0, r.stderr
    other = store_line(r.stdout, store)
    assert other.name == image.name
    assert sha256(other) != sha256(image)


def test_drift_knob_renames_the_package_and_the_image(built, tmp_path):
    d, _, image, _, _ = built
    store = tmp_path / "store"
    r = build(d, store, "-n", env={"VMFLEET_STANDIN_DRIFT": "zlib"})
    assert r.returncode == 0
    r = build(d, store, "-d", env={"VMFLEET_STANDIN_DRIFT": "zlib"})
    drifted = store_line(r.stdout, store, "image.qcow2.drv")
    r = build(d, store, "-d")
    assert store_line(r.stdout, store, "image.qcow2.drv") != drifted


def test_vanish_knob_fails_the_build_like_guix(built, tmp_path):
    d, _, _, _, _ = built
    store = tmp_path / "store"
    r = build(d, store, env={"VMFLEET_STANDIN_VANISH": "nginx"})
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    failed = [x for x in lines if re.fullmatch(r"build of /gnu/store/\S+-nginx-[\d.]+\.tar\.gz"
                                               r"\.drv failed", x)]
    assert failed
    [log_line] = [x for x in lines if x.startswith("View build log at '")]
    log = Path(re.fullmatch(r"View build log at '(.+)'\.", log_line).group(1))
    assert "download failed" in gzip.open(log, "rt").read()
    assert re.fullmatch(r"guix system: error: build of `/gnu/store/\S+-image\.qcow2\.drv' failed",
                        lines[-1])
    assert not list(store.glob("*-image.qcow2"))


def test_slow_knob_prints_progress_and_takes_its_time(tmp_path):
    write_system(tmp_path)
    started = time.monotonic()
    r = build(tmp_path, tmp_path / "store", env={"VMFLEET_STANDIN_SLOW": "1.5"})
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - started >= 1.5
    assert len(re.findall(r"^building /gnu/store/", r.stderr, re.M)) >= 3


def test_slow_build_can_be_terminated_and_leaves_no_image(tmp_path):
    write_system(tmp_path)
    store = tmp_path / "store"
    proc = subprocess.Popen([str(GUIX), "time-machine", "-C", str(tmp_path / "channels.scm"),
                             "--", "system", "image", "-t", "qcow2", str(tmp_path / "config.scm")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "VMFLEET_STANDIN_STORE": str(store),
                                 "VMFLEET_STANDIN_SLOW": "30"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list(store.glob(".locks/*")):
            time.sleep(0.1)
        time.sleep(0.5)
        proc.terminate()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert not list(store.glob("*-image.qcow2")) and not list(store.glob(".build-*"))


def test_big_closure_knob(tmp_path):
    write_system(tmp_path)
    store = tmp_path / "store"
    r = build(tmp_path, store, env={"VMFLEET_STANDIN_BIG": "40:8M"})
    assert r.returncode == 0, r.stderr
    image = store_line(r.stdout, store)
    assert image.stat().st_size > 8 << 20       # the filler does not compress
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
    db = _dump(raw, "/var/guix/db/db.sqlite", tmp_path)
    rows = sqlite3.connect(db).execute(
        "SELECT count(*), sum(narSize) FROM ValidPaths WHERE path LIKE '%-bench-data-%'").fetchone()
    assert rows[0] == 40 and rows[1] > 8 << 20


# --- what the image holds ---------------------------------------------------------------------

# gnu/system/image.scm: qcow2 since 2023-10 is the ESP (40 MiB from 1 MiB) then the root
OFFSET = (1 << 20) + (40 << 20)


def _debugfs(raw: Path, cmd: str) -> str:
    return subprocess.run(["debugfs", "-R", cmd, f"{raw}?offset={OFFSET}"], capture_output=True,
                          text=True, check=True).stdout


def _dump(raw: Path, path: str, d: Path) -> Path:
    out = d / Path(path).name
    subprocess.run(["debugfs", "-R", f"dump {path} {out}", f"{raw}?offset={OFFSET}"],
                   capture_output=True, check=True)
    return out


def _names(raw: Path, path: str) -> set[str]:
    """Entries of a directory of the root file system (without . and ..)."""
    out = _debugfs(raw, f"ls -p {path}")
    return {line.split("/")[5] for line in out.splitlines() if line.count("/") >= 6} - {".", ".."}


def _readlink(raw: Path, path: str) -> str:
    out = _debugfs(raw, f"stat {path}")
    assert "Type: symlink" in out, out
    m = re.search(r'Fast link dest: "([^"]*)"', out)
    return m.group(1) if m else _debugfs(raw, f"cat {path}")


@pytest.fixture(scope="module")
def raw(built, tmp_path_factory):
    _, _, image, _, _ = built
    out = tmp_path_factory.mktemp("raw") / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(out)], check=True)
    return out


def test_image_is_an_mbr_disk_with_grub_an_esp_and_the_root_as_partition_2(raw):
    table = json.loads(subprocess.run(["sfdisk", "--json", str(raw)], capture_output=True,
                                      text=True, check=True).stdout)["partitiontable"]
    assert table["label"] == "dos"
    esp, root = table["partitions"]
    assert esp["start"] * 512 == 1 << 20 and esp["size"] * 512 == 40 << 20
    assert esp["type"] == "ef" and not esp.get("bootable")
    assert root["start"] * 512 == OFFSET and root["bootable"] and root["type"] == "83"
    assert b"GRUB" in raw.read_bytes()[:512]
    assert re.search(r"volume name:\s+Guix_image$", _debugfs(raw, "stats"), re.M)
    with open(raw, "rb") as f:
        f.seek(1 << 20)
        assert b"GNU-ESP" in f.read(512)


def test_partition_layout_follows_the_revision(tmp_path):
    """From d57cab76412 (2023-08-25) to dfaeaae9c7e (2023-10-01) the qcow2 held the root
    alone (gnu/system/image.scm); the 2023-06 pin (2023-07-01) is before that window."""
    from guix_standin import history

    by_label = {r.label: r for r in history.REVISIONS}
    assert by_label["2023-06"].partition_layout("image", "qcow2") == ("esp", "root")
    window = dataclasses.replace(by_label["2023-06"], date=history._d("2023-09-01"))
    assert window.partition_layout("image", "qcow2") == ("root",)
    assert dataclasses.replace(window, date=history._d("2023-08-24")).partition_layout(
        "image", "qcow2") == ("esp", "root")
    assert by_label["2023-10"].partition_layout("image", "qcow2") == ("esp", "root")
    assert by_label["v1.3.0"].partition_layout("image", "qcow2") == ("esp", "root")
    assert by_label["2023-06"].partition_layout("image", "efi-raw") == ("esp", "root")
    # gnu/system/vm.scm@a099685659b4:414-442: the root, then the ESP
    assert by_label["v1.2.0"].partition_layout("vm-image", "qcow2") == ("root", "esp")


def test_image_has_a_guix_system_layout(raw, tmp_path):
    assert _readlink(raw, "/var/guix/profiles/system") == "system-1-link"
    system = _readlink(raw, "/var/guix/profiles/system-1-link")
    assert re.fullmatch(rf"/gnu/store/[{NIX32}]{{32}}-system", system)
    entries = _debugfs(raw, f"ls {system}")
    for name in ("boot", "etc", "initrd", "kernel", "parameters", "profile", "provenance",
                 "channels.scm", "configuration.scm"):
        assert name in entries
    prov = _dump(raw, _readlink(raw, f"{system}/provenance"), tmp_path).read_text()
    assert f'(commit "{C_2024_05}")' in prov and "(configuration-file \"/gnu/store/" in prov
    conf = _dump(raw, _readlink(raw, f"{system}/configuration.scm"), tmp_path).read_text()
    assert conf == CONFIG.format(host="web")
    profile = _readlink(raw, f"{system}/profile")
    manifest = _dump(raw, f"{profile}/manifest", tmp_path).read_text()
    assert "(version 4)" in manifest
    assert re.search(r'\("nginx"\s+"1\.23\.3"\s+"out"\s+"/gnu/store/[0-9a-z]{32}-nginx-1\.23\.3"',
                     manifest)
    assert '("htop"' in manifest and '("coreutils"' in manifest
    # gnu/build/install.scm: /etc is empty at rest; activation fills it at boot
    assert _names(raw, "/etc") == set()
    assert {"bin", "etc", "gnu", "home", "mnt", "tmp", "var", "boot"} <= _names(raw, "/")
    assert "root" not in _names(raw, "/") and _names(raw, "/home") == set()
    assert _names(raw, "/bin") == set()
    assert _readlink(raw, "/var/guix/gcroots/booted-system") == "/run/booted-system"
    etc = _readlink(raw, f"{system}/etc")
    keys = _dump(raw, f"{etc}/ssh/authorized_keys.d/root", tmp_path).read_text()
    assert keys == KEY + "\n"             # the data activation copies at boot


def test_store_database_lists_every_store_item(raw, tmp_path):
    db = sqlite3.connect(_dump(raw, "/var/guix/db/db.sqlite", tmp_path))
    paths = {p: (size, h) for p, size, h in
             db.execute("SELECT path, narSize, hash FROM ValidPaths")}
    listing = {f"/gnu/store/{name}" for name in _debugfs(raw, "ls -p /gnu/store").split("/")
               if re.fullmatch(rf"[{NIX32}]{{32}}-.+", name)}
    assert set(paths) == listing
    assert all(size > 0 and h.startswith("sha256:") for size, h in paths.values())
    refs = db.execute("SELECT count(*) FROM Refs").fetchone()[0]
    assert refs > len(paths)
    # a package's references include glibc, as a real C program's do
    nginx = db.execute("SELECT id FROM ValidPaths WHERE path LIKE '%-nginx-1.23.3'").fetchone()[0]
    deps = [p for (p,) in db.execute("SELECT v.path FROM Refs r JOIN ValidPaths v "
                                     "ON v.id = r.reference WHERE r.referrer = ?", (nginx,))]
    assert any(p.endswith("-glibc-2.35") for p in deps)
    assert any(p.endswith("-openssl-3.0.8") for p in deps)


# --- guix build DRV, guix build --check DRV -------------------------------------------------


def drv_of(d: Path, store: Path) -> Path:
    r = build(d, store, "-d")
    assert r.returncode == 0, r.stderr
    return store_line(r.stdout, store, "image.qcow2.drv")


def guix_build(store: Path, *args, env=None):
    return guix("build", *args, env={"VMFLEET_STANDIN_STORE": str(store), **(env or {})})


def test_a_build_leaves_its_derivation_in_the_store(built):
    d, store, image, r, _ = built
    [name] = re.findall(r"^building /gnu/store/(\S+-image\.qcow2\.drv)\.\.\.$", r.stderr, re.M)
    drv = store / name
    assert drv.is_file() and drv_of(d, store) == drv
    doc = json.loads(drv.read_text())
    assert doc["guix"] == C_2024_05 and doc["output"] == image.name
    assert doc["configuration"] == {"file": str(d / "config.scm"),
                                    "text": CONFIG.format(host="web")}
    [key] = doc["local-files"]
    assert key["file"] == str(d / "id.pub") and key["written"] == "id.pub"
    assert doc["image"] == {"action": "image", "type": "qcow2", "size": None,
                            "save-provenance": True}


def test_derivation_builds_after_the_config_is_gone(built, tmp_path):
    _, _, image, _, _ = built
    d = tmp_path / "web"
    write_system(d)
    store = tmp_path / "store"
    drv = drv_of(d, store)
    assert not list(store.glob("*-image.qcow2"))
    shutil.rmtree(d)
    r = guix_build(store, drv)
    assert r.returncode == 0, r.stderr
    out = store_line(r.stdout, store)
    assert out.name == image.name and sha256(out) == sha256(image)
    assert f"building /gnu/store/{drv.name}..." in r.stderr.splitlines()
    r = guix_build(store, drv, env={"VMFLEET_STANDIN_DRIFT": "zlib"})   # the .drv is fixed
    assert r.returncode == 0 and store_line(r.stdout, store) == out
    assert "building" not in r.stderr


def test_build_check_rebuilds_and_reports_a_nondeterministic_output(built):
    d, store, image, _, _ = built
    drv = drv_of(d, store)
    digest = sha256(image)
    r = guix("time-machine", "-C", d / "channels.scm", "--", "build", "--check", drv,
             env={"VMFLEET_STANDIN_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    assert store_line(r.stdout, store) == image
    assert f"building /gnu/store/{drv.name}..." in r.stderr.splitlines()
    r = guix_build(store, "--check", drv, env={"VMFLEET_STANDIN_NONDETERMINISTIC": "1"})
    assert _error(r) == (f"guix build: error: derivation `{drv}' may not be deterministic: "
                         f"output `{image}' differs")
    assert sha256(image) == digest              # the store keeps the output it had
    assert not Path(f"{image}-check").exists()
    # --keep-failed keeps the second result as OUT-check (nix/libstore/build.cc keepFailed)
    r = guix_build(store, "--check", "--keep-failed", drv,
                   env={"VMFLEET_STANDIN_NONDETERMINISTIC": "1"})
    assert _error(r) == (f"guix build: error: derivation `{drv}' may not be deterministic: "
                         f"output `{image}' differs from `{image}-check'")
    assert sha256(image) == digest and sha256(Path(f"{image}-check")) != digest


def _references(store: Path, drv: Path, flag: str = "--references") -> list[Path]:
    r = guix("gc", flag, drv, env={"VMFLEET_STANDIN_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    return [Path(x) for x in r.stdout.split()]


def _partition_drvs(store: Path, image_drv: Path) -> tuple[Path, Path]:
    """(ESP, root) partition derivations of an image derivation: inputs of its
    genimage.cfg derivation, by their .drv contents."""
    [cfg_drv] = _references(store, image_drv)
    drvs = _references(store, cfg_drv)
    assert all(d.name.endswith("-partition.img.drv") and d.parent == store for d in drvs)
    roles = {json.loads(d.read_text())["role"]: d for d in drvs}
    assert set(roles) == {"esp", "partition"}
    return roles["esp"], roles["partition"]


def test_partition_derivations_are_inputs_of_genimage_cfg_not_of_the_image(built):
    """gnu/system/image.scm: each partition is a computed-file "partition.img", inputs of
    the computed-file "genimage.cfg", the one derivation input of the image's: so
    `guix gc --references IMAGE.drv` does not list the partitions, -R does
    (guix/scripts/gc.scm, gnu/system/image.scm)."""
    d, store, image, _, _ = built
    drv = drv_of(d, store)
    refs = _references(store, drv)
    assert [p.name.split("-", 1)[1] for p in refs] == ["genimage.cfg.drv"]
    esp_drv, root_drv = _partition_drvs(store, drv)
    assert not {esp_drv, root_drv} & set(refs)
    assert sorted(_references(store, drv, "-R")) == sorted([drv, refs[0], esp_drv, root_drv])
    assert sorted(_references(store, drv, "--requisites")) == \
        sorted([drv, refs[0], esp_drv, root_drv])
    r = guix_build(store, refs[0])                  # built with the image
    assert r.returncode == 0 and "building" not in r.stderr
    cfg = store_line(r.stdout, store, "genimage.cfg")
    images = re.findall(r'image = "/gnu/store/(\S+-partition\.img)"', cfg.read_text())
    parts = [json.loads(p.read_text())["output"] for p in (esp_drv, root_drv)]
    assert images == parts                          # ESP first, then the root
    r = guix_build(store, "--check", refs[0])       # a text file: deterministic
    assert r.returncode == 0, r.stderr
    assert store_line(r.stdout, store, "genimage.cfg") == cfg


def test_image_derivation_refers_to_its_partition_derivations(built):
    """gnu/system/image.scm: each file system is a separate "partition.img" derivation (the
    ESP and the root); the image derivation assembles them (through genimage.cfg)."""
    d, store, image, _, _ = built
    drv = drv_of(d, store)
    esp_drv, root_drv = _partition_drvs(store, drv)
    r = guix_build(store, root_drv)
    assert r.returncode == 0 and "building" not in r.stderr       # built with the image
    part = store_line(r.stdout, store, "partition.img")
    assert subprocess.run(["debugfs", "-R", "ls -p /var/guix/db", str(part)],
                          capture_output=True, text=True).stdout.count("db.sqlite") == 1
    esp = store_line(guix_build(store, esp_drv).stdout, store, "partition.img")
    assert esp.stat().st_size == 40 << 20
    listing = subprocess.run(["mdir", "-i", str(esp), "-/", "::/"], capture_output=True,
                             text=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout
    assert "BOOTX64" in listing


def test_genimage_cfg_derivation_builds_its_partitions_first(tmp_path):
    """Its inputs are built normally first (nix/libstore/build.cc), as for `guix build`."""
    write_system(tmp_path)
    store = tmp_path / "store"
    [cfg_drv] = _references(store, drv_of(tmp_path, store))
    r = guix_build(store, cfg_drv)
    assert r.returncode == 0, r.stderr
    assert len(re.findall(r"^building /gnu/store/\S+-partition\.img\.drv\.\.\.$", r.stderr,
                          re.M)) == 2
    store_line(r.stdout, store, "genimage.cfg")
    assert len(list(store.glob("*-partition.img"))) == 2 and not list(store.glob("*.qcow2"))


@pytest.mark.parametrize("knob, differs", [("partition", "partition"), ("image", "image"),
                                           ("1", "both")])
def test_check_catches_nondeterminism_only_where_it_is(built, tmp_path, knob, differs):
    d, _, _, _, _ = built
    store = tmp_path / "store"
    assert build(d, store).returncode == 0
    image_drv = drv_of(d, store)
    esp_drv, part_drv = _partition_drvs(store, image_drv)
    env = {"VMFLEET_STANDIN_NONDETERMINISTIC": knob}
    r_part = guix_build(store, "--check", part_drv, env=env)
    r_image = guix_build(store, "--check", image_drv, env=env)
    assert guix_build(store, "--check", esp_drv, env=env).returncode == 0
    assert (r_part.returncode == 1) == (differs in ("partition", "both")), r_part.stderr
    assert (r_image.returncode == 1) == (differs in ("image", "both")), r_image.stderr
    if r_part.returncode:
        assert _error(r_part).startswith(f"guix build: error: derivation `{part_drv}' may not be "
                                         "deterministic: output `")
        assert _error(r_part).endswith("-partition.img' differs")


def test_build_check_needs_a_built_output(tmp_path):
    write_system(tmp_path)
    store = tmp_path / "store"
    drv = drv_of(tmp_path, store)
    r = guix_build(store, "--check", drv)
    # nix/libstore/build.cc, since 82b06436 (2022-05-29)
    assert _error(r) == (f"guix build: error: `{drv}' is missing outputs; build it normally "
                         "before using `--check'")
    assert "building" not in r.stderr and not list(store.glob("*-image.qcow2"))


def test_build_of_a_missing_derivation(tmp_path):
    store = tmp_path / "store"
    drv = store / f"{'0' * 32}-image.qcow2.drv"
    r = guix_build(store, "--check", drv)
    assert _error(r) == f"guix build: error: build of `{drv}' failed"
    assert f"cannot build missing derivation `{drv}'" in r.stderr.splitlines()
    r = guix_build(store, tmp_path / "elsewhere.drv")
    assert _error(r) == f"guix build: error: path `{tmp_path / 'elsewhere.drv'}' is not in the store"


def test_concurrent_builds_of_the_same_inputs_build_once(tmp_path):
    write_system(tmp_path)
    store = tmp_path / "store"
    argv = [str(GUIX), "time-machine", "-C", str(tmp_path / "channels.scm"), "--", "system",
            "image", "-t", "qcow2", str(tmp_path / "config.scm")]
    env = {**os.environ, "VMFLEET_STANDIN_STORE": str(store), "VMFLEET_STANDIN_SLOW": "1"}
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list(store.glob(".locks/*")):
            time.sleep(0.05)
        second = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        out1, err1 = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0 and second.returncode == 0, (err1, second.stderr)
    assert out1 == second.stdout
    assert "waiting for lock on" in second.stderr
    assert "building" not in second.stderr and "building" in err1


def test_a_key_written_as_a_string_fails_the_build(tmp_path):
    """gnu/services/ssh.scm@a0178d34f582:405-426 (authorized-key-directory): each key is read
    with call-with-input-file while building openssh-authorized-keys."""
    text = CONFIG.format(host="web").replace('`(("root" ,(local-file "id.pub")))',
                                             f'`(("root" "{KEY}"))')
    write_system(tmp_path, text=text)
    r = build(tmp_path, tmp_path / "store")
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert any(re.fullmatch(r"build of /gnu/store/\S+-openssh-authorized-keys\.drv failed", x)
               for x in lines), r.stderr
    [log_line] = [x for x in lines if x.startswith("View build log at '")]
    log = Path(re.fullmatch(r"View build log at '(.+)'\.", log_line).group(1))
    assert "In procedure open-file: No such file or directory" in gzip.open(log, "rt").read()
    assert not list((tmp_path / "store").glob("*-image.qcow2"))


def test_vm_image_lays_out_the_root_first_found_by_uuid_then_the_esp(tmp_path):
    """gnu/system/vm.scm@a099685659b4:414-442 (and 6298c3ffd965:415-447): the root partition
    first, with a UUID and no label (system-qemu-image passes only #:file-system-uuid, the
    root is (device root-uuid)), then a 40 MiB ESP labelled GNU-ESP; gnu/build/vm.scm:
    an msdos table."""
    write_system(tmp_path, commit=C_2020_11)
    store = tmp_path / "store"
    r = guix("time-machine", "-C", tmp_path / "channels.scm", "--", "system", "vm-image",
             tmp_path / "config.scm", env={"VMFLEET_STANDIN_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw",
                    str(store_line(r.stdout, store, "qemu-image")), str(raw)], check=True)
    table = json.loads(subprocess.run(["sfdisk", "-J", str(raw)], capture_output=True,
                                      text=True, check=True).stdout)["partitiontable"]
    assert table["label"] == "dos"
    root, esp = table["partitions"]
    assert root["type"] == "83" and root.get("bootable") and esp["type"] == "ef"
    assert esp["size"] * 512 == 40 << 20 and esp["start"] > root["start"]
    part = tmp_path / "root.img"
    subprocess.run(["dd", f"if={raw}", f"of={part}", "bs=512", f"skip={root['start']}",
                    f"count={root['size']}", "status=none"], check=True)
    head = subprocess.run(["dumpe2fs", "-h", str(part)], capture_output=True, text=True,
                          check=True).stdout
    assert re.search(r"Filesystem volume name:\s+<none>", head)
    fs_uuid = re.search(r"Filesystem UUID:\s+(\S+)", head).group(1)
    grub = subprocess.run(["debugfs", "-R", "cat /boot/grub/grub.cfg", str(part)],
                          capture_output=True, text=True, check=True).stdout
    assert f"--root={fs_uuid}" in grub and "Guix_image" not in grub
    espimg = tmp_path / "esp.img"
    subprocess.run(["dd", f"if={raw}", f"of={espimg}", "bs=512", f"skip={esp['start']}",
                    f"count={esp['size']}", "status=none"], check=True)
    label = subprocess.run(["fatlabel", str(espimg)], capture_output=True, text=True).stdout
    assert label.strip() == "GNU-ESP"
