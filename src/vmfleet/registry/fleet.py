"""The fleet file's recorded versions (``fleet_versions``) and each apply of it
(``fleet_applies``), for vmfleet.fleet."""

from __future__ import annotations

from vmfleet.registry.db import Registry

_LATEST = " ORDER BY current_from DESC, number DESC LIMIT 1"


# --- versions ----------------------------------------------------------------------------------

def versions(reg: Registry) -> list[dict]:
    return reg.query("SELECT * FROM fleet_versions ORDER BY number")


def version_of_commit_recorded(reg: Registry, commit: str) -> bool:
    return reg.query_one("SELECT 1 FROM fleet_versions WHERE git_commit = ?", (commit,)) is not None


def latest_version(reg: Registry, *, at_or_before: str | None = None,
                   before: str | None = None) -> dict | None:
    """The newest version, or the one current at ``at_or_before`` (inclusive) / just ``before``."""
    if at_or_before is not None:
        return reg.query_one("SELECT * FROM fleet_versions WHERE current_from <= ?" + _LATEST,
                             (at_or_before,))
    if before is not None:
        return reg.query_one("SELECT * FROM fleet_versions WHERE current_from < ?" + _LATEST,
                             (before,))
    return reg.query_one("SELECT * FROM fleet_versions" + _LATEST)


def version_numbered(reg: Registry, number: int) -> dict | None:
    return reg.query_one("SELECT * FROM fleet_versions WHERE number = ?", (number,))


def versions_of_commit(reg: Registry, prefix: str) -> list[dict]:
    return reg.query("SELECT * FROM fleet_versions WHERE git_commit LIKE ? ORDER BY number",
                     (prefix + "%",))


def add_version(reg: Registry, *, current_from: str, git_commit: str | None, message: str,
                path: str, content_sha256: str, recorded: str) -> int:
    """Record the next version (inside the caller's write transaction); returns its number."""
    last = reg.query_one("SELECT max(number) AS n FROM fleet_versions")
    number = ((last or {}).get("n") or 0) + 1
    reg.execute("INSERT INTO fleet_versions (number, current_from, git_commit, message, path,"
                " content_sha256, recorded) VALUES (?,?,?,?,?,?,?)",
                (number, current_from, git_commit, message, path, content_sha256, recorded))
    return number


# --- applies -----------------------------------------------------------------------------------

def begin_apply(reg: Registry, *, apply_id: str, started: str, user: str, fleet: str,
                fingerprint: str, plan: str) -> None:
    """Record an apply as ``running``; an earlier one still recorded so was cut short."""
    reg.execute("UPDATE fleet_applies SET status = 'interrupted', finished = ? "
                "WHERE status = 'running'", (started,))
    reg.execute("INSERT INTO fleet_applies (id, started, status, user, fleet, fingerprint, plan,"
                " summary) VALUES (?,?,?,?,?,?,?,?)",
                (apply_id, started, "running", user, fleet, fingerprint, plan, ""))


def end_apply(reg: Registry, apply_id: str, *, status: str, finished: str, summary: str) -> None:
    reg.execute("UPDATE fleet_applies SET status = ?, finished = ?, summary = ? WHERE id = ?",
                (status, finished, summary, apply_id))


def applies(reg: Registry) -> list[dict]:
    """Every apply, oldest first."""
    return reg.query("SELECT * FROM fleet_applies ORDER BY started, id")


def last_apply(reg: Registry) -> dict | None:
    return reg.query_one("SELECT id, status FROM fleet_applies ORDER BY started DESC, rowid DESC "
                         "LIMIT 1")


def apply_ids(reg: Registry, prefix: str = "", *, newest: int | None = None) -> list[str]:
    """Ids starting with ``prefix``; or the ``newest`` few, newest first."""
    if newest is not None:
        return [r["id"] for r in reg.query(
            "SELECT id FROM fleet_applies ORDER BY started DESC LIMIT ?", (newest,))]
    return [r["id"] for r in reg.query("SELECT id FROM fleet_applies WHERE id LIKE ?",
                                       (prefix + "%",))]


def last_apply_plan(reg: Registry) -> str | None:
    """The plan (JSON text) the newest apply executed, or None before the first apply."""
    row = reg.query_one("SELECT plan FROM fleet_applies ORDER BY started DESC, rowid DESC "
                        "LIMIT 1")
    return row["plan"] if row else None
