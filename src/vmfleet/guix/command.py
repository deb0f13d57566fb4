"""The guix command line: the argv vmfleet runs and how it reads guix's output.

Everything here follows Guix's contract (docs/guix-facts.md): on success stdout holds exactly one line, the
image's store file name; errors are ``PROGRAM: error: MESSAGE`` or ``FILE:LINE:COL: error: …``
lines on stderr with ``hint: …`` lines, exit status 1.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from enum import StrEnum

from vmfleet import settings, units
from vmfleet.errors import UsageError

DEFAULT_GUIX = "guix"


def guix_program() -> list[str]:
    """The guix command: $VMFLEET_GUIX (may hold arguments) or ``guix`` from PATH."""
    configured = settings.get(settings.GUIX)
    return shlex.split(configured) if configured else [DEFAULT_GUIX]


def at_pin(channels: str, guix: list[str] | None = None) -> list[str]:
    """The prefix that runs a guix subcommand at the pinned revision: ``GUIX time-machine -C
    CHANNELS --``, or, when $VMFLEET_GUIX_PINNED names a guix that already is that revision
    (e.g. Guix built from source at the pin, where time-machine would have to download one),
    that command as it is. vmfleet cannot tell which revision it is: the setting says so.
    A build host's guix (``guix`` given) always travels: the setting describes this machine.
    """
    pinned = settings.get(settings.GUIX_PINNED) if guix is None else None
    if pinned:
        return shlex.split(pinned)
    return [*(guix or guix_program()), "time-machine", "-C", channels, "--"]


def image_command(channels: str, config: str | None, *, image_size: str | None = None,
                  vm_image: bool = False, derivation: bool = False,
                  guix: list[str] | None = None, load_path: tuple[str, ...] = (),
                  expression: str | None = None, image_type: str = "qcow2",
                  save_provenance: bool = True) -> list[str]:
    """``guix time-machine -C CHANNELS -- system image -t TYPE [--image-size=…] [--save-provenance] CONFIG``.

    Revisions before Guix 1.3.0 have no ``system image``: for them (``vm_image``) the same build
    is ``system vm-image``, which makes a qcow2 and has no ``-t``. ``derivation`` adds ``-d``:
    print the image's .drv file name and build nothing (see ``check_command``).
    ``save_provenance`` is False for revisions before b85836d3067 (2019-12-07), which answer
    ``save-provenance: unrecognized option``.

    ``load_path`` becomes ``-L DIR`` options of the inner ``guix system`` (a standard build
    option of guix/scripts/build.scm that ``system`` accepts; ``time-machine`` passes
    everything after ``--`` to it). ``expression`` replaces the config file with
    ``-e EXPR`` (guix/scripts/system.scm: a file and an expression cannot both be given),
    for a module that only defines its operating-system.
    """
    argv = [*at_pin(as_operand(channels), guix), "system"]
    argv += ["vm-image"] if vm_image else ["image", "-t", image_type]
    if image_size:
        argv.append(f"--image-size={image_size}")
    if derivation:
        argv.append("-d")
    if save_provenance:
        argv.append("--save-provenance")
    for d in load_path:
        argv += ["-L", d]
    if expression:
        argv += ["-e", expression]
    elif config is not None:
        argv.append(as_operand(config))
    else:
        raise ValueError("a guix system command needs a config file or an expression")
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
    derivation=True)``). It rebuilds only DRV itself (nix/libstore/build.cc): an image's
    partitions are separate derivations, each checked on its own (``references_command``).

    ``--keep-failed`` (guix/scripts/build.scm@43770a9d8ac:257) makes the daemon keep a second
    result that differs as ``OUT-check`` and name it: ``output `OUT' differs from
    `OUT-check'`` (nix/libstore/build.cc@60c97924e95:2420-2426), so vmfleet can say which files
    differ (doc/guix.texi, ``--check``: "the differing output is kept in the store").
    """
    return [*at_pin(channels, guix), "build", "--check", "--keep-failed", drv]


def build_command(channels: str, drv: str, *, guix: list[str] | None = None) -> list[str]:
    """``guix time-machine -C CHANNELS -- build DRV``: build (or substitute) a derivation
    normally, as ``--check`` requires of a derivation never built."""
    return [*at_pin(channels, guix), "build", drv]


def references_command(item: str, *, guix: list[str] | None = None) -> list[str]:
    """``guix gc --references ITEM``: a store item's references, one per line on stdout; for a
    ``.drv`` file, the derivations and sources it takes as inputs (guix/scripts/gc.scm
    ``list-references``; the daemon registers a derivation's inputs as its references)."""
    return [*(guix or guix_program()), "gc", "--references", item]


# --- the environment every guix run gets --------------------------------------------------------

