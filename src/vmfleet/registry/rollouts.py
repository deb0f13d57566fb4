"""The ``rollouts`` rows: redeploys and rollbacks as intent-then-outcome records (deploy/rollout)."""

from __future__ import annotations

import json

from vmfleet.registry.db import Registry


def open_rows(reg: Registry, *, system: str | None = None) -> list[dict]:
    """Rows still ``running`` (with ``gen_number``, the number of the generation moved to)."""
    sql = ("SELECT r.*, g.number AS gen_number FROM rollouts r "
           "JOIN generations g ON g.id = r.generation_id WHERE r.status = 'running'")
    params: tuple = ()
    if system:
        sql += " AND r.system = ?"
        params = (system,)
    return reg.query(sql + " ORDER BY r.id", params)


def begin(reg: Registry, *, kind: str, vm: str, successor: str | None, retiring: tuple[str, ...],
          system: str, generation_id: int, step: str, now: str) -> int:
    return reg.insert(
        "INSERT INTO rollouts (kind, vm, successor, retiring, system, generation_id, step,"
        " status, started, updated) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (kind, vm, successor, json.dumps(list(retiring)), system, generation_id, step,
         "running", now, now))


def set_step(reg: Registry, rollout_id: int, step: str, status: str, now: str) -> None:
    reg.execute("UPDATE rollouts SET step = ?, status = ?, updated = ? WHERE id = ?",
                (step, status, now, rollout_id))
