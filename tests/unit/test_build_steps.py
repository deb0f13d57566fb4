"""The guix invocations of a build and of a check, and the deadline they share."""

import types

from vmfleet.build import builds as build
from vmfleet.build.runner import Outcome
from vmfleet.registry.generations import Layout

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
        return Outcome(0, "/gnu/store/y-image.qcow2\n", "", False)


def test_a_check_runs_the_image_its_derivation_and_build_check():
    b = ScriptedBuilder()
    argv, outcome = build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, None)
    steps = [call[0][call[0].index("--") + 1:] for call in b.calls]
    assert steps == [["system", "image", "-t", "qcow2", "--save-provenance", "web.scm"],
                     ["system", "image", "-t", "qcow2", "-d", "--save-provenance", "web.scm"],
                     ["build", "--check", "/gnu/store/x-image.qcow2.drv"]]
    assert argv == b.calls[-1][0] and outcome.returncode == 0


def test_no_step_starts_after_the_deadline(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(build, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    b = ScriptedBuilder(seconds=0.3, clock=clock)
    argv, outcome = build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, 0.2)
    assert len(b.calls) == 1 and outcome.timed_out  # -d and build --check never ran
    assert round(b.calls[0][1], 6) == 0.2  # the first step got all of the time


def test_each_step_gets_what_is_left_of_the_time(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(build, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    b = ScriptedBuilder(seconds=1.0, clock=clock)
    build._run_guix(b, LAYOUT, {}, True, "/w", lambda _: None, 10.0)
    assert [round(call[1], 6) for call in b.calls] == [10.0, 9.0, 8.0]


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
