"""The guix command line: the argv vmfleet runs and how it reads guix's output.

Everything here follows ../shared/guix-facts.md: on success stdout holds exactly one line, the
image's store file name; errors are ``PROGRAM: error: MESSAGE`` or ``FILE:LINE:COL: error: …``
lines on stderr with ``hint: …`` lines, exit status 1.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from enum import StrEnum

from vmfleet import settings, units

DEFAULT_GUIX = "guix"


def guix_program() -> list[str]:
    """The guix command: $VMFLEET_GUIX (may hold arguments) or ``guix`` from PATH."""
    configured = settings.get(settings.GUIX)
    return shlex.split(configured) if configured else [DEFAULT_GUIX]


def image_command(channels: str, config: str | None, *, image_size: str | None = None,
                  vm_image: bool = False, derivation: bool = False,
                  guix: list[str] | None = None, load_path: tuple[str, ...] = (),
                  expression: str | None = None) -> list[str]:
    """``guix time-machine -C CHANNELS -- system image -t qcow2 [--image-size=…] --save-provenance CONFIG``.

    Revisions before Guix 1.3.0 have no ``system image``: for them (``vm_image``) the same build
    is ``system vm-image``, which makes a qcow2 and has no ``-t``. ``derivation`` adds ``-d``:
    print the image's .drv file name and build nothing (see ``check_command``).

    ``load_path`` becomes ``-L DIR`` options of the inner ``guix system`` (a standard build
    option of guix/scripts/build.scm that ``system`` accepts; ``time-machine`` passes
    everything after ``--`` to it). ``expression`` replaces the config file with
    ``-e EXPR`` (guix/scripts/system.scm: a file and an expression cannot both be given),
    for a module that only defines its operating-system.
    """
    argv = [*(guix or guix_program()), "time-machine", "-C", as_operand(channels), "--", "system"]
    argv += ["vm-image"] if vm_image else ["image", "-t", "qcow2"]
    if image_size:
        argv.append(f"--image-size={image_size}")
    if derivation:
        argv.append("-d")
    argv.append("--save-provenance")
    for d in load_path:
        argv += ["-L", d]
    if expression:
        argv += ["-e", expression]
    else:
        argv.append(as_operand(config))
    return argv


def as_operand(path: str) -> str:
    """A file name guix cannot take for an option: a config named '--expression=…' is a file.

    (Guix parses options with SRFI-37's args-fold, which reads anything starting with '-' as an
    option wherever it stands; './' makes it a plain relative file name.)
    """
    return "./" + path if path.startswith("-") else path


def check_command(channels: str, drv: str, *, guix: list[str] | None = None) -> list[str]:
    """``guix time-machine -C CHANNELS -- build --check DRV``: rebuild a derivation whose output
    the store already has and fail ("may not be deterministic") when the bytes differ.

    ``--check`` belongs to ``guix build``, not to ``guix system`` (guix/scripts/build.scm), so a
    reproducibility check of an image goes through its derivation (``image_command(…,
    derivation=True)``).
    """
    return [*(guix or guix_program()), "time-machine", "-C", channels, "--", "build", "--check", drv]


def check_image_size(size: str | None) -> str | None:
    """``--image-size`` as Guix's ``size->number`` reads it (vmfleet.units); given as written."""
    if size is not None:
        units.parse_size(size, option="--image-size")
    return size


class Failure(StrEnum):
    NO_IMAGE_ACTION = "no-image-action"    # a revision before 1.3.0: use 'system vm-image'
    TOO_OLD = "too-old"                    # time-machine cannot travel that far back
    NOT_DETERMINISTIC = "not-deterministic"  # --check built other bytes
    GIT_ERROR = "git-error"                # unknown commit or URL
    BUILD_FAILED = "build-failed"          # a derivation failed to build
    CONFIG_ERROR = "config-error"          # an error with a source location
    OTHER = "other"


@dataclass(frozen=True)
class GuixError:
    kind: Failure
    message: str                 # the first error line, as guix printed it
    hints: tuple[str, ...]
    log_file: str | None         # "View build log at '…'."
    failed_drv: str | None


_ERROR = re.compile(r"^(?:guix(?: [\w-]+)?|[^\s:]+:\d+:\d+): error: (.*)$")
_HINT = re.compile(r"^hint: (.*)$")
_BUILD_FAILED = re.compile(r"build of (/\S+\.drv) failed")
_LOG = re.compile(r"View build log at '([^']+)'")


def parse_error(stderr: str) -> GuixError:
    errors, hints, drv, log_file = [], [], None, None
    for line in stderr.splitlines():
        line = line.rstrip()
        if m := _ERROR.match(line):
            errors.append(line)
        elif m := _HINT.match(line):
            hints.append(m.group(1))
        elif m := _BUILD_FAILED.search(line):
            drv = drv or m.group(1)
        if m := _LOG.search(line):
            log_file = m.group(1)
    message = errors[0] if errors else _last_line(stderr)
    if re.search(r"error: image: unknown action", message):
        kind = Failure.NO_IMAGE_ACTION
    elif "may not be deterministic" in stderr:
        kind = Failure.NOT_DETERMINISTIC
    elif "cannot travel past" in message:
        kind = Failure.TOO_OLD
    elif "Git error" in message:
        kind = Failure.GIT_ERROR
    elif drv:
        kind = Failure.BUILD_FAILED
    elif errors and re.match(r"^[^\s:]+:\d+:\d+: error:", errors[0]):
        kind = Failure.CONFIG_ERROR
    else:
        kind = Failure.OTHER
    return GuixError(kind, message, tuple(hints), log_file, drv)


def parse_store_path(stdout: str) -> str | None:
    """The file name guix printed, or None when stdout is not exactly one absolute path.

    (Normally under /gnu/store, but a store can live elsewhere, e.g. with --store= builds.)
    """
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if len(lines) == 1 and lines[0].startswith("/"):
        return lines[0]
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
