"""The ``checks`` rows: each rebuild check of a generation and its verdict (vmfleet.check),
as records with their words (what ``vmfleet check`` prints and ``vmfleet report`` shows)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from vmfleet.registry.db import Registry

_SELECT = ("SELECT c.*, g.system || '@' || g.number AS label FROM checks c "
           "JOIN generations g ON g.id = c.generation_id ")


def row(reg: Registry, check_id: int) -> dict | None:
    """The check's columns and its generation's ``label`` ('web@3')."""
    return reg.query_one(_SELECT + "WHERE c.id = ?", (check_id,))


def rows(reg: Registry, *, system: str | None = None) -> list[dict]:
    """Checks oldest first (only ``system``'s if given), each with ``label``."""
    if system:
        return reg.query(_SELECT + "WHERE g.system = ? ORDER BY c.id", (system,))
    return reg.query(_SELECT + "ORDER BY c.id")


def add(reg: Registry, *, generation_id: int, build_id: int | None,
        reference_build_id: int | None, started: str, finished: str, result: str,
        detail: str) -> int:
    return reg.insert(
        "INSERT INTO checks (generation_id, build_id, reference_build_id, started, finished,"
        " result, detail) VALUES (?,?,?,?,?,?,?)",
        (generation_id, build_id, reference_build_id, started, finished, result,
         detail))


class Result(StrEnum):
    REPRODUCIBLE = "reproducible"
    IMAGE_DIFFERS = "image-differs"
    DRIFTED = "drifted"
    FAILS = "fails"


DESCRIPTIONS = {
    Result.REPRODUCIBLE: "reproducible",
    Result.IMAGE_DIFFERS: "same system, different image bytes",
    Result.DRIFTED: "drifted",
    Result.FAILS: "no longer builds",
}


@dataclass(frozen=True)
class Check:
    id: int
    generation_id: int
    label: str
    result: Result
    build_id: int | None
    reference_build_id: int | None
    started: str
    finished: str | None
    detail: dict

    @property
    def description(self) -> str:
        text = DESCRIPTIONS[self.result]
        kept = self.detail.get("content")
        if kept and kept.get("verdict"):
            text += f" ({content_words(kept)})"
        return text


def content_words(kept: dict) -> str:
    """How the kept second result differs: ``2 files differ: var/lib/random-seed (512 → 512
    B) …``, or that the files are the same and the bytes differ elsewhere."""
    if kept.get("note"):
        return kept["note"]
    diffs = kept.get("differences") or []
    if kept["verdict"] == "identical":
        return ("files identical: the bytes differ outside the files (file-system metadata, "
                "partition table or boot code)")
    if kept["verdict"] == "references":
        return f"{len(diffs)} files differ only in store references"
    changed = [d for d in diffs if d["how"] != "references"]
    shown = ", ".join(f"{d['path'] or '(the file)'} ({d['how']}"
                      + (f" {d['size_a']} → {d['size_b']} B" if d["size_a"] is not None
                         and d["size_b"] is not None else "")
                      + (f", sections {' '.join(d['sections'])}" if d.get("sections") else "")
                      + ")" for d in changed[:3])
    more = " …" if len(changed) > 3 else ""
    noun = "file differs" if len(changed) == 1 else "files differ"
    return f"{len(changed)} {noun}: {shown}{more}"


def from_row(row: dict) -> Check:
    return Check(id=row["id"], generation_id=row["generation_id"], label=row["label"],
                 result=Result(row["result"]), build_id=row["build_id"],
                 reference_build_id=row["reference_build_id"], started=row["started"],
                 finished=row["finished"], detail=json.loads(row["detail"] or "{}"))


def summary_line(c: Check) -> str:
    """One line for a check: what happened, and the first thing to look at."""
    d = c.detail
    if c.result is Result.FAILS:
        return f"{c.label}: no longer builds: {d.get('error', '?')}"
    if c.result is Result.REPRODUCIBLE:
        return f"{c.label}: reproducible (image {str(d['rebuild']['image_sha256'])[:12]})"
    if c.result is Result.IMAGE_DIFFERS:
        if "rebuild" not in d:
            which = d.get("differing_derivation")
            if which:
                kept = f"; {content_words(d['content'])}" if d.get("content") else ""
                return (f"{c.label}: same system, different image bytes: rebuilding {which} "
                        f"gave other bytes{kept}")
            return f"{c.label}: same system, different image bytes (guix build --check: {d['error']})"
        return (f"{c.label}: same system, different image bytes "
                f"({str(d['reference']['image_sha256'])[:12]} → "
                f"{str(d['rebuild']['image_sha256'])[:12]})")
    changes = (d.get("diff") or {}).get("layers", {}).get("packages", {}).get("changes", [])
    # Packages with versions first: 'system' and 'profile' change whenever anything does.
    changes = sorted(changes, key=lambda x: not any(x["versions_a"] + x["versions_b"]))
    what = ", ".join(f"{x['name']} {x['change']}" for x in changes[:4])
    more = f" (+{len(changes) - 4} more)" if len(changes) > 4 else ""
    return f"{c.label}: drifted: {what or 'see the diff'}{more}"
