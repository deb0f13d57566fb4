"""The guix invocations of a build and of a check, and the deadline they share."""

import time

from vmfleet.build import builds as build
from vmfleet.build.runner import Outcome
from vmfleet.registry.generations import Layout

LAYOUT = Layout(None, ".", "web.scm", "channels.scm", (), None)


class ScriptedBuilder:
    """Answers each guix call from a script, taking ``seconds`` per call."""

    guix = ["guix"]

    def __init__(self, seconds=0.0):
        self.calls, self.seconds = [], seconds

    def execute(self, argv, cwd, on_line, timeout):
        self.calls.append((argv, timeout))
        time.sleep(self.seconds)
        if "-d" in argv:
            return Outcome(0, "/gnu/store/x-image.qcow2.drv\n", "", False)
        return Outcome(0, "/gnu/store/y-image.qcow2\n", "", False)


def test_a_check_runs_the_image_its_derivation_and_build_check():
    b = ScriptedBuilder()
    argv, outcome = build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, None)
    steps = [call[0][call[0].index("--") + 1:] for call in b.calls]
    assert steps == [["system", "image", "-t", "qcow2", "--save-provenance", "web.scm"],
                     ["system", "image", "-t", "qcow2", "-d", "--save-provenance", "web.scm"],
                     ["build", "--check", "/gnu/store/x-image.qcow2.drv"]]
    assert argv == b.calls[-1][0] and outcome.returncode == 0


def test_no_step_starts_after_the_deadline():
    b = ScriptedBuilder(seconds=0.3)
    argv, outcome = build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, 0.2)
    assert len(b.calls) == 1 and outcome.timed_out  # -d and build --check never ran
    assert 0 < b.calls[0][1] <= 0.2  # the first step got what was left of the time


def test_a_module_config_is_built_with_its_load_path_and_expression():
    b = ScriptedBuilder()
    lay = Layout(None, ".", None, "vmfleet-pinned-channels.scm", ("modules", "."),
                 "(@ (me systems web) web-os)")
    build._run_guix(b, lay, {}, False, "/w", lambda _: None, None)
    argv = b.calls[0][0]
    assert argv[argv.index("-C") + 1] == "vmfleet-pinned-channels.scm"
    assert argv[argv.index("--") + 1:] == [
        "system", "image", "-t", "qcow2", "--save-provenance", "-L", "modules", "-L", ".",
        "-e", "(@ (me systems web) web-os)"]
