"""The config layer: summary fields and services that changed, or the text diff with ``--text``."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from vmfleet.diff.sides import Side

# --- config ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ServiceChange:
    type: str
    kind: str                    # service, simple-service, base, modified, deleted, other
    change: str                  # added, removed, reconfigured
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ConfigDiff:
    fields: tuple[FieldChange, ...] = ()
    packages_added: tuple[str, ...] = ()
    packages_removed: tuple[str, ...] = ()
    services: tuple[ServiceChange, ...] = ()
    text_changed: bool = False
    structural: bool = True      # False when a config could not be read structurally
    text_diff: str | None = None

    @property
    def equal(self) -> bool:
        return not self.text_changed


def diff_config(a: Side, b: Side, *, text: bool = False) -> ConfigDiff:
    ta, tb = a.config_text or "", b.config_text or ""
    unified = None
    if text and ta != tb:
        unified = "".join(difflib.unified_diff(
            ta.splitlines(keepends=True), tb.splitlines(keepends=True),
            fromfile=f"a/{a.config_name}", tofile=f"b/{b.config_name}"))
    if ta == tb:
        return ConfigDiff(text_diff=unified)
    sa, sb = a.summary, b.summary
    if sa is None or sb is None:
        return ConfigDiff(text_changed=True, structural=False, text_diff=unified)
    pa, pb = list(sa.get("packages", [])), list(sb.get("packages", []))
    added = tuple(p for p in dict.fromkeys(pb) if p not in pa)
    removed = tuple(p for p in dict.fromkeys(pa) if p not in pb)
    services = _diff_services(sa.get("services", []), sb.get("services", []))
    fa, fb = sa.get("fields", {}), sb.get("fields", {})
    fields = []
    for name in _ordered_union(fa, fb):
        if fa.get(name) == fb.get(name):
            continue
        # Packages and services are listed one by one below; their field is only worth a line
        # when the change is something else (order, spelling).
        if name == "packages" and (added or removed):
            continue
        if name == "services" and services:
            continue
        fields.append(FieldChange(name, fa.get(name), fb.get(name)))
    return ConfigDiff(fields=tuple(fields), packages_added=added, packages_removed=removed,
                      services=services, text_changed=True, text_diff=unified)


def _ordered_union(a: Mapping, b: Mapping) -> list:
    return list(dict.fromkeys([*a, *b]))


def _diff_services(a: list[dict], b: list[dict]) -> tuple[ServiceChange, ...]:
    def group(services):
        out: dict[tuple[str, str], list[str]] = {}
        for s in services:
            key = (s.get("type", "?"), s.get("kind", "service"))
            out.setdefault(key, []).append(s.get("config", ""))
        return out

    ga, gb = group(a), group(b)
    changes = []
    for key in _ordered_union(ga, gb):
        type_, kind = key
        ca, cb = ga.get(key, []), gb.get(key, [])
        if ca == cb:
            continue
        if not ca:
            changes += [ServiceChange(type_, kind, "added", None, c) for c in cb]
        elif not cb:
            changes += [ServiceChange(type_, kind, "removed", c, None) for c in ca]
        else:
            # The same type in both: pair them in order; extra instances are added/removed.
            for i in range(max(len(ca), len(cb))):
                before = ca[i] if i < len(ca) else None
                after = cb[i] if i < len(cb) else None
                if before == after:
                    continue
                change = ("added" if before is None else "removed" if after is None
                          else "reconfigured")
                changes.append(ServiceChange(type_, kind, change, before, after))
    return tuple(changes)
