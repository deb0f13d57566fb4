"""Building a generation into a qcow2 image, once per set of inputs.

The cache key is the generation's inputs (config, local files, channels) plus the image options.
A finished build of the same key is reused unless ``rebuild``. A per-key file lock makes two
``vmfleet build`` of the same inputs build once: the second waits, then reuses. Every attempt is
recorded (status, command, duration, log), failures included.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from vmfleet import timeutil
from vmfleet.build import store as images
from vmfleet.build.builders import parse_builder
from vmfleet.build.runner import Builder, LineSink, Outcome
from vmfleet.errors import BuildError, ImageGone, NotFound, VmfleetError
from vmfleet.guix import command as guix
from vmfleet.guix import image_types, revisions
from vmfleet.home import PRIVATE_FILE, Home
from vmfleet.registry import builds as build_rows
from vmfleet.registry import generations
from vmfleet.registry.db import Registry, dumps
from vmfleet.registry.generations import Generation
from vmfleet.tools import killpoint, locks, qemu_img
from vmfleet.tools.run import working_in

TAIL_LINES = 15


class Status(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Build:
    id: int
    generation_id: int
    label: str
    builder: str
    status: Status
    command: tuple[str, ...]
    store_path: str | None
    image_sha256: str | None
    image_size: int | None
    image_path: str | None          # in the image store, when the file is there
    started: str
    finished: str | None
    duration: float | None
    exit_status: int | None
    error: str | None
    options: dict
    cached: bool = False            # True when ensure_image reused it
    image_type: str | None = None   # what guix made: qcow2, efi-raw, qcow2-gpt, vm-image

    @property
    def firmware(self) -> str:
        """'efi' or 'bios': how the image boots."""
        return image_types.firmware_of(self.image_type or self.options.get("image_type"))


def _from_row(row: dict, reg: Registry, cached: bool = False) -> Build:
    path = str(reg.resolve_path(row["stored_path"])) if row.get("stored_path") else None
    return Build(
        id=row["id"], generation_id=row["generation_id"], label=row["label"], builder=row["builder"],
        status=Status(row["status"]), command=tuple(json.loads(row["command"])),
        store_path=row["store_path"], image_sha256=row["image_sha256"], image_size=row["image_size"],
        image_path=path if path and Path(path).exists() else None, started=row["started"],
        finished=row["finished"], duration=row["duration"], exit_status=row["exit_status"],
        error=row["error"], options=json.loads(row["options"]), cached=cached,
        image_type=row.get("image_type"))


def options_of(image_size: str | None, image_type: str | None = None) -> dict:
    """The image options that change the image, as part of the cache key. The default image
    types (qcow2, and vm-image for pins before 'image') are left out, so the keys of builds
    recorded before vmfleet knew image types stay valid."""
    options: dict = {"image_size": image_size} if image_size else {}
    if image_type and image_type not in (image_types.QCOW2, image_types.VM_IMAGE):
        options["image_type"] = image_type
    return options


def plan_image(gen: Generation, image_type: str | None = None) -> image_types.ImagePlan:
    """The image type and provenance flag for ``gen`` at its pin, from its config's bootloader;
    a combination Guix would refuse raises UsageError here, before guix runs."""
    return image_types.plan(revisions.revision(gen.guix_commit), gen.summary.get("bootloader"),
                            image_type)


def inputs_key(gen: Generation, options: dict) -> str:
    return hashlib.sha256(dumps({"inputs": gen.inputs_sha256, "options": options}).encode()).hexdigest()


def stored_image(build: Build) -> tuple[str, Path]:
    """sha256 and file of a build's image in the store (what ensure_image returns has both)."""
    if build.image_sha256 is None or build.image_path is None:
        raise ImageGone(f"the image of build {build.id} ({build.label}) is not in the store",
                        "run the command again: the image is rebuilt")
    return build.image_sha256, Path(build.image_path)


