"""The guix command lines vmfleet runs, and how it reads guix's output (docs/guix-facts.md)."""

from pathlib import Path

import pytest

from vmfleet.errors import UsageError
from vmfleet.guix import command as guix


def test_image_command_is_the_documented_one():
    assert guix.image_command("channels.scm", "web.scm", guix=["guix"]) == [
        "guix", "time-machine", "-C", "channels.scm", "--",
        "system", "image", "-t", "qcow2", "--save-provenance", "web.scm"]


def test_image_size_and_vm_image_for_old_revisions():
    argv = guix.image_command("c.scm", "w.scm", image_size="4G", vm_image=True, guix=["guix"])
    assert argv[5:] == ["system", "vm-image", "--image-size=4G", "--save-provenance", "w.scm"]


def test_configured_guix_command(monkeypatch):
    monkeypatch.setenv("VMFLEET_GUIX", "/opt/guix/bin/guix --no-pager")
    assert guix.image_command("c", "w")[:2] == ["/opt/guix/bin/guix", "--no-pager"]


def test_a_guix_at_the_pin_runs_without_time_machine(monkeypatch):
    """$VMFLEET_GUIX_PINNED (docs/reference.md): a guix that already is the pinned revision
    replaces the whole ``guix time-machine -C CHANNELS --`` prefix, for image, check and build."""
    monkeypatch.setenv("VMFLEET_GUIX_PINNED", "/src/guix/pre-inst-env guix")
    assert guix.image_command("c.scm", "w.scm", derivation=True, load_path=("repo",)) == [
        "/src/guix/pre-inst-env", "guix", "system", "image", "-t", "qcow2", "-d",
        "--save-provenance", "-L", "repo", "w.scm"]
    assert guix.check_command("c.scm", "/gnu/store/x.drv") == [
        "/src/guix/pre-inst-env", "guix", "build", "--check", "--keep-failed", "/gnu/store/x.drv"]
    assert guix.build_command("c.scm", "/gnu/store/x.drv")[2:] == ["build", "/gnu/store/x.drv"]
    # A build host's guix is not this machine's: it still travels to the pin.
    assert guix.image_command("c.scm", "w.scm", guix=["guix"])[:5] == [
        "guix", "time-machine", "-C", "c.scm", "--"]


@pytest.mark.parametrize("size", ["4G", "4096M", "5GB", "500MiB", "1073741824", "1.5G", "100kB"])
def test_valid_image_sizes(size):
    assert guix.check_image_size(size) == size


@pytest.mark.parametrize("size", ["4 G", "-1", "big", "4X", "4Gi", "4KB", "0"])
def test_invalid_image_sizes(size):
    with pytest.raises(UsageError):
        guix.check_image_size(size)


# guix/ui.scm size->number: 'k'/'K'/'KiB' are 2^10, 'kB' is 10^3, and 'KB' or 'Ki' are unknown
# units (vmfleet once refused '4k' and passed '4KB' on to guix, which refused it).
@pytest.mark.parametrize("size", ["4k", "4K", "4KiB", "4kB", "2T", "3MB", "512", ".5G", "1.G",
                                  "1e9"])
def test_image_sizes_guix_accepts(size):
    assert guix.check_image_size(size) == size


@pytest.mark.parametrize("size", ["4KB", "4Ki", "4kiB", "4gb", "G"])
def test_image_sizes_guix_refuses_are_refused_before_it_runs(size):
    with pytest.raises(UsageError, match="invalid size"):
        guix.check_image_size(size)


def test_old_pins_get_no_save_provenance():
    argv = guix.image_command("c.scm", "w.scm", vm_image=True, save_provenance=False,
                              guix=["guix"])
    assert argv[5:] == ["system", "vm-image", "w.scm"]


def test_image_type_is_passed():
    argv = guix.image_command("c.scm", "w.scm", image_type="efi-raw", guix=["guix"])
    assert argv[5:] == ["system", "image", "-t", "efi-raw", "--save-provenance", "w.scm"]


# --- error texts as Guix prints them ------------------------------------------------------------

def test_unknown_package_has_no_location_in_guix():
    err = guix.parse_error("guix system: error: nginxx: unknown package\n")
    assert err.kind is guix.Failure.UNKNOWN_PACKAGE
    assert err.message == "guix system: error: nginxx: unknown package"


