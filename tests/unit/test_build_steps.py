"""The guix invocations of a build and of a check, and the deadline they share."""

import types

from vmfleet.build import builds as build
from vmfleet.build.runner import Outcome
from vmfleet.guix.image_types import ImagePlan
from vmfleet.registry.generations import Layout

QCOW2 = ImagePlan("qcow2", True)

LAYOUT = Layout(None, ".", "web.scm", "channels.scm", (), None)


class FakeClock:
    """time.monotonic for the module under test; only the scripted builder moves it."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


class ScriptedBuilder:
    """Answers each guix call from a script, taking ``seconds`` of ``clock`` per call."""

    guix = ["guix"]

    def __init__(self, seconds=0.0, clock=None):
        self.calls, self.seconds, self.clock = [], seconds, clock

    def execute(self, argv, cwd, on_line, timeout):
        self.calls.append((argv, timeout))
        if self.clock:
            self.clock.now += self.seconds
        if "-d" in argv:
            return Outcome(0, "/gnu/store/x-image.qcow2.drv\n", "", False)
        if "--references" in argv:
            return Outcome(0, "", "", False)
        return Outcome(0, "/gnu/store/y-image.qcow2\n", "", False)


def test_a_check_runs_the_image_its_derivation_and_build_check():
    b = ScriptedBuilder()
    ran = build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, None,
                          QCOW2)
    steps = [call[0][call[0].index("--") + 1:] if "--" in call[0] else call[0][1:]
             for call in b.calls]
    assert steps == [["system", "image", "-t", "qcow2", "--save-provenance", "web.scm"],
                     ["system", "image", "-t", "qcow2", "-d", "--save-provenance", "web.scm"],
                     ["gc", "--references", "/gnu/store/x-image.qcow2.drv"],
                     ["build", "--check", "--keep-failed", "/gnu/store/x-image.qcow2.drv"]]
    assert ran.argv == b.calls[-1][0] and ran.outcome.returncode == 0


def test_no_step_starts_after_the_deadline(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(build, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    b = ScriptedBuilder(seconds=0.3, clock=clock)
    ran = build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, 0.2,
                          QCOW2)
    assert len(b.calls) == 1 and ran.outcome.timed_out  # -d and build --check never ran
    assert round(b.calls[0][1], 6) == 0.2  # the first step got all of the time


def test_each_step_gets_what_is_left_of_the_time(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(build, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    b = ScriptedBuilder(seconds=1.0, clock=clock)
    build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, 10.0, QCOW2)
    # image, -d, gc --references, build --check
    assert [round(call[1], 6) for call in b.calls] == [10.0, 9.0, 8.0, 7.0]


class GuixScript:
    """A builder whose guix answers from a dict: a predicate on the argv -> Outcome."""

    guix = ["guix"]

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def execute(self, argv, cwd, on_line, timeout):
        self.calls.append(list(argv))
        for match, outcome in self.answers:
            if match(argv):
                return outcome() if callable(outcome) else outcome
        return Outcome(0, "/gnu/store/y-image.qcow2\n", "", False)

    def steps(self):
        return [c[c.index("--") + 1:] if "--" in c else c[1:] for c in self.calls]


IMAGE_DRV = "/gnu/store/aaaa-image.qcow2.drv"
GENIMAGE = "/gnu/store/bbbb-genimage.cfg.drv"
ESP = "/gnu/store/cccc-partition.img.drv"
ROOT = "/gnu/store/dddd-partition.img.drv"


def _refs(argv):
    return "--references" in argv


def image_drv_answers(extra=()):
    """Guix's layout (gnu/system/image.scm): image <- genimage.cfg <- partition.img (two)."""
    return [*extra,
            (lambda a: "-d" in a, Outcome(0, IMAGE_DRV + "\n", "", False)),
            (lambda a: _refs(a) and a[-1] == IMAGE_DRV,
             Outcome(0, f"{GENIMAGE}\n/gnu/store/eeee-qemu-minimal-8.1.drv\n", "", False)),
            (lambda a: _refs(a) and a[-1] == GENIMAGE, Outcome(0, f"{ESP}\n{ROOT}\n", "", False))]


def test_an_old_unknown_pin_falls_back_on_unrecognized_save_provenance():
    refused = Outcome(1, "", "guix system: error: save-provenance: unrecognized option\n", False)
    b = GuixScript([(lambda a: "--save-provenance" in a, refused)])
    ran = build._run_guix(b, LAYOUT, {}, False, "/w", lambda _: None, None,
                          ImagePlan("qcow2", None))
    assert b.steps() == [["system", "image", "-t", "qcow2", "--save-provenance", "web.scm"],
                         ["system", "image", "-t", "qcow2", "web.scm"]]
    assert ran.outcome.returncode == 0 and ran.provenance is False