def cached_build(reg: Registry, key: str) -> Build | None:
    for row in build_rows.succeeded_with_key(reg, key):
        build = _from_row(row, reg, cached=True)
        if build.image_path:
            return build
    return None


def ensure_image(reg: Registry, home: Home, gen: Generation, *, builder: str | None = None,
                 image_size: str | None = None, rebuild: bool = False, timeout: float | None = None,
                 on_line: Callable[[str], None] | None = None, trust_new_host: bool = False,
                 check: bool = False, image_type: str | None = None) -> Build:
    """Return a successful build of ``gen`` with its image in the store, building if needed.

    The image is there when this returns (seen under the store lock, so ``image_path`` is
    never None); an ``images gc`` that removes it as soon as it is stored makes a new build,
    and after ``IMAGE_ATTEMPTS`` of those ImageGone is raised. What the caller then does must
    take the store lock again before relying on the file (deploy's VM row does: gc keeps what
    a VM row names). ``builder``: None or 'local', or 'ssh://user@host[:port]' (see build/remote.py).
    ``check``: build, then rebuild what guix's own store has (``guix build --check`` of the
    image's derivation, for ``vmfleet check``); a result that is not bit-identical raises
    BuildError with ``kind`` NOT_DETERMINISTIC.
    """
    plan = plan_image(gen, image_type)  # refused here, before guix runs, when Guix would refuse
    unit_after_dot = revisions.revision(gen.guix_commit).has(revisions.Feature.SIZE_DOT_UNIT) is not False
    options = options_of(guix.check_image_size(image_size, unit_after_dot), plan.type)
    key = inputs_key(gen, options)
    runner = parse_builder(builder, home, trust_new_host=trust_new_host)  # a typo fails, cached or not
    with locks.lock(home, f"build-{key[:32]}"):
        for _attempt in range(IMAGE_ATTEMPTS):
            hit = None if (rebuild or check) else cached_build(reg, key)
            if hit is None:
                reap(reg, home)  # builds left 'running' by a process that died hold no lock
                hit = run_build(reg, home, gen, key, options, runner, timeout,
                                on_line or (lambda line: None), check=check, plan=plan)
            with locks.lock(home, "images", shared=True):  # gc takes it exclusively
                if hit.image_path is not None and Path(hit.image_path).exists():
                    return hit
            rebuild = check = False  # the build happened; only its file is missing
    raise ImageGone(f"the image of {gen.label} was removed by 'vmfleet images gc' each time it "
                    f"was stored ({IMAGE_ATTEMPTS} builds)", "run the command again when no gc runs")


IMAGE_ATTEMPTS = 3  # builds of one image that an 'images gc' at the same moment may remove


def reap(reg: Registry, home: Home, *, remove_dirs: bool = True) -> list[Path]:
    """What killed builds left: their records say ``running`` although nobody holds their build
    lock (the kernel dropped it with the process): they become ``interrupted``; and the work
    directories (work/build-N) of builds that do not run any more are removed, unless a process
    still works in one (a guix that outlived its vmfleet: its files stay until it ends).
    Returns the directories removed."""
    for row in build_rows.running(reg):
        if not locks.is_locked(home, f"build-{row['inputs_key'][:32]}"):
            with reg.write():
                build_rows.mark_interrupted(reg, row["id"], timeutil.now(), "vmfleet was killed")
    removed: list[Path] = []
    if remove_dirs and home.work.is_dir():
        running = {r["id"] for r in build_rows.running(reg)}
        for d in sorted(home.work.glob("build-*")):
            try:
                number = int(d.name.split("-", 1)[1])
            except ValueError:
                continue
            if number not in running and not working_in(d):
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
    return removed


