"""Store items of a Guix system: their file names, the store database, manifests, provenance.

Facts used (docs/guix-facts.md, "Provenance inside the image" and "Store and daemon"):

- ``/gnu/store/`` + 32 characters of Nix base32 + ``-`` + name; the name splits into package
  and version at the first hyphen followed by a digit (``linux-libre-6.1.2`` is
  ``linux-libre`` 6.1.2; ``…-system`` has no version). Two items with the same file name have
  the same build inputs, so closures are compared by file name and never by content.
- the store database ``/var/guix/db/db.sqlite`` (Nix schema: ``ValidPaths`` with ``narSize``,
  ``Refs``) lists every item of an image with its size and references;
- ``<system>/profile/manifest`` (versions 3 and 4, ``repeated`` entries) lists the packages the
  system profile asked for; ``<system>/provenance`` the channels (with commits) and the
  configuration file it was built from.

Nothing here reads images: callers hand in text or a copied-out database file.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import sexpdata

from vmfleet.errors import ImageError, SchemeError
from vmfleet.guix.reader import read_forms

STORE = "/gnu/store"
NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"  # no e, o, t, u
HASH_LEN = 32
_NAME_CHARS = re.compile(r"^[A-Za-z0-9+\-._?=]+$")
_STORE_PATH = re.compile(rf"^{STORE}/([{NIX_BASE32}]{{{HASH_LEN}}})-([^/]+)$")
_VERSION_START = re.compile(r"-(?=[0-9])")


# --- file names ------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class StoreName:
    """The parts of a store file name ``/gnu/store/HASH-PACKAGE-VERSION``."""

    path: str
    hash: str
    name: str          # everything after 'HASH-'
    package: str       # name before the version
    version: str       # '' when the name has none

    @property
    def basename(self) -> str:
        return f"{self.hash}-{self.name}"


def split_name(name: str) -> tuple[str, str]:
    """Split a store item name at the first hyphen followed by a digit: (package, version).

    Guix's own rule (guix/build/utils.scm ``package-name->name+version``), lossy by design:
    ``emacs-2048-game-…`` gives ``emacs``. ``item_name`` is the one to pair items with.
    """
    m = _VERSION_START.search(name)
    if m is None:
        return name, ""
    return name[:m.start()], name[m.end():]


# Outputs a package commonly has besides "out" (the item of output O is NAME-VERSION-O).
OUTPUTS = frozenset({"lib", "doc", "static", "debug", "out", "bin", "dev", "include", "man",
                     "info", "python", "gui", "tools", "utils", "tests", "cli", "gtk", "tk",
                     "jdk", "send-email", "svn", "credential-netrc", "subtree", "fonts",
                     "examples", "html", "pdf", "devel", "runtime", "server", "client"})
_WORD_AFTER_DIGITS = re.compile(r"^[0-9]+[A-Za-z]{2,}")   # 8sync, 0xproto, 99designs


@dataclass(frozen=True)
class ItemName:
    """What a store item is an output of: package name, version and output."""

    package: str
    version: str
    output: str = "out"

    @property
    def key(self) -> str:
        """How diffs pair items: ``gcc`` and ``gcc:lib`` are different things."""
        return self.package if self.output == "out" else f"{self.package}:{self.output}"


def item_name(name: str) -> ItemName:
    """Guix's rule (the first hyphen followed by a digit), checked: a split whose "version"
    holds a word (``emacs``/``2048-game-…``, ``guile``/``8sync-0.4.2``,
    ``go-github-com``/``99designs-keyring-1.2.2``) or a short number before a real version
    (``chicken-srfi``/``1-0.5.1``) is not taken, the next hyphen-digit is; a trailing
    output (``-lib``, ``-doc``, ``-static``, ``-debug``…) is the output, not the version.
    A name no split fits keeps no version, so it never pairs with an unrelated package."""
    starts = [m.start() for m in _VERSION_START.finditer(name)]
    for i, pos in enumerate(starts):
        version, output = _strip_output(name[pos + 1:])
        if _version_like(version, more=i + 1 < len(starts)):
            return ItemName(name[:pos], version, output)
    return ItemName(name, "")


def _strip_output(rest: str) -> tuple[str, str]:
    for output in sorted(OUTPUTS, key=len, reverse=True):   # send-email before email
        if rest.endswith("-" + output) and len(rest) > len(output) + 1:
            return rest[:-len(output) - 1], output
    return rest, "out"


def _version_like(version: str, *, more: bool) -> bool:
    segments = version.split("-")
    if not all(s[:1].isdigit() for s in segments):
        return False                        # emacs-2048-game-…: "game" is no version
    first = segments[0]
    if "." not in first and _WORD_AFTER_DIGITS.match(first):
        return False                        # guile-8sync-0.4.2, font-0xproto-2.300
    if more and first.isdigit() and len(first) <= 3 and len(segments) > 1 \
            and "." in segments[1]:
        return False                        # chicken-srfi-1-0.5.1
    return True


def is_store_path(path: str) -> bool:
    m = _STORE_PATH.match(path)
    return bool(m and _NAME_CHARS.match(m.group(2)))


def parse_store_path(path: str) -> StoreName:
    """Parse ``/gnu/store/HASH-NAME`` (a bare ``HASH-NAME`` is accepted too).

    Only the top-level item: ``/gnu/store/HASH-NAME/bin/x`` is reduced to its item.
    """
    if not path.startswith("/"):
        path = f"{STORE}/{path}"
    if path.startswith(STORE + "/"):
        rest = path[len(STORE) + 1:]
        path = f"{STORE}/{rest.split('/', 1)[0]}"
    m = _STORE_PATH.match(path)
    if not m or not _NAME_CHARS.match(m.group(2)):
        raise ValueError(f"not a store file name: {path!r}")
    digest, name = m.group(1), m.group(2)
    package, version = split_name(name)
    return StoreName(path=path, hash=digest, name=name, package=package, version=version)


# --- versions --------------------------------------------------------------------------------

_COMPONENT = re.compile(r"[0-9]+|[^0-9.\-]+")


def version_components(version: str) -> list[str]:
    """Components of a version: runs of digits or of other characters; '.' and '-' separate."""
    return _COMPONENT.findall(version)


def _component_lt(a: str, b: str) -> bool:
    a_num, b_num = a.isdigit(), b.isdigit()
    if a_num and b_num:
        return int(a) < int(b)
    if a == "" and b_num:
        return True
    if a == "pre" and b != "pre":
        return True
    if b == "pre":
        return False
    if a_num:
        return False
    if b_num:
        return True
    return a < b


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version ``a`` is older than, equal to or newer than ``b``.

    The ordering Nix documents for package versions: numbers compare numerically and beat
    letters, a missing component is older than a number, and ``pre`` is older than anything.
    """
    ca, cb = version_components(a), version_components(b)
    for i in range(max(len(ca), len(cb))):
        x = ca[i] if i < len(ca) else ""
        y = cb[i] if i < len(cb) else ""
        if _component_lt(x, y):
            return -1
        if _component_lt(y, x):
            return 1
    return 0


