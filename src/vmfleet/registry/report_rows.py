"""What ``vmfleet report`` reads from the registry, as named queries (the report's only SQL).

The check history can be large (a weekly ``check --all`` of 100 systems with 200 generations
each is a million rows a year): the reproducible checks (nearly all) come aggregated per
generation, only the others one by one with their detail.
"""

from __future__ import annotations

from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation, from_row


def system_names(reg: Registry) -> list[str]:
    return [r["name"] for r in reg.query("SELECT name FROM systems ORDER BY name")]


def all_generations(reg: Registry) -> list[Generation]:
    """Every generation, by system, then in the order they were current."""
    return [from_row(r) for r in reg.query(
        "SELECT * FROM generations ORDER BY system, current_from, number")]


def reproducible_days(reg: Registry) -> list[tuple[int, str]]:
    """(generation id, 'day,day,…'): the days (UTC) on which each generation was rebuilt bit
    for bit. Aggregated by SQLite: a million checks become one row per generation."""
    return reg.execute(
        "SELECT generation_id, group_concat(DISTINCT substr(started, 1, 10)) FROM checks"
        " WHERE result = 'reproducible' GROUP BY generation_id").fetchall()


def findings(reg: Registry) -> list[tuple[int, int, str, str, str]]:
    """Every check that did not reproduce, as (id, generation id, started, result, detail
    JSON), oldest first."""
    return reg.execute(
        "SELECT id, generation_id, started, result, detail FROM checks"
        " WHERE result != 'reproducible' ORDER BY id").fetchall()


def count_checks(reg: Registry) -> int:
    return reg.execute("SELECT count(*) FROM checks").fetchone()[0]


def fleet_applies(reg: Registry) -> list[dict]:
    return reg.query("SELECT id, started, finished, status, user, fleet, plan, summary"
                     " FROM fleet_applies ORDER BY started")