def run_build(reg: Registry, home: Home, gen: Generation, key: str, options: dict,
              builder: Builder, timeout: float | None, on_line: LineSink, *, check: bool = False,
              plan: image_types.ImagePlan | None = None) -> Build:
    home.work.mkdir(parents=True, exist_ok=True)
    home.logs.mkdir(parents=True, exist_ok=True)
    started_at, t0 = timeutil.now(), time.monotonic()
    with reg.write():
        build_id = build_rows.begin(reg, generation_id=gen.id, inputs_key=key,
                                    options=dumps(options), builder=builder.name,
                                    status=Status.RUNNING, started=started_at)
    killpoint.reached("build:recorded")
    log_path = home.logs / f"build-{build_id}.log"
    workdir = home.work / f"build-{build_id}"
    status = Status.FAILED
    fields: dict[str, object] = {}
    error: VmfleetError | None = None
    log_file = open(log_path, "w")
    os.chmod(log_path, PRIVATE_FILE)

    def line(text: str) -> None:
        log_file.write(text + "\n")
        log_file.flush()
        on_line(text)

    try:
        lay = generations.layout(reg, gen, workdir)
        killpoint.reached("build:materialized")
        remote_dir = builder.prepare(workdir)
        run_dir = remote_dir if lay.run_dir == "." else (
            remote_dir / lay.run_dir if isinstance(remote_dir, Path)
            else f"{remote_dir}/{lay.run_dir}")
        ran = _run_guix(builder, lay, options, check, run_dir, line, timeout,
                        plan or plan_image(gen))
        outcome = ran.outcome
        fields["command"] = dumps(ran.argv)
        fields["exit_status"] = outcome.returncode
        fields["image_type"] = ran.image_type
        if outcome.timed_out:
            status = Status.TIMEOUT
            error = BuildError(f"build of {gen.label} did not finish within {timeout:g} s",
                               f"raise --timeout; the log so far is in {log_path}")
        elif outcome.returncode != 0:
            error = _failure(gen, outcome, log_path, ran.image_type)
        else:
            store_path = guix.parse_store_path(outcome.stdout)
            if store_path is None:
                error = BuildError(f"guix printed no image file name (stdout: {outcome.stdout.strip()[:200]!r})",
                                   f"is that really guix? see {log_path}")
            else:
                killpoint.reached("build:guix-done")
                fetched = builder.fetch(store_path, workdir)
                if image_types.ImagePlan(ran.image_type, None).raw_output:
                    line(f"vmfleet: converting the raw {ran.image_type} image to qcow2")
                    fetched = qemu_img.convert_to_qcow2(fetched, workdir / "from-raw.qcow2")
                stored = images.store(reg, home, fetched)
                killpoint.reached("build:stored")
                status = Status.SUCCEEDED
                fields |= {"store_path": store_path, "image_sha256": stored.sha256,
                           "image_size": stored.size}
    except (KeyboardInterrupt, SystemExit):
        status = Status.INTERRUPTED
        error = BuildError(f"build of {gen.label} was interrupted", "run the build again")
        raise
    except VmfleetError as e:
        error = e
    finally:
        log_file.close()
        fields |= {"status": status, "finished": timeutil.now(), "duration": round(time.monotonic() - t0, 3),
                   "error": error.message if error else None, "log": log_path.read_text(errors="replace")}
        with reg.write():  # recorded first: cleaning up may fail too (a lost build host)
            build_rows.update(reg, build_id, fields)
        with contextlib.suppress(VmfleetError):
            builder.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    if error:
        raise error
    return get(reg, build_id)


@dataclass(frozen=True)
class GuixRun:
    """What ``_run_guix`` ran: the last argv and its outcome, the image type guix made, and
    whether the image has provenance."""

    argv: list[str]
    outcome: Outcome
    image_type: str
    provenance: bool
    checked: tuple[str, ...] = ()   # the derivations 'guix build --check' rebuilt


