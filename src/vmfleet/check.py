"""Do recorded generations still rebuild, to the same result?

``check_generation`` rebuilds a generation ignoring vmfleet's build cache and compares the new
image with the generation's *reference* build (its first successful one: what it was when it
was recorded):

- ``reproducible``: the same image, byte for byte (sha256);
- ``image-differs``: the same system (the same ``…-system`` store item and the same closure,
  compared by store file names) in an image whose bytes differ, e.g. a file system hash seed
  that is not pinned (Guix does not promise bit-identical images). The rebuild
  goes through ``guix build --check`` of every derivation that makes the image's bytes: each
  ``partition.img`` (found among the image derivation's inputs) and the image itself, since
  ``--check`` rebuilds only the derivation named; the one that differed is kept in the detail
  (``differing_derivation``);
- ``drifted``: the system or its closure differs (a substitute or source changed under the
  same pins); the packages and files diff is kept in the check's detail;
- ``fails``: the generation no longer builds (a source that vanished, a pin too old); the
  error is kept.

Every result is recorded in the ``checks`` table; ``vmfleet checks`` lists them. A run that
found a regression (anything but ``reproducible``) can tell someone: ``notify`` runs the
user's command once with the findings on stdin (docs/check.schema.json).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from vmfleet import timeutil
from vmfleet.diff import compare, human, json_out, sides
from vmfleet.errors import BuildError, NotFound, VmfleetError
from vmfleet.guix import command as guix
from vmfleet.home import Home
from vmfleet.registry import builds as build_rows
from vmfleet.registry import checks as check_rows
from vmfleet.registry import generations

# The check record and its words live with its rows (the report reads them too); they are
# still check's public names.
from vmfleet.registry.checks import DESCRIPTIONS as DESCRIPTIONS
from vmfleet.registry.checks import Check as Check
from vmfleet.registry.checks import Result as Result
from vmfleet.registry.checks import content_words as content_words
from vmfleet.registry.checks import from_row
from vmfleet.registry.checks import summary_line as summary_line
from vmfleet.registry.db import Registry, dumps
from vmfleet.registry.generations import Generation
from vmfleet.tools import run as run_mod


def list_checks(reg: Registry, system: str | None = None) -> list[Check]:
    """Recorded checks, oldest first; of ``system`` only (an unknown system is NotFound, as a
    typo must not look like "never checked")."""
    if system:
        generations.list_for(reg, system)
    return [from_row(r) for r in check_rows.rows(reg, system=system)]


def get(reg: Registry, check_id: int) -> Check:
    row = check_rows.row(reg, check_id)
    if row is None:
        raise NotFound(f"no check {check_id}", "list them with 'vmfleet checks'")
    return from_row(row)


def reference_build(reg: Registry, gen: Generation):
    """The generation's first successful build (what it was when it was first built)."""
    from vmfleet.build import builds as build

    done = [b for b in build.list_builds(reg, gen.system)
            if b.generation_id == gen.id and str(b.status) == "succeeded"]
    return done[0] if done else None


def select(reg: Registry, specs: Iterable[str], *, all_: bool = False,
           since: str | None = None) -> list[Generation]:
    """The generations to check: the specs given, or all (current at any time since ``since``)."""
    from vmfleet.registry import generations, spec

    specs = list(specs)
    if specs and not all_ and since is None:
        seen, out = set(), []
        for text in specs:
            gen = spec.resolve(reg, text)
            if gen.id not in seen:
                seen.add(gen.id)
                out.append(gen)
        return out
    if specs:
        systems = [spec.parse(s).system for s in specs]
    else:
        systems = generations.system_names(reg)
    start = None
    if since:
        start = timeutil.parse_date(since, "--since")
    out = []
    for system in dict.fromkeys(systems):
        gens = generations.list_for(reg, system)
        if start is None:
            out += gens
            continue
        # Current at some point since ``start``: those that began after it, and the one
        # that was current when it began.
        before = [g for g in gens if g.current_from < start]
        out += ([before[-1]] if before else []) + [g for g in gens if g.current_from >= start]
    return out


