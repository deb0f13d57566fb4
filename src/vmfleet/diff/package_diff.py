"""The packages layer: store items grouped by package, classified as upgraded, downgraded,
added, removed, rebuilt or changed, with sizes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vmfleet.guix.store import ItemName, StoreItem, compare_versions
from vmfleet.inspect.facts import ImageFacts

# --- packages --------------------------------------------------------------------------------

PACKAGE_ORDER = ("upgraded", "downgraded", "added", "removed", "rebuilt", "changed")


@dataclass(frozen=True)
class PackageChange:
    name: str
    change: str                  # added, removed, upgraded, downgraded, rebuilt, changed
    versions_a: tuple[str, ...]
    versions_b: tuple[str, ...]
    size_a: int | None
    size_b: int | None
    requested: bool              # the system profile asked for it (in either image)
    paths_a: tuple[str, ...] = ()
    paths_b: tuple[str, ...] = ()
    # The versions the store items are (what runs): a profile entry with a replacement (a
    # security graft) names its own version in the manifest but is the replacement's item
    # (guix/packages.scm@60c97924e95:1692, guix/profiles.scm@60c97924e95:396).
    runs_a: tuple[str, ...] = ()
    runs_b: tuple[str, ...] = ()

    @property
    def grafted(self) -> bool:
        return (self.runs_a != self.versions_a and bool(self.runs_a)) or \
            (self.runs_b != self.versions_b and bool(self.runs_b))

    @property
    def size_delta(self) -> int | None:
        if self.size_a is None and self.size_b is None:
            return None
        return (self.size_b or 0) - (self.size_a or 0)


@dataclass(frozen=True)
class PackagesDiff:
    changes: tuple[PackageChange, ...]
    items_a: int
    items_b: int
    size_a: int | None
    size_b: int | None
    unchanged: int               # package names present in both with the same items
    unchanged_names: tuple[tuple[str, str], ...] = ()   # (name, versions) of those, for --all

    @property
    def equal(self) -> bool:
        return not self.changes

    @property
    def size_delta(self) -> int | None:
        if self.size_a is None or self.size_b is None:
            return None
        return self.size_b - self.size_a


def _group(items: Iterable[StoreItem], named: dict[str, ItemName]
           ) -> dict[str, list[tuple[StoreItem, ItemName]]]:
    """Items by what they are an output of: the profile manifest's (NAME VERSION OUTPUT) where
    it names the item, else ``item_name`` (Guix's rule, checked). ``gcc`` and ``gcc:lib`` are
    apart; ``emacs-2048-game`` never joins ``emacs``."""
    groups: dict[str, list[tuple[StoreItem, ItemName]]] = {}
    for item in items:
        name = named.get(item.path) or item.item_name
        groups.setdefault(name.key, []).append((item, name))
    return groups


def _manifest_names(facts: ImageFacts) -> dict[str, ItemName]:
    return {p.path: ItemName(p.name, p.version, p.output or "out") for p in facts.packages}


def _size(pairs: list[tuple[StoreItem, ItemName]]) -> int | None:
    items = [i for i, _n in pairs]
    if not items:
        return 0
    if any(i.nar_size is None for i in items):
        return None
    return sum(i.nar_size or 0 for i in items)


def _newest(versions: Iterable[str]) -> str:
    best = ""
    for v in versions:
        if compare_versions(v, best) > 0:
            best = v
    return best


def classify(versions_a: Sequence[str], versions_b: Sequence[str], paths_equal: bool) -> str:
    """How a package changed, from its versions on both sides (multisets) and its file names."""
    if not versions_a:
        return "added"
    if not versions_b:
        return "removed"
    if paths_equal:
        return "unchanged"
    if sorted(versions_a) == sorted(versions_b):
        return "rebuilt"
    order = compare_versions(_newest(versions_b), _newest(versions_a))
    if order > 0:
        return "upgraded"
    if order < 0:
        return "downgraded"
    return "changed"


def diff_packages(a: ImageFacts, b: ImageFacts) -> PackagesDiff:
    ga, gb = _group(a.items, _manifest_names(a)), _group(b.items, _manifest_names(b))
    requested = {p.name if p.output in ("out", "") else f"{p.name}:{p.output}"
                 for p in (*a.packages, *b.packages)}
    requested_paths = {p.path for p in (*a.packages, *b.packages)}
    changes = []
    unchanged = 0
    kept: list[tuple[str, str]] = []
    for name in sorted(set(ga) | set(gb)):
        ia, ib = ga.get(name, []), gb.get(name, [])
        pa = tuple(sorted(i.path for i, _n in ia))
        pb = tuple(sorted(i.path for i, _n in ib))
        if pa == pb:  # the same file names: the same items (most of a closure)
            unchanged += 1
            kept.append((name, ", ".join(dict.fromkeys(n.version for _i, n in ia))))
            continue
        va = tuple(sorted((n.version for _i, n in ia), key=_version_key))
        vb = tuple(sorted((n.version for _i, n in ib), key=_version_key))
        ra = tuple(sorted((i.version for i, _n in ia), key=_version_key))
        rb = tuple(sorted((i.version for i, _n in ib), key=_version_key))
        kind = classify(va, vb, False)
        if kind == "rebuilt" and sorted(ra) != sorted(rb):
            kind = classify(ra, rb, False)    # the same entry, another replacement runs
        asked = name in requested or bool(requested_paths & {*pa, *pb})
        changes.append(PackageChange(name, kind, va, vb, _size(ia), _size(ib), asked, pa, pb,
                                     ra, rb))
    changes.sort(key=lambda c: (PACKAGE_ORDER.index(c.change), c.name))
    return PackagesDiff(tuple(changes), len(a.items), len(b.items), a.closure_size,
                        b.closure_size, unchanged, tuple(kept))


def _version_key(v: str):
    import functools

    return functools.cmp_to_key(compare_versions)(v)