def _run_guix(builder: Builder, lay: generations.Layout, options: dict, check: bool,
              cwd: Path | str, line: LineSink, timeout: float | None,
              plan: image_types.ImagePlan) -> GuixRun:
    """Run guix for a build: the image; for a check also its derivation (``-d``), the
    derivations that make its bytes, and ``build --check`` of each. A failure stops early."""
    deadline = None if timeout is None else time.monotonic() + timeout
    guix_cmd = builder.guix

    def attempt(argv):
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:  # the time ran out in an earlier step
            return argv, Outcome(-1, "", "", timed_out=True)
        line("$ " + " ".join(argv))
        return argv, builder.execute(argv, cwd, line, left)

    image_type, provenance = plan.type, plan.save_provenance is not False
    channels = lay.channels
    # With -e, -L as absolute names: Guile names a module as the load path search found it
    # (DIR/a/b.scm, DIR as given), and Guix's current-source-directory looks that name up in
    # %load-path again (guix/utils.scm@8e2f32cee98:1060-1093), which fails for a relative DIR
    # (tests/realguix: v1.4.0 on tests/corpus/repo2/src/wren/systems/laptop.scm). Guix resolves
    # a relative DIR against the directory it runs in, so the modules are the same. A config
    # file's load names them relative to DIR either way (docs/guix-facts.md, after L4).
    load_path = tuple(posixpath.join(str(cwd), d) for d in lay.load_path) \
        if lay.expression and str(cwd).startswith("/") else lay.load_path

    def image(**kw):
        return guix.image_command(channels, lay.config, image_size=options.get("image_size"),
                                  guix=guix_cmd, load_path=load_path,
                                  expression=lay.expression,
                                  vm_image=image_type == image_types.VM_IMAGE,
                                  image_type=image_type, save_provenance=provenance, **kw)

    def failed(outcome) -> bool:
        return outcome.returncode != 0 or outcome.timed_out

    def failure(outcome) -> guix.Failure | None:
        return None if not failed(outcome) or outcome.timed_out else \
            guix.parse_error(outcome.stderr).kind

    def done(argv, outcome, checked=()) -> GuixRun:
        return GuixRun(argv, outcome, image_type, provenance, tuple(checked))

    if image_type == image_types.VM_IMAGE:  # known from the pin (guix/revisions.py)
        line("vmfleet: this Guix revision predates 'guix system image' (2021-01-19); "
             "using 'system vm-image'")
    argv, outcome = attempt(image())
    if failure(outcome) is guix.Failure.NO_IMAGE_ACTION:
        line("vmfleet: this Guix revision predates 'guix system image'; using 'system vm-image'")
        image_type = image_types.VM_IMAGE
        argv, outcome = attempt(image())
    if failure(outcome) is guix.Failure.UNRECOGNIZED_OPTION and provenance and \
            guix.parse_error(outcome.stderr).option == "save-provenance":
        line("vmfleet: this Guix revision predates --save-provenance (2019-12-07); building "
             "without it: the image will not record its channels and config")
        provenance = False
        argv, outcome = attempt(image())
    if not check or failed(outcome):
        return done(argv, outcome)
    argv, outcome = attempt(image(derivation=True))
    drv = None if failed(outcome) else guix.parse_store_path(outcome.stdout)
    if drv is None:
        return done(argv, outcome)
    argv, outcome = attempt(guix.references_command(drv, guix=guix_cmd))
    if failed(outcome):
        return done(argv, outcome)
    checked: list[str] = []
    for target in [*byte_making_inputs(outcome.stdout, lambda d: attempt(
            guix.references_command(d, guix=guix_cmd))[1]), drv]:
        argv, outcome = attempt(guix.check_command(channels, target, guix=guix_cmd))
        if failure(outcome) is guix.Failure.MISSING_OUTPUTS:
            line(f"vmfleet: {target} was never built here; building it before checking it")
            argv, outcome = attempt(guix.build_command(channels, target, guix=guix_cmd))
            if not failed(outcome):
                argv, outcome = attempt(guix.check_command(channels, target, guix=guix_cmd))
        if failed(outcome):
            return done(argv, outcome, checked)
        checked.append(target)
        line(f"vmfleet: {target}: rebuilt bit-identical")
    return done(argv, outcome, checked)


PARTITION_SUFFIX = "partition.img.drv"   # gnu/system/image.scm: (computed-file "partition.img" …)
GENIMAGE_SUFFIX = "genimage.cfg.drv"     # …which reaches the image through (computed-file "genimage.cfg" …)


