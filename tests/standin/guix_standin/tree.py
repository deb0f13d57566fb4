"""File trees of store items, written to disk and serialised as NARs.

A store item's content is a node: ``File`` (bytes given inline, copied from a host file, or
deterministic incompressible filler), ``Link`` or ``Dir``. The same description is written to
the image's root tree and serialised as a NAR for the store database, so ``narSize`` and
``hash`` there are those of the files really in the image.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .nix import NarWriter

CHUNK = 1 << 20
_POOL_SIZE = 8 << 20
_pool: bytes | None = None


def _random_pool() -> bytes:
    """8 MiB of fixed pseudo-random bytes: filler is cut from it, so it does not compress."""
    global _pool
    if _pool is None:
        _pool = random.Random("vmfleet guix stand-in filler").randbytes(_POOL_SIZE)
    return _pool


def filler_chunks(seed: str, size: int) -> Iterator[bytes]:
    """``size`` deterministic, incompressible bytes for ``seed`` (fast: slices of one pool)."""
    pool = _random_pool()
    offset = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "little") % _POOL_SIZE
    left = size
    while left > 0:
        n = min(left, CHUNK, _POOL_SIZE - offset)
        yield pool[offset:offset + n]
        left -= n
        offset = (offset + n) % _POOL_SIZE


@dataclass(frozen=True)
class File:
    data: bytes | None = None
    source: str | None = None            # a host file copied as it is
    filler: tuple[str, int] | None = None  # (seed, size)
    executable: bool = False

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        if self.source is not None:
            return os.path.getsize(self.source)
        return self.filler[1]

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
        elif self.source is not None:
            with open(self.source, "rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
        else:
            yield from filler_chunks(*self.filler)

    def digest(self) -> str:
        """A digest of what the file holds, cheap for filler (its seed and size)."""
        if self.filler is not None:
            return f"filler:{self.filler[0]}:{self.filler[1]}:{self.executable}"
        h = hashlib.sha256()
        for chunk in self.chunks():
            h.update(chunk)
        return f"{h.hexdigest()}:{self.executable}"


@dataclass(frozen=True)
class Link:
    target: str


@dataclass
class Dir:
    entries: dict[str, File | Link | Dir] = field(default_factory=dict)


Node = File | Link | Dir


def build(paths: dict[str, Node]) -> Dir:
    """A Dir from a flat {relative path: node} mapping (parents are made as needed)."""
    root = Dir()
    for rel, node in paths.items():
        parts = [p for p in rel.split("/") if p]
        d = root
        for p in parts[:-1]:
            nxt = d.entries.setdefault(p, Dir())
            if not isinstance(nxt, Dir):
                raise ValueError(f"{rel}: {p} is not a directory")
            d = nxt
        d.entries[parts[-1]] = node
    return root


def digest(node: Node) -> str:
    """A stable digest of a node tree (for content-addressed store file names)."""
    h = hashlib.sha256()

    def walk(n: Node, prefix: str) -> None:
        if isinstance(n, File):
            h.update(f"F {prefix} {n.digest()}\n".encode())
        elif isinstance(n, Link):
            h.update(f"L {prefix} {n.target}\n".encode())
        else:
            h.update(f"D {prefix}\n".encode())
            for name in sorted(n.entries):
                walk(n.entries[name], f"{prefix}/{name}")

    walk(node, "")
    return h.hexdigest()


def write(node: Node, dest: Path) -> None:
    """Write a node tree at ``dest`` (store permissions: read-only files, r-x dirs)."""
    if isinstance(node, File):
        with open(dest, "wb") as f:
            for chunk in node.chunks():
                f.write(chunk)
        os.chmod(dest, 0o555 if node.executable else 0o444)
    elif isinstance(node, Link):
        os.symlink(node.target, dest)
    else:
        dest.mkdir()
        for name in sorted(node.entries):
            write(node.entries[name], dest / name)
        os.chmod(dest, 0o555)


def nar(node: Node) -> tuple[int, str]:
    """(narSize, 'sha256:HEX') of a node tree, as Nix computes them for a store item."""
    w = NarWriter()
    w.string("nix-archive-1")

    def ser(n: Node) -> None:
        w.string("(")
        if isinstance(n, File):
            w.string("type")
            w.string("regular")
            if n.executable:
                w.string("executable")
                w.string("")
            w.string("contents")
            w.contents(n.size, n.chunks())
        elif isinstance(n, Link):
            w.string("type")
            w.string("symlink")
            w.string("target")
            w.string(n.target)
        else:
            w.string("type")
            w.string("directory")
            for name in sorted(n.entries, key=lambda s: s.encode()):
                w.string("entry")
                w.string("(")
                w.string("name")
                w.string(name)
                w.string("node")
                ser(n.entries[name])
                w.string(")")
        w.string(")")

    ser(node)
    return w.size, w.hash
