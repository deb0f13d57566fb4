"""The ``vms`` rows: one per VM vmfleet made (any state), as dicts of their columns.

deploy/vm_records turns these rows into ``Vm`` records; nothing above the registry sees SQL.
"""

from __future__ import annotations

from vmfleet.registry.db import Registry

_SELECT = ("SELECT v.*, g.number AS gen_number FROM vms v "
           "JOIN generations g ON g.id = v.generation_id ")

# The columns a new row is made with; the rest keep their defaults until the deploy fills them.
NEW_ROW = ("name", "system", "generation_id", "host", "image_sha256", "overlay", "state",
           "network", "memory_mib", "vcpus", "replaces", "created", "updated", "ssh_user")


def row(reg: Registry, name: str) -> dict | None:
    """The row of VM ``name`` with its generation's number (``gen_number``), or None."""
    return reg.query_one(_SELECT + "WHERE v.name = ?", (name,))


def rows(reg: Registry, *, system: str | None = None, host: str | None = None) -> list[dict]:
    """Every VM's row (with ``gen_number``), by name; only ``system``'s / ``host``'s if given."""
    where, params = [], []
    if system:
        where.append("v.system = ?")
        params.append(system)
    if host:
        where.append("v.host = ?")
        params.append(host)
    sql = _SELECT + (("WHERE " + " AND ".join(where)) if where else "") + " ORDER BY v.name"
    return reg.query(sql, params)


def names(reg: Registry, *, host: str | None = None) -> list[str]:
    if host is None:
        return [r["name"] for r in reg.query("SELECT name FROM vms ORDER BY name")]
    return [r["name"] for r in reg.query("SELECT name FROM vms WHERE host = ? ORDER BY name",
                                         (host,))]


def state(reg: Registry, name: str) -> str | None:
    found = reg.query_one("SELECT state FROM vms WHERE name = ?", (name,))
    return found["state"] if found else None


def generation_id(reg: Registry, name: str) -> int | None:
    found = reg.query_one("SELECT generation_id FROM vms WHERE name = ?", (name,))
    return found["generation_id"] if found else None


def image_shas(reg: Registry) -> set[str]:
    """sha256 of every image some VM's overlay is backed by (whatever the VM's state)."""
    return {r["image_sha256"] for r in reg.query("SELECT DISTINCT image_sha256 FROM vms")}


def using_image(reg: Registry, sha256: str) -> list[str]:
    return [r["name"] for r in reg.query(
        "SELECT name FROM vms WHERE image_sha256 = ? ORDER BY name", (sha256,))]


def ssh_ports(reg: Registry, host: str) -> set[int]:
    """The SSH forward ports recorded for the VMs of ``host`` (reserved even while stopped)."""
    return {r["ssh_port"] for r in reg.query(
        "SELECT ssh_port FROM vms WHERE host = ? AND ssh_port IS NOT NULL", (host,))}


def insert(reg: Registry, values: dict) -> None:
    """A new row; ``values`` has exactly the columns of ``NEW_ROW``."""
    if set(values) != set(NEW_ROW):
        raise ValueError(f"a new VM row needs {NEW_ROW}, got {sorted(values)}")
    reg.execute(f"INSERT INTO vms ({', '.join(NEW_ROW)}) VALUES ({', '.join('?' * len(NEW_ROW))})",
                tuple(values[c] for c in NEW_ROW))


def update(reg: Registry, name: str, values: dict) -> int:
    """Set columns of VM ``name``'s row; returns how many rows changed (0: no such VM)."""
    return reg.update("vms", ("name", name), values)


def delete(reg: Registry, name: str) -> None:
    """Remove ``name``'s row. The VMs that replaced it replace its predecessor instead; when it
    had none (the first VM of its lineage) they keep ``name``, by which the lineage (and the
    fleet file) still knows them."""
    row = reg.query_one("SELECT replaces FROM vms WHERE name = ?", (name,))
    if row is not None and row["replaces"]:
        reg.execute("UPDATE vms SET replaces = ? WHERE replaces = ?", (row["replaces"], name))
    reg.execute("DELETE FROM vms WHERE name = ?", (name,))
