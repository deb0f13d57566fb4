"""All SQL lives in vmfleet.registry: nothing above it writes a statement or talks to the
registry's connection, so the registry's functions are the whole interface a second backend
would have to provide."""

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "src" / "vmfleet"

# Guix's own store database inside an image (inspect reads it through guix/store.py) is not the
# registry: its SQL follows Guix's schema and no registry backend replaces it.
NOT_THE_REGISTRY = {"guix/store.py"}

SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP|PRAGMA|BEGIN|COMMIT|ROLLBACK|REPLACE)\s"
    r"|\b(FROM|JOIN)\s+\w+.*\b(WHERE|ORDER BY|ON|LIMIT)\b"
    r"|\bWHERE\s+[\w.]+\s*(=|<|>|LIKE|IS|IN)\s"
    r"|\bORDER BY\s+[\w.]+")
# The statement-taking methods of the Registry and of sqlite3.
RAW_METHODS = {"query", "query_one", "execute", "executemany", "executescript"}
REGISTRY_NAMES = {"reg", "registry", "conn", "db", "cursor"}  # what the code calls a registry


def sql_outside_registry(text: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            found.append(f"{node.lineno}: SQL text {node.value[:50]!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, receiver = node.func.attr, node.func.value
            receiver = getattr(receiver, "attr", None) or getattr(receiver, "id", None)
            if (name in RAW_METHODS and receiver in REGISTRY_NAMES) or (
                    name == "update" and node.args and isinstance(node.args[0], ast.Constant)):
                found.append(f"{node.lineno}: .{name}(...) on the registry")
    return found


def test_no_sql_outside_the_registry():
    found = []
    for path in sorted(PKG.rglob("*.py")):
        rel = str(path.relative_to(PKG))
        if rel.startswith("registry/") or rel in NOT_THE_REGISTRY:
            continue
        found += [f"{rel}:{hit}" for hit in sql_outside_registry(path.read_text())]
    assert found == [], "move these into a named function of vmfleet.registry:\n" + "\n".join(found)


def test_the_scan_sees_statements_fragments_and_raw_calls():
    text = '''
a = "SELECT name FROM vms"
b = "WHERE v.name = ?"
c = ("SELECT v.* FROM vms v " "JOIN generations g ON g.id = v.generation_id")
reg.query(sql, params)
reg.update("vms", ("name", n), cols)
reg.conn.executescript(x)
d = "a VM that was deployed, then selected"
e = {}.update(x=1)
builder.execute(argv)
'''
    hits = [h.split(":")[0] for h in sql_outside_registry(text)]
    assert sorted(set(hits), key=int) == ["2", "3", "4", "5", "6", "7"]


def test_a_migration_that_fails_half_way_leaves_nothing(monkeypatch):
    """Migrations run statement by statement inside the migrate transaction (sqlite3's
    executescript would commit before it starts, so a failure left half a migration)."""
    import pytest

    from vmfleet.errors import RegistryError
    from vmfleet.registry import db

    reg = db.Registry.memory()

    def half(conn):
        db.run_script(conn, "CREATE TABLE half_a (x TEXT); -- a comment; with a semicolon\n"
                            "INSERT INTO half_a VALUES ('a;b');\nCREATE TABLE systems (y);")

    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, ("half", half)])
    with pytest.raises(RegistryError, match="systems already exists"):
        reg.migrate()
    assert "half_a" not in {r["name"] for r in reg.query("SELECT name FROM sqlite_master")}
    assert reg.columns("systems") == ["name", "created"]


def test_migrations_are_named_for_what_they_do_and_old_names_carry_over(tmp_path):
    """A migration name is read by people (and recorded in every registry): no tracker numbers.
    A registry that recorded an old name keeps it applied under the new one."""
    import re
    import sqlite3

    from vmfleet.registry import db

    assert [n for n, _ in db.MIGRATIONS if re.search(r"issue\d", n)] == []
    path = tmp_path / "registry.db"
    db.Registry.create(path).close()
    con = sqlite3.connect(path)  # as a registry of before the renaming recorded them
    con.execute("UPDATE _migrations SET name = 'issue8_inputs' WHERE name = 'config_repository_inputs'")
    con.commit()
    con.close()
    reg = db.Registry.open(path)
    try:
        assert reg.migrate() == []
        assert {r["name"] for r in reg.query("SELECT name FROM _migrations")} == {
            n for n, _ in db.MIGRATIONS}
    finally:
        reg.close()
