"""Where each import of a system from a repository stopped: the last commit it read and the
options it read it with. A re-import with the same options reads only the commits after it
(nothing at all when the branch has not moved)."""

from __future__ import annotations

from dataclasses import dataclass

from vmfleet import timeutil
from vmfleet.registry.db import Registry


@dataclass(frozen=True)
class Mark:
    system: str
    repo: str
    options: str        # canonical JSON of what the import depended on
    last_commit: str


def get(reg: Registry, system: str, repo: str) -> Mark | None:
    row = reg.query_one("SELECT system, repo, options, last_commit FROM import_marks "
                        "WHERE system = ? AND repo = ?", (system, repo))
    return Mark(**row) if row else None


def put(reg: Registry, mark: Mark) -> None:
    """Remember ``mark`` (inside the import's own transaction: both land or neither)."""
    reg.execute("INSERT INTO import_marks (system, repo, options, last_commit, imported) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (system, repo) DO UPDATE SET "
                "options = excluded.options, last_commit = excluded.last_commit, "
                "imported = excluded.imported",
                (mark.system, mark.repo, mark.options, mark.last_commit, timeutil.now()))