def test_a_read_error_has_no_error_prefix():
    err = guix.parse_error("/tmp/vmfleet/web.scm:14:2: missing closing parenthesis\n")
    assert err.kind is guix.Failure.CONFIG_ERROR
    assert err.message == "/tmp/vmfleet/web.scm:14:2: missing closing parenthesis"


def test_unrecognized_option_names_the_option():
    err = guix.parse_error("guix system: error: save-provenance: unrecognized option\n")
    assert err.kind is guix.Failure.UNRECOGNIZED_OPTION and err.option == "save-provenance"


@pytest.mark.parametrize("text", [
    "guix build: error: `/gnu/store/aaa-partition.img.drv' is missing outputs; build it "
    "normally before using `--check'",
    "guix build: error: some outputs of `/gnu/store/aaa-partition.img.drv' are not valid, so "
    "checking is not possible"])
def test_check_of_a_never_built_derivation(text):
    err = guix.parse_error(text + "\n")
    assert err.kind is guix.Failure.MISSING_OUTPUTS
    assert err.drv == "/gnu/store/aaa-partition.img.drv"


def test_not_deterministic_names_the_derivation():
    err = guix.parse_error("guix build: error: derivation `/gnu/store/bbb-partition.img.drv' "
                           "may not be deterministic: output `/gnu/store/ccc-partition.img' "
                           "differs\n")
    assert err.kind is guix.Failure.NOT_DETERMINISTIC
    assert err.drv == "/gnu/store/bbb-partition.img.drv"


def test_efi_with_qcow2_is_recognised():
    err = guix.parse_error("guix system: error: EFI bootloader required with GPT "
                           "partitioning\n")
    assert err.kind is guix.Failure.EFI_NEEDS_GPT


# --- the locale of every guix run ---------------------------------------------------------------

def test_guix_runs_with_english_messages_and_utf8_characters():
    env = guix.guix_environment({"LC_ALL": "de_DE.UTF-8", "LANGUAGE": "de:fr", "LANG": "fr_FR.UTF-8",
                                 "PATH": "/bin"})
    assert "LC_ALL" not in env and "LANGUAGE" not in env
    assert env["LC_MESSAGES"] == "C" and env["LC_CTYPE"] == "de_DE.UTF-8"
    assert env["PATH"] == "/bin" and env["LANG"] == "fr_FR.UTF-8"
    assert guix.guix_environment({"LANG": "C"})["LC_CTYPE"] == "C.UTF-8"


