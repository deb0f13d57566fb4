"""Part 3: the error texts vmfleet parses (guix.command.parse_error), as the real Guix prints them
in the C locale (vmfleet runs guix with LC_MESSAGES=C, command.guix_environment), and as the
stand-in prints them for the same config at the same revision."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from vmfleet.guix import command
from vmfleet.guix.command import Failure

pytestmark = pytest.mark.realguix

# A config Guix accepts; each case below breaks it in one way.
GOOD = """(use-modules (gnu))
(use-service-modules networking ssh)
{extra_modules}
(operating-system
  (host-name "probe")
  (timezone "Etc/UTC")
  {bootloader}
  (file-systems (cons (file-system (mount-point "/") (device "/dev/vda2") (type "ext4"))
                      %base-file-systems))
  (packages (cons {package} %base-packages))
  (services (cons* (service dhcp-client-service-type) {service} %base-services)))
"""
BOOTLOADER = '(bootloader (bootloader-configuration (bootloader grub-bootloader) (targets \'("/dev/vda"))))'


def config(extra_modules="", bootloader=BOOTLOADER, package='(specification->package "htop")',
           service="(service openssh-service-type)") -> str:
    return GOOD.format(extra_modules=extra_modules, bootloader=bootloader, package=package, service=service)


@dataclass(frozen=True)
class ErrorCase:
    name: str
    text: str
    kind: Failure
    message: str                 # a pattern the first error line (parse_error.message) matches
    hint: str | None = None      # a pattern the first hint matches
    extra: tuple[str, ...] = ()


CASES = [
    # gnu/packages.scm@8e2f32cee98:496: (leave (G_ "~A: unknown package~%") name)
    ErrorCase("unknown package", config(package='(specification->package "vmfleet-no-such-package")'),
              Failure.UNKNOWN_PACKAGE, r"^guix system: error: vmfleet-no-such-package: unknown package$"),
    # guix/ui.scm@8e2f32cee98:401: (report-error (G_ "failed to load '~a':~%") file)
    ErrorCase("failed to load", config(extra_modules="(use-modules (vmfleet no such module))"),
              Failure.OTHER, r"^guix system: error: failed to load '[^']*probe\.scm':$"),
    # `services` is thunked (gnu/system.scm@8e2f32cee98:281): the variable is looked up while the
    # image is lowered, not while the file loads, so no load-error report (location, "Did you
    # forget …?" hint) but a backtrace ending in guix/ui.scm@8e2f32cee98:159's bare
    # "error: ~a: unbound variable" (tests/unit/guix-stderr/v1.4.0-unbound-in-services.txt).
    ErrorCase("unbound variable", config(service="(service nginx-service-type)"),
              Failure.CONFIG_ERROR, r"^error: nginx-service-type: unbound variable$"),
    # guix/records.scm@8e2f32cee98:253: "missing field initializers ~a"
    ErrorCase("missing field", config(bootloader=""), Failure.CONFIG_ERROR,
              r"^[^\s:]*probe\.scm:\d+:\d+: error: \(operating-system .*\): "
              r"missing field initializers \(bootloader\)$"),
    # guix/scripts.scm@8e2f32cee98:165: (report-error (G_ "~A: unrecognized option~%") name)
    ErrorCase("unknown option", config(), Failure.UNRECOGNIZED_OPTION,
              r"^guix system: error: vmfleet-frob: unrecognized option$", extra=("--vmfleet-frob",)),
]


def _same(text: str, where) -> str:
    return text.replace(str(where), "DIR")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_real_guix_errors_read_as_vmfleet_expects(case, real_guix, standin, channels, tmp_path):
    (tmp_path / "probe.scm").write_text(case.text)
    ran = real_guix.evaluate(channels, "probe.scm", tmp_path, extra=case.extra)
    assert not ran.ok, ran.stdout
    err = command.parse_error(ran.stderr)
    problems = []
    if err.kind is not case.kind:
        problems.append(f"kind {err.kind}, expected {case.kind}")
    if not re.search(case.message, err.message):
        problems.append(f"message {err.message!r} does not match {case.message!r}")
    if case.hint and not (err.hints and re.search(case.hint, err.hints[0])):
        problems.append(f"hints {err.hints!r} do not match {case.hint!r}")
    theirs = standin.evaluate(channels, "probe.scm", tmp_path, extra=case.extra)
    s = command.parse_error(theirs.stderr) if not theirs.ok else None
    if s is None:
        problems.append("the stand-in evaluates it")
    else:
        if s.kind is not err.kind:
            problems.append(f"the stand-in's kind is {s.kind}, the real one {err.kind}")
        if _same(s.message, tmp_path) != _same(err.message, tmp_path):
            problems.append(f"the stand-in says {s.message!r}, the real one {err.message!r}")
        if case.hint and s.hints[:1] != err.hints[:1]:
            problems.append(f"the stand-in hints {s.hints[:1]!r}, the real one {err.hints[:1]!r}")
    assert not problems, "\n".join(problems) + "\n--- real stderr:\n" + ran.stderr[-3000:] + \
        "\n--- stand-in stderr:\n" + theirs.stderr[-1500:]


BANNER = """(define-module (me banner)
  #:use-module (ice-9 textual-ports)
  #:export (%banner))

(define %banner
  (call-with-input-file (string-append (dirname (current-filename)) "/../../files/motd") get-string-all))
"""


@pytest.mark.parametrize("load_path, cwd, ok", [
    (("src",), ".", False),        # named me/banner.scm while the config loads: no file from the root
    ((".",), "src", True),         # guix runs in the -L directory: the relative name is a file
])
def test_current_filename_in_a_module_a_config_file_loads(load_path, cwd, ok, real_guix, standin,
                                                          channels, tmp_path):
    """docs/guix-facts.md L2-L4: while a config file loads, Guile names a module relative to its
    -L directory, so (current-filename) is #f unless guix runs there; the module is left
    half-defined and the config fails where it uses %banner. The stand-in says the same, in the
    same words."""
    (tmp_path / "src" / "me").mkdir(parents=True)
    (tmp_path / "src" / "me" / "banner.scm").write_text(BANNER)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "motd").write_text("hello\n")
    (tmp_path / "probe.scm").write_text(config(extra_modules="(use-modules (me banner))").replace(
        '(host-name "probe")', '(host-name "probe")\n  (issue %banner)'))
    where = (tmp_path / cwd).resolve()
    probe = "probe.scm" if cwd == "." else "../probe.scm"
    real = real_guix.evaluate(channels, probe, where, load_path=load_path)
    theirs = standin.evaluate(channels, probe, where, load_path=load_path)
    assert real.ok is ok, real.stderr[-3000:]
    assert theirs.ok is ok, theirs.stderr[-3000:]
    if not ok:
        r, s = command.parse_error(real.stderr), command.parse_error(theirs.stderr)
        assert (s.kind, _same(s.message, tmp_path), [_same(x, tmp_path) for x in s.reason]) == \
            (r.kind, _same(r.message, tmp_path), [_same(x, tmp_path) for x in r.reason]), \
            "--- real stderr:\n" + real.stderr[-3000:]