# --- the store database ----------------------------------------------------------------------


@dataclass(frozen=True)
class StoreItem:
    """One store item: its file name, size in bytes (NAR size) and direct references."""

    path: str
    nar_size: int | None = None
    references: tuple[str, ...] = ()
    registered: int | None = None      # registrationTime (seconds since the epoch)

    @property
    def parsed(self) -> StoreName:
        return parse_store_path(self.path)

    @property
    def item_name(self) -> ItemName:
        return item_name(self.path.rsplit("/", 1)[-1][HASH_LEN + 1:])

    @property
    def package(self) -> str:
        return self.item_name.package

    @property
    def version(self) -> str:
        return self.item_name.version

    @property
    def output(self) -> str:
        return self.item_name.output


def read_store_db(db_file: str | Path, *, label: str | None = None) -> dict[str, StoreItem]:
    """Every valid path of a store database (a copied-out ``db.sqlite``), by file name."""
    label = label or str(db_file)
    try:
        conn = sqlite3.connect(f"file:{Path(db_file).absolute()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise ImageError(f"{label}: cannot open the store database ({e})",
                         "is the image corrupt?") from None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"ValidPaths", "Refs"} <= tables:
            raise ImageError(f"{label} is not a Guix store database (no ValidPaths/Refs tables)",
                             "is /var/guix/db/db.sqlite damaged?")
        paths: dict[int, tuple[str, int | None, int | None]] = {}
        for ident, path, nar, when in conn.execute(
                "SELECT id, path, narSize, registrationTime FROM ValidPaths"):
            paths[ident] = (path, nar, when)
        refs: dict[int, list[str]] = {}
        for referrer, reference in conn.execute("SELECT referrer, reference FROM Refs"):
            if reference in paths:
                refs.setdefault(referrer, []).append(paths[reference][0])
    except sqlite3.DatabaseError as e:
        raise ImageError(f"{label}: unreadable store database ({e})",
                         "is the image truncated or corrupt?") from None
    finally:
        conn.close()
    return {
        path: StoreItem(path=path, nar_size=nar,
                        references=tuple(sorted(set(refs.get(ident, ())))), registered=when)
        for ident, (path, nar, when) in paths.items()
    }


def closure(items: Mapping[str, StoreItem], roots: Iterable[str]) -> set[str]:
    """The file names reachable from ``roots`` through references (roots included)."""
    seen: set[str] = set()
    todo = [r for r in roots if r in items]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(r for r in items[path].references if r not in seen and r in items)
    return seen


# --- Scheme data (manifest, provenance) ------------------------------------------------------


def _read_forms(text: str, filename: str) -> list:
    return list(read_forms(text, filename))


def _sym(value) -> str | None:
    if isinstance(value, sexpdata.Symbol):
        return value.value()
    return None


def _str(value) -> str | None:
    if isinstance(value, str) and not isinstance(value, sexpdata.Symbol):
        return value
    if isinstance(value, sexpdata.String):
        return value.value()
    return None


