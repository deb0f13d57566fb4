"""Same bytes? The files inside store items that both images hold under the same name.

A store file name is a hash of the build's inputs, so two items with the same file name hold
the same files (counted as identical without reading them). Two items with the same *name*
(``python-3.10.7``) but different hashes were built from different inputs; this module reads
both and says how they differ:

- ``identical``: every file, link and mode the same;
- ``references``: equal once every store file name is replaced by a placeholder
  (``/gnu/store/HASH-`` → ``/gnu/store/<hash>-``): the item differs only in the file names of
  other store items it refers to (or its own), which is what a rebuild caused by a changed
  dependency looks like; the daemon finds references by scanning for exactly these hashes
  (nix/libstore/references.cc, ``scanForReferences`` in nix/libstore/build.cc@43770a9d8ac:3250);
- ``content``: some file differs beyond that: listed with both sizes, and for ELF files the
  sections whose bytes differ.

Only the items that differ are read (one ``debugfs`` batch per directory level, per image).
"""

from __future__ import annotations

import os
import re
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vmfleet.errors import ImageError
from vmfleet.guix.store import HASH_LEN, NIX_BASE32, STORE, StoreItem

_STORE_REF = re.compile(rb"/gnu/store/[" + NIX_BASE32.encode() + rb"]{32}-")
_PLACEHOLDER = b"/gnu/store/" + b"<hash>".ljust(HASH_LEN, b"-") + b"-"
_TEXT_REF = re.compile(r"/gnu/store/[" + NIX_BASE32 + r"]{32}-")
WHOLE_FILE_LIMIT = 64 << 20     # larger plain files are compared by hash, not read whole


@dataclass(frozen=True)
class FileDifference:
    path: str                  # inside the item ('' for an item that is one file)
    how: str                   # content, references, added, removed, type, mode, target
    size_a: int | None = None
    size_b: int | None = None
    sections: tuple[str, ...] = ()    # ELF sections whose bytes differ (after placeholders)


@dataclass(frozen=True)
class ItemComparison:
    name: str                  # the item's name without its hash: python-3.10.7
    path_a: str
    path_b: str
    verdict: str               # identical, references, content
    files: int                 # files (and links) compared
    differences: tuple[FileDifference, ...] = ()


@dataclass(frozen=True)
class ContentDiff:
    same_hash: int                               # items with equal file names in both images
    items: tuple[ItemComparison, ...]            # same name, different hashes
    unpaired: tuple[str, ...] = ()               # names held more than once on a side
    bytes_read: int = 0
    seconds: float = 0.0

    def count(self, verdict: str) -> int:
        n = sum(1 for i in self.items if i.verdict == verdict)
        return n + (self.same_hash if verdict == "identical" else 0)

    def verdict_of(self, path: str) -> ItemComparison | None:
        return next((i for i in self.items if path in (i.path_a, i.path_b)), None)


def item_label(path: str) -> str:
    return path.rsplit("/", 1)[-1][HASH_LEN + 1:]


def pairs(items_a: Iterable[StoreItem], items_b: Iterable[StoreItem]
          ) -> tuple[int, list[tuple[str, str]], list[str]]:
    """(items with the same file name, pairs of same-name items with different hashes,
    names held more than once on one side and so not paired)."""
    pa = {i.path for i in items_a}
    pb = {i.path for i in items_b}
    same = len(pa & pb)
    by_a: dict[str, list[str]] = {}
    by_b: dict[str, list[str]] = {}
    for p in pa - pb:
        by_a.setdefault(item_label(p), []).append(p)
    for p in pb - pa:
        by_b.setdefault(item_label(p), []).append(p)
    out, unpaired = [], []
    for name in sorted(set(by_a) & set(by_b)):
        if len(by_a[name]) == 1 and len(by_b[name]) == 1:
            out.append((by_a[name][0], by_b[name][0]))
        else:
            unpaired.append(name)
    return same, out, unpaired


def normalize(data: bytes) -> bytes:
    """Every store file name's hash replaced by the same placeholder (same length)."""
    return _STORE_REF.sub(_PLACEHOLDER, data)


# --- reading both images ---------------------------------------------------------------------


def compare_images(image_a: str, image_b: str, items_a: Sequence[StoreItem],
                   items_b: Sequence[StoreItem], *, only: Iterable[str] | None = None
                   ) -> ContentDiff:
    """Compare the same-name items of two images (``only``: just these names)."""
    from contextlib import ExitStack

    from vmfleet.inspect.disk import open_disk

    started = time.monotonic()
    same, paired, unpaired = pairs(items_a, items_b)
    if only is not None:
        wanted = set(only)
        paired = [(a, b) for a, b in paired if item_label(a) in wanted]
    if not paired:
        return ContentDiff(same, (), tuple(unpaired), 0, time.monotonic() - started)
    with ExitStack() as stack:
        fs_a = stack.enter_context(open_disk(image_a)).guix_root()[1]
        fs_b = stack.enter_context(open_disk(image_b)).guix_root()[1]
        trees_a = _trees(fs_a, [a for a, _b in paired])
        trees_b = _trees(fs_b, [b for _a, b in paired])
        reader = _Reader(fs_a, fs_b)
        results = tuple(_compare_item(a, b, trees_a.get(a, {}), trees_b.get(b, {}), reader)
                        for a, b in paired)
    return ContentDiff(same, results, tuple(unpaired), reader.bytes_read,
                       time.monotonic() - started)


