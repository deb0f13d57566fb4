"""The ``hosts`` rows: remote hypervisor hosts ('local' is built in and has no row)."""

from __future__ import annotations

from vmfleet.registry.db import Registry


def row(reg: Registry, name: str) -> dict | None:
    return reg.query_one("SELECT * FROM hosts WHERE name = ?", (name,))


def rows(reg: Registry) -> list[dict]:
    return reg.query("SELECT * FROM hosts ORDER BY name")


def add(reg: Registry, *, name: str, uri: str, created: str, pool: str | None,
        pool_dir: str | None) -> None:
    reg.execute("INSERT INTO hosts (name, uri, created, pool, pool_dir) VALUES (?,?,?,?,?)",
                (name, uri, created, pool, pool_dir))


def delete(reg: Registry, name: str) -> None:
    reg.execute("DELETE FROM hosts WHERE name = ?", (name,))