def test_the_remote_prelude_does_the_same_in_sh():
    import subprocess

    out = subprocess.run(
        ["sh", "-c", guix.REMOTE_ENVIRONMENT_SH + 'echo "[$LC_ALL][$LANGUAGE][$LC_MESSAGES][$LC_CTYPE]"'],
        env={"LC_ALL": "de_DE.UTF-8", "LANGUAGE": "de", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[][][C][de_DE.UTF-8]"


def test_store_path_is_the_one_stdout_line():
    assert guix.parse_store_path("/gnu/store/z39g0vfbsdzyzi1x2n6my0qvfpc25ilw-image.qcow2\n") == \
        "/gnu/store/z39g0vfbsdzyzi1x2n6my0qvfpc25ilw-image.qcow2"
    assert guix.parse_store_path("") is None
    assert guix.parse_store_path("/gnu/store/a-image.qcow2\n/gnu/store/b-image.qcow2\n") is None
    assert guix.parse_store_path("building...\n") is None


@pytest.mark.parametrize("stderr,kind,message", [
    ("Updating channel 'guix' from Git repository at 'https://git.savannah.gnu.org/git/guix.git'...\n"
     "guix time-machine: error: cannot travel past commit `4a0b87f0ec5b' from May 1st, 2019\n",
     guix.Failure.TOO_OLD, "guix time-machine: error: cannot travel past commit"),
    ("guix time-machine: error: Git error: object not found - no match for id (0123abcd)\n",
     guix.Failure.GIT_ERROR, "Git error"),
    ("/tmp/b/web.scm:12:20: error: nginxx: unbound variable\n"
     "hint: Did you forget `(use-modules (gnu packages web))'?\n",
     guix.Failure.CONFIG_ERROR, "web.scm:12:20: error: nginxx"),
    ("building /gnu/store/5k3...-nginx-1.25.3.drv...\n"
     "builder for `/gnu/store/5k3-nginx-1.25.3.drv' failed with exit code 1\n"
     "build of /gnu/store/5k3-nginx-1.25.3.drv failed\n"
     "View build log at '/var/log/guix/drvs/5k/3-nginx-1.25.3.drv.gz'.\n"
     "guix system: error: build of `/gnu/store/5k3-nginx-1.25.3.drv' failed\n",
     guix.Failure.BUILD_FAILED, "guix system: error: build of"),
    ("guix system: error: image: unknown action\n", guix.Failure.NO_IMAGE_ACTION, "unknown action"),
    ("Backtrace:\nIn ice-9/boot-9.scm:\nsomething odd\n", guix.Failure.OTHER, "something odd"),
])
def test_errors_are_classified(stderr, kind, message):
    err = guix.parse_error(stderr)
    assert err.kind is kind and message in err.message


def test_build_failure_carries_the_log_location_and_hints():
    err = guix.parse_error("build of /gnu/store/x-foo-1.drv failed\n"
                           "View build log at '/var/log/guix/drvs/x/foo.drv.gz'.\n"
                           "guix system: error: build of `/gnu/store/x-foo-1.drv' failed\n"
                           "hint: try again\n")
    assert err.log_file == "/var/log/guix/drvs/x/foo.drv.gz"
    assert err.failed_drv == "/gnu/store/x-foo-1.drv" and err.hints == ("try again",)


def test_check_rebuilds_and_reports_other_bytes():
    # --check is an option of `guix build`, not of `guix system`: a check goes through the .drv
    assert guix.image_command("c.scm", "w.scm", derivation=True, guix=["guix"])[-3:] == [
        "-d", "--save-provenance", "w.scm"]
    assert guix.check_command("c.scm", "/gnu/store/abc-image.qcow2.drv", guix=["guix"]) == [
        "guix", "time-machine", "-C", "c.scm", "--", "build", "--check", "--keep-failed",
        "/gnu/store/abc-image.qcow2.drv"]
    assert all("--check" not in guix.image_command("c", "w", **kw)
               for kw in ({}, {"derivation": True}, {"vm_image": True}))
    err = guix.parse_error(
        "building /gnu/store/abc-image.qcow2.drv...\n"
        "guix system: error: derivation `/gnu/store/abc-image.qcow2.drv' may not be deterministic: "
        "output `/gnu/store/xyz-image.qcow2' differs\n")
    assert err.kind is guix.Failure.NOT_DETERMINISTIC


def test_a_config_named_like_an_option_reaches_guix_as_a_file():
    from vmfleet.guix.command import image_command

    argv = image_command("-C.scm", "--expression=(exit 1).scm", guix=["guix"])
    assert argv[:4] == ["guix", "time-machine", "-C", "./-C.scm"]
    assert argv[-1] == "./--expression=(exit 1).scm"


STDERR = Path(__file__).with_name("guix-stderr")


def test_an_unbound_variable_in_thunked_services_is_the_error_line_not_the_backtrace():
    # Captured from the real guix v1.4.0 (8e2f32cee98, LC_ALL=C) running
    # `guix system image -t qcow2 -d` on the .scm beside it. `services` is thunked there
    # (gnu/system.scm@8e2f32cee98:281), so the unbound variable is raised while the image is
    # lowered: a backtrace, boot-9's frame line, then guix/ui.scm@8e2f32cee98:159's text alone.
    text = (STDERR / "v1.4.0-unbound-in-services.txt").read_text()
    assert text.startswith("Backtrace:\n") and "In procedure raise-exception:\n" in text
    err = guix.parse_error(text)
    assert err.kind is guix.Failure.CONFIG_ERROR
    assert err.message == "error: nginx-service-type: unbound variable"
    assert err.hints == () and err.reason == ()


def test_an_uncaught_exception_of_another_kind_keeps_its_text():
    # Guile's own printer (not guix's "error: …"): its text is the message, the kind as before.
    err = guix.parse_error("Backtrace:\nIn ice-9/boot-9.scm:\n  1685:16  0 (raise-exception _)\n\n"
                           "/gnu/store/x-guix-module/gnu/system.scm:9:3: In procedure car:\n"
                           "Wrong type argument in position 1 (expecting pair): #f\n")
    assert err.kind is guix.Failure.OTHER
    assert err.message == "Wrong type argument in position 1 (expecting pair): #f"