def _field(form: list, name: str):
    """The first ``(name ...)`` sub-list of ``form``, or None."""
    for item in form:
        if isinstance(item, list) and item and _sym(item[0]) == name:
            return item
    return None


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    version: str
    output: str
    path: str
    propagated: tuple[ManifestEntry, ...] = ()


@dataclass(frozen=True)
class Manifest:
    version: int
    entries: tuple[ManifestEntry, ...]

    def all_entries(self) -> list[ManifestEntry]:
        """Top-level entries and their propagated inputs, each item once."""
        out: dict[str, ManifestEntry] = {}
        todo = list(self.entries)
        while todo:
            e = todo.pop(0)
            if e.path not in out:
                out[e.path] = e
                todo.extend(e.propagated)
        return list(out.values())


def parse_manifest(text: str, filename: str = "manifest") -> Manifest:
    """Parse a profile manifest, versions 3 and 4 (older ones as far as their shape allows)."""
    forms = _read_forms(text, filename)
    if not forms or not isinstance(forms[0], list) or _sym(forms[0][0]) != "manifest":
        raise SchemeError(f"{filename}: not a profile manifest",
                          "expected (manifest (version N) …)")
    form = forms[0]
    version_form = _field(form, "version")
    version = version_form[1] if version_form and len(version_form) > 1 else 0
    if not isinstance(version, int):
        raise SchemeError(f"{filename}: bad manifest version {version!r}")
    if version > 4:
        raise SchemeError(f"{filename}: manifest version {version} is newer than vmfleet knows",
                          "upgrade vmfleet")
    packages = _field(form, "packages")
    listed = packages[1] if packages and len(packages) > 1 else []
    if not isinstance(listed, list):
        raise SchemeError(f"{filename}: bad (packages …) in the manifest")
    seen: dict[str, ManifestEntry] = {}
    entries = tuple(_manifest_entry(e, filename, seen) for e in listed)
    return Manifest(version=version, entries=entries)


def _manifest_entry(form, filename: str, seen: dict[str, ManifestEntry]) -> ManifestEntry:
    if not isinstance(form, list) or not form:
        raise SchemeError(f"{filename}: bad manifest entry {form!r}")
    if _sym(form[0]) == "repeated":
        # (repeated NAME VERSION ITEM): an entry written out in full earlier.
        name, version, path = (_str(x) for x in form[1:4])
        if path in seen:
            return seen[path]
        return ManifestEntry(name=name or "", version=version or "", output="out",
                             path=path or "")
    name, version, output, path = (_str(x) for x in form[:4])
    if name is None or path is None:
        raise SchemeError(f"{filename}: bad manifest entry {form!r}")
    propagated: tuple[ManifestEntry, ...] = ()
    deps = _field(form[4:], "propagated-inputs")
    if deps is not None and len(deps) > 1 and isinstance(deps[1], list):
        propagated = tuple(_manifest_entry(d, filename, seen) for d in deps[1])
    entry = ManifestEntry(name=name, version=version or "", output=output or "out", path=path,
                          propagated=propagated)
    seen.setdefault(path, entry)
    return entry


@dataclass(frozen=True)
class ChannelPin:
    """A channel as provenance records it (no introduction)."""

    name: str
    url: str
    branch: str | None
    commit: str | None


@dataclass(frozen=True)
class Provenance:
    version: int
    channels: tuple[ChannelPin, ...]
    configuration_file: str | None
    # (configuration-file #f): the system came from ``guix system -e EXPR``, which has no
    # file to record (gnu/services.scm, provenance-file; guix/scripts/system.scm passes #f)
    expression: bool = False


def parse_provenance(text: str, filename: str = "provenance") -> Provenance:
    """Parse ``<system>/provenance``.

    ``(provenance (version 0) (channels (channel (name guix) (url …) (commit …)) …)
    (configuration-file "/gnu/store/…-configuration.scm"))``
    """
    forms = _read_forms(text, filename)
    if not forms or not isinstance(forms[0], list) or _sym(forms[0][0]) != "provenance":
        raise SchemeError(f"{filename}: not a provenance file",
                          "expected (provenance (version 0) …)")
    form = forms[0]
    version_form = _field(form, "version")
    version = version_form[1] if version_form and len(version_form) > 1 else 0
    channels = []
    for ch in (_field(form, "channels") or [None])[1:]:
        if not isinstance(ch, list) or _sym(ch[0]) != "channel":
            continue

        def value(key, ch=ch):
            f = _field(ch[1:], key)
            if not f or len(f) < 2:
                return None
            return _sym(f[1]) or _str(f[1])

        channels.append(ChannelPin(name=value("name") or "", url=value("url") or "",
                                   branch=value("branch"), commit=value("commit")))
    config = _field(form, "configuration-file")
    config_file = _str(config[1]) if config and len(config) > 1 else None
    expression = bool(config) and len(config) > 1 and config[1] is False
    return Provenance(version=version if isinstance(version, int) else 0,
                      channels=tuple(channels), configuration_file=config_file,
                      expression=expression)