def byte_making_inputs(references: str, references_of) -> list[str]:
    """The partition-image derivations among an image derivation's inputs.

    gnu/system/image.scm makes each file system in its own ``partition.img`` derivation and
    hands them to genimage through a ``genimage.cfg`` derivation, which the image derivation
    takes as input: so the partitions are the image's inputs, or its genimage.cfg's.
    ``references_of(drv)`` returns the outcome of ``guix gc --references drv``.
    """
    found: dict[str, None] = {}
    for item in guix.parse_store_paths(references):
        if item.endswith(PARTITION_SUFFIX):
            found.setdefault(item, None)
        elif item.endswith(GENIMAGE_SUFFIX):
            inner = references_of(item)
            if inner.returncode == 0:
                for sub in guix.parse_store_paths(inner.stdout):
                    if sub.endswith(PARTITION_SUFFIX):
                        found.setdefault(sub, None)
    return list(found)


def _failure(gen: Generation, outcome, log_path: Path, image_type: str | None = None) -> BuildError:
    err = guix.parse_error(outcome.stderr)
    efi_hint = "build with --image-type efi-raw (or qcow2-gpt where the pin has it)"
    if image_type in image_types.EFI_TYPES:
        # guix refused a GPT (or efi-raw) image: suggesting it again would repeat the failure
        efi_hint = ("this guix takes only grub-efi-bootloader or grub-efi32-bootloader with a "
                    f"{image_type} image: switch the config's bootloader, or build with "
                    "--image-type qcow2")
    tail = "\n".join(outcome.stderr.strip().splitlines()[-TAIL_LINES:])
    hints = {
        guix.Failure.TOO_OLD: "time-machine cannot reach that commit: pin a newer one, or adopt an "
                              "image built back then ('vmfleet adopt')",
        guix.Failure.GIT_ERROR: "the pinned commit or channel URL cannot be fetched: check "
                                "channels.scm ('vmfleet show SPEC --channels')",
        guix.Failure.CONFIG_ERROR: "fix the config and record it again ('vmfleet add')",
        guix.Failure.NOT_DETERMINISTIC: f"rebuilding {err.drv or 'the image'} gave other bytes "
                                        "than the first build",
        guix.Failure.EFI_NEEDS_GPT: efi_hint,
        guix.Failure.UNKNOWN_PACKAGE: "the pinned guix has no such package: fix the package "
                                      "name, or pin a guix that has it",
        guix.Failure.BUILD_FAILED: f"guix's build log is at {err.log_file}" if err.log_file else
                                   "see the full log",
    }
    hint = hints.get(err.kind, "see the full log")
    if err.hints:
        hint += f" (guix says: {err.hints[0]})"
    # guix's whole reason: "failed to load 'F':" means nothing without the lines after it.
    said = " ".join((err.message, *err.reason))
    error = BuildError(f"build of {gen.label} failed: {said}",
                       f"{hint}; full log: vmfleet build-log {gen.label} ({log_path})", details=tail)
    error.kind = err.kind
    error.drv = err.drv
    error.output, error.kept = err.output, err.kept
    error.reason = err.reason
    return error


def get(reg: Registry, build_id: int) -> Build:
    row = build_rows.row(reg, build_id)
    if row is None:
        raise NotFound(f"no build {build_id}", "list them with 'vmfleet builds'")
    return _from_row(row, reg)


def list_builds(reg: Registry, system: str | None = None) -> list[Build]:
    return [_from_row(r, reg) for r in build_rows.rows(reg, system=system)]


def last_build(reg: Registry, gen: Generation) -> Build:
    row = build_rows.last_of_generation(reg, gen.id)
    if row is None:
        raise NotFound(f"{gen.label} was never built", f"build it: vmfleet build {gen.label}")
    return _from_row(row, reg)


def log_of(reg: Registry, build_id: int) -> str:
    return build_rows.log(reg, build_id)