def compare_outputs(path_a: str, path_b: str) -> ItemComparison:
    """Two results of one derivation (``guix build --check --keep-failed`` leaves OUT and
    OUT-check): the files of their Guix root file systems when they are images (a qcow2, a
    raw disk, an ext4 ``partition.img``), else the two files' bytes."""
    from contextlib import ExitStack

    from vmfleet.inspect.disk import open_disk

    try:
        with ExitStack() as stack:
            fs_a = stack.enter_context(open_disk(path_a)).guix_root()[1]
            fs_b = stack.enter_context(open_disk(path_b)).guix_root()[1]
            ta = _walk(fs_a, {"/": fs_a.root()})
            tb = _walk(fs_b, {"/": fs_b.root()})
            reader = _Reader(fs_a, fs_b)
            result = _compare_item(path_a, path_b, ta["/"], tb["/"], reader)
            return ItemComparison(item_label(path_b) or path_b, path_a, path_b, result.verdict,
                                  result.files, tuple(d for d in result.differences
                                                      if d.path != ""))
    except ImageError:
        pass
    size_a, size_b = os.path.getsize(path_a), os.path.getsize(path_b)
    if max(size_a, size_b) > WHOLE_FILE_LIMIT:
        same = _file_hash(path_a) == _file_hash(path_b)
        how = "identical" if same else "content"
    else:
        with open(path_a, "rb") as fa, open(path_b, "rb") as fb:
            a, b = fa.read(), fb.read()
        how = ("identical" if a == b else "references" if normalize(a) == normalize(b)
               else "content")
    diffs = () if how == "identical" else (FileDifference("", how, size_a, size_b),)
    return ItemComparison(item_label(path_b) or path_b, path_a, path_b, how, 1, diffs)


