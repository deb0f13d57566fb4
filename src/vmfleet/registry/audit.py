"""The audit log: every deploy, redeploy, rollback, start, stop, destroy and apply step.

An entry is written when an action starts (its intent) and completed with its outcome.
"""

from __future__ import annotations

from vmfleet.registry.db import Registry


def add(reg: Registry, *, at: str, user: str, action: str, vm: str | None,
        from_generation_id: int | None, to_generation_id: int | None, detail: str = "",
        apply_id: str | None = None) -> int:
    """Write one entry (inside the caller's transaction, if any); returns its id."""
    return reg.insert(
        "INSERT INTO audit (at, user, action, vm, from_generation_id, to_generation_id, detail,"
        " apply_id) VALUES (?,?,?,?,?,?,?,?)",
        (at, user, action, vm, from_generation_id, to_generation_id, detail, apply_id))


def set_detail(reg: Registry, entry_id: int, detail: str) -> None:
    reg.execute("UPDATE audit SET detail = ? WHERE id = ?", (detail, entry_id))


def entries(reg: Registry, *, apply_id: str | None = None) -> list[dict]:
    """Entries oldest first (only one apply's if ``apply_id``), with the generations' labels
    (``from_label``, ``to_label``: 'web@2')."""
    sql = ("SELECT a.*, gf.system || '@' || gf.number AS from_label, "
           "gt.system || '@' || gt.number AS to_label FROM audit a "
           "LEFT JOIN generations gf ON gf.id = a.from_generation_id "
           "LEFT JOIN generations gt ON gt.id = a.to_generation_id ")
    if apply_id is None:
        return reg.query(sql + "ORDER BY a.id")
    return reg.query(sql + "WHERE a.apply_id = ? ORDER BY a.id", (apply_id,))


OPEN = "started, not finished"   # the detail of an entry written as an intent


def close_open_intents(reg: Registry, vm: str, outcome: str) -> int:
    """Close every entry of ``vm`` still saying it was started and not finished (a deploy killed
    after its domain was defined) with ``outcome``, e.g. 'finished by vmfleet start'; return how
    many were closed."""
    with reg.write():
        return reg.execute(
            "UPDATE audit SET detail = substr(detail, 1, length(detail) - ?) || ? "
            "WHERE vm = ? AND detail LIKE ?",
            (len(OPEN), outcome, vm, f"%{OPEN}")).rowcount


def failed_bring_backs(reg: Registry, vms: list[str], *, chunk: int = 500) -> set[str]:
    """The retired VMs among ``vms`` that an apply once failed to bring back (it boots no
    more, or fails its health command): apply makes a new VM instead of trying them again."""
    names = sorted(set(vms))
    out: set[str] = set()
    for i in range(0, len(names), chunk):  # well under SQLite's limit on bound parameters
        part = names[i:i + chunk]
        out |= {r["vm"] for r in reg.query(
            "SELECT DISTINCT vm FROM audit WHERE action = 'apply-bring-back' AND detail LIKE "
            f"'failed:%' AND vm IN ({','.join('?' * len(part))})", part)}
    return out


def manual_changes(reg: Registry, vms: list[str], *, chunk: int = 500) -> dict[str, dict]:
    """For each VM named, the last redeploy or rollback that made it and that no apply ran
    (``{"vm", "action", "at", "to_label"}``); failed attempts do not count."""
    names = sorted(set(vms))
    out: dict[str, dict] = {}
    for i in range(0, len(names), chunk):  # well under SQLite's limit on bound parameters
        part = names[i:i + chunk]
        for r in reg.query(
                "SELECT a.vm, a.action, a.at, gt.system || '@' || gt.number AS to_label "
                "FROM audit a LEFT JOIN generations gt ON gt.id = a.to_generation_id "
                "WHERE a.apply_id IS NULL AND a.action IN ('redeploy', 'rollback') "
                "AND a.detail NOT LIKE 'failed:%' "
                f"AND a.vm IN ({','.join('?' * len(part))}) ORDER BY a.id", part):
            out[r["vm"]] = r
    return out