def test_a_known_old_pin_never_passes_save_provenance():
    b = GuixScript([])
    ran = build._run_guix(b, LAYOUT, {}, False, "/w", lambda _: None, None,
                          ImagePlan("vm-image", False))
    assert b.steps() == [["system", "vm-image", "web.scm"]]
    assert ran.image_type == "vm-image" and ran.provenance is False


def test_a_check_rebuilds_every_partition_derivation_then_the_image():
    b = GuixScript(image_drv_answers())
    ran = build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, None, QCOW2)
    checks = [s[-1] for s in b.steps() if s[:2] == ["build", "--check"]]
    assert checks == [ESP, ROOT, IMAGE_DRV]
    assert ran.checked == (ESP, ROOT, IMAGE_DRV) and ran.outcome.returncode == 0


def test_a_partition_that_differs_is_named_and_stops_the_check():
    nondet = Outcome(1, "", f"guix build: error: derivation `{ROOT}' may not be deterministic: "
                            "output `/gnu/store/ffff-partition.img' differs\n", False)
    b = GuixScript(image_drv_answers([(lambda a: "--check" in a and a[-1] == ROOT, nondet)]))
    ran = build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, None, QCOW2)
    assert ran.checked == (ESP,)
    assert "--check" in ran.argv and ran.argv[-1] == ROOT
    error = build._failure(_gen(), ran.outcome, __import__("pathlib").Path("/tmp/log"))
    assert error.kind is build.guix.Failure.NOT_DETERMINISTIC and error.drv == ROOT
    assert ROOT in error.hint


def test_a_kept_second_result_is_named_with_the_output():
    # nix/libstore/build.cc (keepFailed): "output `OUT' differs from `OUT-check'"
    out = "/gnu/store/ffff-partition.img"
    nondet = Outcome(1, "", f"guix build: error: derivation `{ROOT}' may not be deterministic: "
                            f"output `{out}' differs from `{out}-check'\n", False)
    b = GuixScript(image_drv_answers([(lambda a: "--check" in a and a[-1] == ROOT, nondet)]))
    ran = build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, None, QCOW2)
    error = build._failure(_gen(), ran.outcome, __import__("pathlib").Path("/tmp/log"))
    assert (error.drv, error.output, error.kept) == (ROOT, out, out + "-check")


def test_check_of_a_never_built_derivation_builds_it_first():
    missing = Outcome(1, "", f"guix build: error: `{ESP}' is missing outputs; build it normally "
                             "before using `--check'\n", False)
    answers = iter([missing])
    b = GuixScript(image_drv_answers([
        (lambda a: "--check" in a and a[-1] == ESP,
         lambda: next(answers, Outcome(0, "/gnu/store/x-partition.img\n", "", False)))]))
    ran = build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, None, QCOW2)
    esp_steps = [s for s in b.steps() if s[-1] == ESP and s[0] == "build"]
    assert esp_steps == [["build", "--check", "--keep-failed", ESP], ["build", ESP],
                         ["build", "--check", "--keep-failed", ESP]]
    assert ran.checked == (ESP, ROOT, IMAGE_DRV)


def test_partitions_listed_directly_as_inputs_are_found_too():
    refs = Outcome(0, f"{ESP}\n/gnu/store/gggg-guile-3.0.9.drv\n", "", False)
    assert build.byte_making_inputs(refs.stdout, lambda d: None) == [ESP]


def _gen():
    from vmfleet.registry.generations import Generation

    return Generation(1, "web", 1, "2024-01-01T00:00:00Z", "manual", None, "", "web.scm", "", "",
                      (), False, "", {})


def test_the_local_builder_runs_guix_in_the_c_locale(tmp_path, monkeypatch):
    from vmfleet.build.local import LocalBuilder

    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    monkeypatch.setenv("LANGUAGE", "de")
    out = LocalBuilder().execute(["sh", "-c", 'echo "$LC_ALL|$LANGUAGE|$LC_MESSAGES|$LC_CTYPE"'],
                                 tmp_path, lambda _: None, 10)
    assert out.stdout.strip() == "||C|de_DE.UTF-8"


def test_an_efi_refusal_of_a_gpt_image_does_not_suggest_that_image_again():
    """gnu/system/image.scm@6bd17a0806a:531-533: at the 2023-10 pin a GPT image with
    grub-efi-removable-bootloader fails; 'build with --image-type efi-raw' repeated it."""
    refused = Outcome(1, "", "guix system: error: EFI bootloader required with GPT "
                             "partitioning\n", False)
    error = build._failure(_gen(), refused, __import__("pathlib").Path("/tmp/log"), "efi-raw")
    assert error.kind is build.guix.Failure.EFI_NEEDS_GPT
    assert "--image-type efi-raw" not in error.hint and "grub-efi-bootloader" in error.hint
    error = build._failure(_gen(), refused, __import__("pathlib").Path("/tmp/log"), "qcow2")
    assert "--image-type efi-raw" in error.hint