_DROPPED_LOCALE = ("LC_ALL", "LANGUAGE")


def guix_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a guix run: messages in English (guix's are translated with
    gettext, and vmfleet matches their text), characters still UTF-8.

    ``LC_ALL`` and ``LANGUAGE`` would override ``LC_MESSAGES`` (gettext gives ``LANGUAGE``
    precedence), so they go; ``LC_CTYPE`` keeps what ``LC_ALL``/``LANG`` gave, so file names
    and store items with non-ASCII characters still decode.
    """
    env = dict(os.environ if environ is None else environ)
    ctype = env.get("LC_CTYPE") or env.get("LC_ALL") or env.get("LANG") or ""
    for name in _DROPPED_LOCALE:
        env.pop(name, None)
    env["LC_MESSAGES"] = "C"
    if "utf-8" not in ctype.lower() and "utf8" not in ctype.lower():
        ctype = "C.UTF-8"
    env["LC_CTYPE"] = ctype
    return env


# The same, in sh, for a command run on a build host (its own environment is unknown here).
REMOTE_ENVIRONMENT_SH = (
    'LC_CTYPE="${LC_CTYPE:-${LC_ALL:-${LANG:-C.UTF-8}}}"; '
    'case "$LC_CTYPE" in *[Uu][Tt][Ff]-8*|*[Uu][Tt][Ff]8*) ;; *) LC_CTYPE=C.UTF-8;; esac; '
    "unset LC_ALL LANGUAGE; export LC_CTYPE LC_MESSAGES=C; "
)


# --- --image-size: Guix's size->number (guix/ui.scm), in vmfleet.units ------------------

def check_image_size(size: str | None, unit_after_dot: bool = True) -> str | None:
    """``--image-size`` as Guix's ``size->number`` reads it (vmfleet.units); given as written.
    ``unit_after_dot`` False: as the pinned guix, older than fa99c4bbc7a, reads it."""
    if size is None:
        return size
    units.parse_size(size, option="--image-size")
    if not unit_after_dot:
        try:
            units.parse_size(size, option="--image-size", unit_after_dot=False)
        except UsageError:
            raise UsageError(f"invalid size {size!r} for --image-size at this pin: its guix reads "
                             "the unit after the last digit (units after a dot came with "
                             "fa99c4bbc7a, 2020-02-23)",
                             "write the size without the dot before its unit (1G, not 1.G)") from None
    return size


class Failure(StrEnum):
    NO_IMAGE_ACTION = "no-image-action"    # a revision before 1.3.0: use 'system vm-image'
    UNRECOGNIZED_OPTION = "unrecognized-option"  # e.g. --save-provenance before 2019-12-07
    TOO_OLD = "too-old"                    # time-machine cannot travel that far back
    NOT_DETERMINISTIC = "not-deterministic"  # --check built other bytes
    MISSING_OUTPUTS = "missing-outputs"    # --check of a derivation never built
    GIT_ERROR = "git-error"                # unknown commit or URL
    BUILD_FAILED = "build-failed"          # a derivation failed to build
    EFI_NEEDS_GPT = "efi-needs-gpt"        # grub-efi* with an MBR image type (qcow2)
    UNKNOWN_PACKAGE = "unknown-package"    # the config names a package the pin does not have
    CONFIG_ERROR = "config-error"          # an error with a source location
    OTHER = "other"


@dataclass(frozen=True)
class GuixError:
    kind: Failure
    message: str                 # the first error line, as guix printed it
    hints: tuple[str, ...]
    log_file: str | None         # "View build log at '…'."
    failed_drv: str | None
    option: str | None = None    # UNRECOGNIZED_OPTION: the option's name ('save-provenance')
    drv: str | None = None       # NOT_DETERMINISTIC / MISSING_OUTPUTS: the derivation named
    output: str | None = None    # NOT_DETERMINISTIC: the output that differs …
    kept: str | None = None      # … and the second result kept beside it (OUT-check)
    # What guix printed after the first error line (its reason: "failed to load 'F':" is
    # followed by "no code for module (a b)"), hint lines left out.
    reason: tuple[str, ...] = ()


# The texts below are guix's own, in the C locale (guix_environment() makes sure of it):
# ui.scm's ``report-error`` writes ``PROGRAM: error: …`` or ``FILE:LINE:COL: error: …``;
# a read error of a config is ``FILE:LINE:COL: MESSAGE`` without ``error:`` (guix/ui.scm);
# ``NAME: unknown package`` has no location (gnu/packages.scm); the daemon's texts come from
# nix/libstore/build.cc and are never translated.
# An exception no handler catches (one raised inside a thunked field such as ``services``,
# gnu/system.scm@8e2f32cee98:281, while the image is lowered) ends a Guile backtrace with
# ``FILE:LINE:COL: In procedure PROC:`` (the frame that raised it, often boot-9's
# raise-exception, not the config) and then the exception as its printer writes it: for an
# unbound variable guix/ui.scm@8e2f32cee98:159 prints ``error: NAME: unbound variable``, with
# neither location nor hint. That line is the error; the frame line is not.
_ERROR = re.compile(r"^(?:guix(?: [\w-]+)?|[^\s:]+:\d+:\d+): error: (.*)$")
_LOCATED = re.compile(r"^([^\s:]+):(\d+):(\d+): (.*)$")
_IN_PROCEDURE = re.compile(r"^[^\s:]+:\d+:\d+: In procedure [^\s:]+:$")
_HINT = re.compile(r"^hint: (.*)$")
_BUILD_FAILED = re.compile(r"build of (/\S+\.drv) failed")
_LOG = re.compile(r"View build log at '([^']+)'")
_UNRECOGNIZED = re.compile(r"error: ([\w-]+): unrecognized option")
_UNKNOWN_PACKAGE = re.compile(r"error: (\S+): unknown package")
_NOT_DETERMINISTIC = re.compile(r"derivation [`'](/\S+\.drv)' may not be deterministic")
_KEPT = re.compile(r"may not be deterministic: output [`'](/\S+)' differs from [`'](/\S+-check)'")
_MISSING_OUTPUTS = re.compile(r"[`'](/\S+\.drv)' is missing outputs|"
                              r"some outputs of [`'](/\S+\.drv)' are not valid, so checking")


REASON_LINES = 12


def parse_error(stderr: str) -> GuixError:
    errors: list[str] = []
    located, hints, drv, log_file = [], [], None, None
    reason: list[str] = []
    raised: list[str] = []   # what an uncaught exception's printer wrote after its frame
    frame = False
    for line in stderr.splitlines():
        line = line.rstrip()
        if errors and line.strip() and not _HINT.match(line) and len(reason) < REASON_LINES:
            reason.append(line.strip())
        if not line.strip():
            continue
        if frame:
            frame = False
            raised.append(line.strip())
            continue
        frame = bool(_IN_PROCEDURE.match(line))
        if m := _ERROR.match(line):
            errors.append(line)
        elif m := _HINT.match(line):
            hints.append(m.group(1))
        elif m := _BUILD_FAILED.search(line):
            drv = drv or m.group(1)
        elif _LOCATED.match(line) and not line.startswith("/gnu/store/"):
            located.append(line)   # a read error: FILE:LINE:COL: MESSAGE
        if m := _LOG.search(line):
            log_file = m.group(1)
    message = errors[0] if errors else raised[0] if raised else located[0] if located \
        else _last_line(stderr)
    option = named = None
    if re.search(r"error: image: unknown action", message):
        kind = Failure.NO_IMAGE_ACTION
    elif m := _UNRECOGNIZED.search(message):
        kind, option = Failure.UNRECOGNIZED_OPTION, m.group(1)
    elif m := _NOT_DETERMINISTIC.search(stderr):
        kind, named = Failure.NOT_DETERMINISTIC, m.group(1)
    elif "may not be deterministic" in stderr:
        kind = Failure.NOT_DETERMINISTIC
    elif m := _MISSING_OUTPUTS.search(stderr):
        kind, named = Failure.MISSING_OUTPUTS, m.group(1) or m.group(2)
    elif "cannot travel past" in message:
        kind = Failure.TOO_OLD
    elif "Git error" in message:
        kind = Failure.GIT_ERROR
    elif "EFI bootloader required with GPT partitioning" in stderr:
        kind = Failure.EFI_NEEDS_GPT
    elif drv:
        kind = Failure.BUILD_FAILED
    elif _UNKNOWN_PACKAGE.search(message):
        kind = Failure.UNKNOWN_PACKAGE
    elif (errors and re.match(r"^[^\s:]+:\d+:\d+: error:", errors[0])) \
            or (not errors and (located or raised[:1] and raised[0].startswith("error: "))):
        kind = Failure.CONFIG_ERROR
    else:
        kind = Failure.OTHER
    output = kept = None
    if kind is Failure.NOT_DETERMINISTIC and (m := _KEPT.search(stderr)):
        output, kept = m.group(1), m.group(2)
    return GuixError(kind, message, tuple(hints), log_file, drv, option, named, output, kept,
                     tuple(reason))


def parse_store_paths(stdout: str) -> list[str]:
    """Every absolute file name guix printed, one per line (``gc --references``, ``-d``)."""
    return [line.strip() for line in stdout.splitlines() if line.strip().startswith("/")]


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