def check_generation(reg: Registry, home: Home, gen: Generation, *, builder: str | None = None,
                     timeout: float | None = None,
                     on_line: Callable[[str], None] | None = None) -> Check:
    """Rebuild ``gen`` ignoring the cache, compare with its reference build, record the result."""
    from vmfleet.build import builds as build

    started = timeutil.now()
    t0 = time.monotonic()
    reference = reference_build(reg, gen)
    detail: dict = {}
    if reference is None:
        # Never built: the first build becomes the reference, the check rebuilds it.
        try:
            reference = build.ensure_image(reg, home, gen, builder=builder, timeout=timeout,
                                           on_line=on_line)
        except BuildError as e:
            return _record(reg, gen, Result.FAILS, _last_build_id(reg, gen), None, started,
                           {"error": e.message, "hint": e.hint, "stage": "first build",
                            "reason": list(e.reason),
                            "seconds": round(time.monotonic() - t0, 3)})
        detail["reference_built_now"] = True
    image_size = (reference.options or {}).get("image_size")
    image_type = (reference.options or {}).get("image_type")
    try:
        rebuilt = build.ensure_image(reg, home, gen, builder=builder, image_size=image_size,
                                     timeout=timeout, on_line=on_line, check=True,
                                     image_type=image_type)
    except BuildError as e:
        detail |= {"error": e.message, "hint": e.hint, "reason": list(e.reason),
                   "seconds": round(time.monotonic() - t0, 3)}
        if e.kind is guix.Failure.NOT_DETERMINISTIC:
            # guix build --check rebuilt the same derivation (so the same system and closure, which
            # are named by their inputs) and got other bytes.
            detail["reference"] = {"build": reference.id, "image_sha256": reference.image_sha256,
                                   "store_path": reference.store_path}
            detail["same_system"] = detail["same_closure"] = True
            detail["differing_derivation"] = e.drv
            if e.kept:
                detail["output"], detail["kept"] = e.output, e.kept
                detail["content"] = compare_kept(e.output, e.kept, builder, home)
            return _record(reg, gen, Result.IMAGE_DIFFERS, _last_build_id(reg, gen),
                           reference.id, started, detail)
        return _record(reg, gen, Result.FAILS, _last_build_id(reg, gen), reference.id, started,
                       detail)
    result, compared = compare_builds(reference, rebuilt)
    detail |= compared
    detail["seconds"] = round(time.monotonic() - t0, 3)
    return _record(reg, gen, result, rebuilt.id, reference.id, started, detail)


# What vmfleet copies from a build host to compare a --check's two results (each).
MAX_COMPARE_BYTES = 8 << 30


def compare_kept(output: str | None, kept: str, builder: str | None, home: Home) -> dict:
    """The content comparison (vmfleet.diff.content) of a --check's two results, which the
    daemon left side by side in the store of the machine that built them: read in place here,
    copied (and checked against their sha256 there) from a build host."""
    from vmfleet.build.builders import parse_builder
    from vmfleet.diff.content import compare_outputs

    if not output:
        return {"note": f"guix named no output beside {kept}"}
    host = parse_builder(builder, home)
    try:
        with tempfile.TemporaryDirectory(dir=home.work, prefix="check-") as tmp:
            a = host.local_copy(output, Path(tmp) / "out", MAX_COMPARE_BYTES)
            b = host.local_copy(kept, Path(tmp) / "out-check", MAX_COMPARE_BYTES)
            c = compare_outputs(str(a), str(b))
    except (VmfleetError, OSError) as e:
        return {"note": f"cannot compare {output} with {kept}: {getattr(e, 'message', e)}"}
    finally:
        host.cleanup()
    return {"verdict": c.verdict, "files": c.files,
            "differences": [{"path": d.path, "how": d.how, "size_a": d.size_a,
                             "size_b": d.size_b, "sections": list(d.sections)}
                            for d in c.differences]}


