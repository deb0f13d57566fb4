"""The ``checks`` rows: each rebuild check of a generation and its verdict (vmfleet.check)."""

from __future__ import annotations

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
