"""A reproducible initramfs: the cpio "newc" format written directly, then gzip -n.

Written here rather than with ``cpio -o`` so that nothing of the build machine (inode
numbers, owners, times, the order a directory lists in) reaches the archive, and so that
/dev/console can be a device node without root. Same entries, same bytes.
"""

from __future__ import annotations

import gzip

from .tree import File, Node


def _header(ino: int, mode: int, nlink: int, mtime: int, size: int, name: str,
            rdev: tuple[int, int] = (0, 0)) -> bytes:
    name_b = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdev[0], rdev[1], len(name_b), 0]
    head = b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + name_b
    return head + b"\0" * ((-len(head)) % 4)


def newc(entries: list[tuple[str, Node]], dirs: tuple[str, ...], mtime: int) -> bytes:
    out = bytearray()
    ino = 1
    for d in sorted(set(dirs) | {"dev"}):
        out += _header(ino, 0o40755, 2, mtime, 0, d)
        ino += 1
    out += _header(ino, 0o20600, 1, mtime, 0, "dev/console", (5, 1))
    ino += 1
    for name, node in sorted(entries):
        if not isinstance(node, File):
            raise ValueError(f"{name}: only files go into the initrd")
        data = b"".join(node.chunks())
        out += _header(ino, 0o100755 if node.executable else 0o100644, 1, mtime, len(data),
                       name)
        out += data + b"\0" * ((-len(data)) % 4)
        ino += 1
    out += _header(0, 0, 1, 0, 0, "TRAILER!!!")
    return bytes(out)


def newc_gzip(entries, dirs, mtime: int) -> bytes:
    return gzip.compress(newc(entries, dirs, mtime), compresslevel=6, mtime=0)