def compare_builds(reference, rebuilt) -> tuple[Result, dict]:
    """Classify a rebuild against its reference: by sha256, then system and closure."""
    detail: dict[str, Any] = {
        "reference": {"build": reference.id, "image_sha256": reference.image_sha256,
                      "store_path": reference.store_path},
        "rebuild": {"build": rebuilt.id, "image_sha256": rebuilt.image_sha256,
                    "store_path": rebuilt.store_path},
    }
    if reference.image_sha256 == rebuilt.image_sha256:
        return Result.REPRODUCIBLE, detail
    ref_path = reference.image_path
    if not ref_path or not Path(ref_path).exists() or not rebuilt.image_path:
        # The reference image was removed (images gc): only the recorded names are left.
        detail["note"] = "the reference image is no longer in the image store: compared by " \
                         "image store path only"
        same = reference.store_path == rebuilt.store_path
        return (Result.IMAGE_DIFFERS if same else Result.DRIFTED), detail
    from vmfleet.inspect.facts import inspect_image

    a = inspect_image(ref_path, files=True, texts=True)
    b = inspect_image(rebuilt.image_path, files=True, texts=True)
    detail["reference"]["system"] = a.system
    detail["rebuild"]["system"] = b.system
    same_closure = {i.path for i in a.items} == {i.path for i in b.items}
    detail["same_system"] = a.system == b.system
    detail["same_closure"] = same_closure
    if a.system == b.system and same_closure:
        return Result.IMAGE_DIFFERS, detail
    d = compare.compare(sides.side_from_facts(f"build {reference.id}", a),
                     sides.side_from_facts(f"build {rebuilt.id}", b),
                     layers=("packages", "files"), file_content=True)
    detail["diff"] = json_out.to_json(d)
    detail["diff_text"] = human.render(d)
    return Result.DRIFTED, detail


def _last_build_id(reg: Registry, gen: Generation) -> int | None:
    return build_rows.latest_id(reg, gen.id)


def _record(reg: Registry, gen: Generation, result: Result, build_id, reference_id, started,
            detail: dict) -> Check:
    with reg.write():
        check_id = check_rows.add(reg, generation_id=gen.id, build_id=build_id,
                                  reference_build_id=reference_id, started=started,
                                  finished=timeutil.now(), result=str(result), detail=dumps(detail))
    return get(reg, check_id)


def to_json(c: Check) -> dict:
    """A check as JSON (docs/check.schema.json): ``check --json``/``--jsonl``, ``checks``, and
    the findings a notifier reads."""
    detail = {k: v for k, v in c.detail.items() if k != "diff_text"}
    return {"id": c.id, "generation": c.label, "result": str(c.result),
            "description": c.description, "build": c.build_id,
            "reference_build": c.reference_build_id, "started": c.started,
            "finished": c.finished, "detail": detail}


def regressions(results: Iterable[Check]) -> list[Check]:
    """What a notification is about: generations that no longer rebuild to the same bytes."""
    return [c for c in results if c.result is not Result.REPRODUCIBLE]


def run_summary(results: Sequence[Check], limit: int = 300) -> str:
    """One line for a whole run: how many regressed, and which (for a mail subject, a chat)."""
    bad = regressions(results)
    words = ", ".join(f"{c.label} {c.description}" for c in bad)
    line = f"vmfleet check: {len(bad)} of {len(results)} generations regressed: {words}"
    line = " ".join(line.split())  # one line whatever a label held
    return line if len(line) <= limit else line[: limit - 1] + "…"


NOTIFY_TIMEOUT = 120.0


def notify(command: str, results: Sequence[Check], *, timeout: float = NOTIFY_TIMEOUT) -> str | None:
    """Run the user's notification command once, if ``results`` hold a regression.

    ``command`` is a shell command line the user wrote (``mail -s "vmfleet" ops@x``), run by
    ``/bin/sh -c`` with the one-line summary as ``$1`` (a positional argument: never pasted into
    the command) and the findings as JSON on stdin. Returns None when it ran well (or had
    nothing to say), else what went wrong: a notification that fails never changes the check's
    result, the caller reports it.
    """
    bad = regressions(results)
    if not bad:
        return None
    summary = run_summary(results)
    findings = {"version": 1, "summary": summary, "checked": len(results),
                "regressions": [to_json(c) for c in bad]}
    try:
        result = run_mod.run(["/bin/sh", "-c", command, "vmfleet-notify", summary],
                             input=dumps(findings) + "\n", timeout=timeout, check=False)
    except VmfleetError as e:
        return e.message
    if result.returncode != 0:
        return f"exit {result.returncode}: {run_mod.last_line(result.stderr or result.stdout)}"
    return None