def _file_hash(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(fs, roots: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each root entry: relative path → Entry, read level by level across all roots."""
    trees: dict[str, dict[str, Any]] = {}
    level = []
    for key, e in roots.items():
        trees[key] = {"": e}
        if e.is_dir:
            level.append((key, "", e))
    return _descend(fs, trees, level)


def _trees(fs, paths: list[str]) -> dict[str, dict[str, object]]:
    """For each store item: relative path → Entry, read level by level across all items."""
    store = {e.name: e for e in fs.listdir(STORE)}
    return _walk(fs, {p: store[p.rsplit("/", 1)[-1]] for p in paths
                      if p.rsplit("/", 1)[-1] in store})


def _descend(fs, trees, level):
    while level:
        fs.load_dirs(e.ino for _p, _r, e in level)
        following = []
        for item, rel, d in level:
            for child in fs.listdir(d):
                crel = f"{rel}/{child.name}" if rel else child.name
                trees[item][crel] = child
                if child.is_dir:
                    following.append((item, crel, child))
        level = following
    return trees


class _Reader:
    """Hashes, link targets and (for files whose hashes differ) contents, in batches."""

    def __init__(self, fs_a, fs_b):
        self.fs = {"a": fs_a, "b": fs_b}
        self.bytes_read = 0

    def hashes(self, side: str, entries: list) -> dict[int, str]:
        out = self.fs[side].hash_many(entries)
        self.bytes_read += sum(e.size for e in entries)
        return {ino: h for ino, (h, _t) in out.items()}

    def targets(self, side: str, entries: list) -> dict[int, str]:
        return self.fs[side].readlinks(entries) if entries else {}

    def contents(self, side: str, entries: list) -> list[bytes]:
        self.bytes_read += sum(e.size for e in entries)
        return self.fs[side].read_many(entries) if entries else []


def _compare_item(path_a: str, path_b: str, tree_a: dict, tree_b: dict,
                  reader: _Reader) -> ItemComparison:
    diffs: list[FileDifference] = []
    for rel in sorted(set(tree_a) - set(tree_b)):
        diffs.append(FileDifference(rel, "removed", tree_a[rel].size, None))
    for rel in sorted(set(tree_b) - set(tree_a)):
        diffs.append(FileDifference(rel, "added", None, tree_b[rel].size))
    common = sorted(set(tree_a) & set(tree_b))
    files, links = [], []
    for rel in common:
        ea, eb = tree_a[rel], tree_b[rel]
        if ea.kind != eb.kind:
            diffs.append(FileDifference(rel, "type", ea.size, eb.size))
        elif ea.perm != eb.perm:
            diffs.append(FileDifference(rel, "mode", ea.size, eb.size))
        elif ea.is_file:
            files.append(rel)
        elif ea.is_symlink:
            links.append(rel)
    ta = reader.targets("a", [tree_a[r] for r in links])
    tb = reader.targets("b", [tree_b[r] for r in links])
    for rel in links:
        x, y = ta.get(tree_a[rel].ino, ""), tb.get(tree_b[rel].ino, "")
        if x != y:
            how = "references" if _TEXT_REF.sub("", x) == _TEXT_REF.sub("", y) else "target"
            diffs.append(FileDifference(rel, how, len(x), len(y)))
    ha = reader.hashes("a", [tree_a[r] for r in files])
    hb = reader.hashes("b", [tree_b[r] for r in files])
    differing = [r for r in files if ha.get(tree_a[r].ino) != hb.get(tree_b[r].ino)]
    ca = reader.contents("a", [tree_a[r] for r in differing])
    cb = reader.contents("b", [tree_b[r] for r in differing])
    for rel, data_a, data_b in zip(differing, ca, cb, strict=True):
        nx, ny = normalize(data_a), normalize(data_b)
        if nx == ny:
            diffs.append(FileDifference(rel, "references", len(data_a), len(data_b)))
        else:
            diffs.append(FileDifference(rel, "content", len(data_a), len(data_b),
                                        elf_sections(nx, ny)))
    hows = {d.how for d in diffs}
    verdict = ("identical" if not diffs else "references" if hows == {"references"}
               else "content")
    return ItemComparison(item_label(path_b), path_a, path_b, verdict, len(files) + len(links),
                          tuple(diffs))


# --- ELF -------------------------------------------------------------------------------------


def elf_sections(a: bytes, b: bytes) -> tuple[str, ...]:
    """Names of the sections whose bytes differ between two ELF files (both must be ELF);
    sections in one file only count as differing."""
    sa, sb = read_sections(a), read_sections(b)
    if sa is None or sb is None:
        return ()
    out = [name for name in dict.fromkeys([*sa, *sb]) if sa.get(name) != sb.get(name)]
    return tuple(out)


def read_sections(data: bytes) -> dict[str, bytes] | None:
    """An ELF file's sections (name → bytes; SHT_NOBITS as empty), or None if not ELF.

    Untrusted input: every offset is checked against the file; a malformed header gives None.
    """
    if len(data) < 52 or data[:4] != b"\x7fELF":
        return None
    cls, enc = data[4], data[5]
    if cls not in (1, 2) or enc not in (1, 2):
        return None
    end = "<" if enc == 1 else ">"
    try:
        if cls == 2:
            shoff, = struct.unpack_from(end + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
            fmt = end + "IIQQQQ"          # name, type, flags, addr, offset, size
        else:
            shoff, = struct.unpack_from(end + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)
            fmt = end + "IIIIII"
        if shnum == 0 or shnum > 65535 or shoff + shnum * shentsize > len(data) \
                or shstrndx >= shnum or shentsize < struct.calcsize(fmt):
            return None
        headers = []
        for i in range(shnum):
            f = struct.unpack_from(fmt, data, shoff + i * shentsize)
            headers.append((f[0], f[1], f[4], f[5]))
        _n, _t, stroff, strsize = headers[shstrndx]
        if stroff + strsize > len(data):
            return None
        strtab = data[stroff:stroff + strsize]
        out: dict[str, bytes] = {}
        for i, (name, typ, offset, size) in enumerate(headers):
            if i == 0:
                continue
            label = strtab[name:strtab.find(b"\0", name)].decode("ascii", "replace") \
                if name < len(strtab) else f"#{i}"
            if typ == 8:                      # SHT_NOBITS (.bss): no bytes in the file
                body = struct.pack("<Q", size)
            elif offset + size > len(data):
                return None
            else:
                body = data[offset:offset + size]
            out[label or f"#{i}"] = body
        return out
    except struct.error:
        return None


# --- words -----------------------------------------------------------------------------------


def summary_line(c: ContentDiff) -> str:
    """``same bytes: 41 items identical · 9 differ only in references … · 2 differ in content:
    python-3.10.7 (12 files: lib/libpython3.10.so.1.0 …), partition.img``"""
    parts = [f"{c.count('identical')} items identical",
             f"{c.count('references')} differ only in references to other rebuilt items"]
    content = [i for i in c.items if i.verdict == "content"]
    text = f"{len(content)} differ in content"
    if content:
        text += ": " + ", ".join(_content_brief(i) for i in content)
    parts.append(text)
    return "same bytes: " + " · ".join(parts)


def _content_brief(i: ItemComparison) -> str:
    changed = [d for d in i.differences if d.how != "references"]
    if len(changed) == 1 and changed[0].path == "":
        return i.name
    first = changed[0].path if changed else ""
    more = " …" if len(changed) > 1 else ""
    noun = "file" if len(changed) == 1 else "files"
    return f"{i.name} ({len(changed)} {noun}: {first}{more})"


def difference_line(d: FileDifference) -> str:
    where = d.path or "(the item itself)"
    if d.how in ("added", "removed"):
        size = d.size_b if d.how == "added" else d.size_a
        return f"{d.how} {where} ({size} B)"
    text = f"{d.how} {where}  {d.size_a} → {d.size_b} B"
    if d.sections:
        text += "  sections: " + ", ".join(d.sections)
    return text
