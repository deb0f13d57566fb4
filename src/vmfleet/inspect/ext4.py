"""Files inside an ext2/3/4 file system of a disk image, read with debugfs (no mount, no root).

``debugfs -c 'RAW?offset=BYTES'`` opens the file system of one partition in place. Every
lookup goes by inode number (``<INO>``), so names with spaces, quotes or odd bytes never need
quoting; paths are resolved here, component by component, from directory listings
(``ls -p``: inode, mode, owner, size per entry) that are cached per inode. Symbolic links are
resolved inside the image (an absolute target starts at the image's root, not the host's).

Many directories or files are read in one debugfs run (commands on stdin with ``-f -``; each
command's output follows its ``debugfs: CMD`` echo), so a whole tree walk costs a few
processes, not one per directory.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import stat as statmod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vmfleet.errors import CommandFailed, ImageError
from vmfleet.tools.run import run, which

ROOT_INO = 2
MAX_SYMLINKS = 40
BATCH = 500          # commands per debugfs run
DEBUGFS_TIMEOUT = 120  # seconds per debugfs run (a batch): the file system is untrusted
FAST_LINK_MAX = 60            # shorter symlink targets are kept in the inode
CAT_FILE_BYTES = 4 << 20      # files up to this size are read through batched cat
CAT_BATCH_BYTES = 32 << 20    # at most this much file content per debugfs run
LISTING = "'vmfleet inspect TARGET --files' lists the image's files"
SYMLINK_LOOP_HINT = ("the image has a symbolic link loop there; look at it with "
                     "'vmfleet inspect TARGET --files'")
DEBUGFS_ENV = {"PAGER": "__none__", "DEBUGFS_PAGER": "__none__", "LC_ALL": "C"}


@dataclass(frozen=True)
class Entry:
    """One directory entry with its inode's metadata."""

    name: str
    ino: int
    mode: int                # full st_mode (type and permission bits)
    uid: int
    gid: int
    size: int

    @property
    def kind(self) -> str:
        m = self.mode
        if statmod.S_ISDIR(m):
            return "dir"
        if statmod.S_ISREG(m):
            return "file"
        if statmod.S_ISLNK(m):
            return "symlink"
        if statmod.S_ISCHR(m):
            return "char"
        if statmod.S_ISBLK(m):
            return "block"
        if statmod.S_ISFIFO(m):
            return "fifo"
        if statmod.S_ISSOCK(m):
            return "socket"
        return "unknown"

    @property
    def perm(self) -> int:
        return statmod.S_IMODE(self.mode)

    @property
    def is_dir(self) -> bool:
        return statmod.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return statmod.S_ISLNK(self.mode)

    @property
    def is_file(self) -> bool:
        return statmod.S_ISREG(self.mode)


# An ``ls -p`` entry, and the start of one whose name went on past a newline. Names hold any
# byte but '/' and NUL, so debugfs's output can only be cut into lines safely by these shapes:
# an entry line is complete only when it ends in '/NAME/SIZE/', and until then every following
# line (even one that looks like a 'debugfs: …' echo) belongs to the name.
_LS_ENTRY = re.compile(r"/(\d+)/([0-7]+)/(\d+)/(\d+)/([^/]*)/(\d*)/", re.S)
_LS_START = re.compile(r"/\d+/[0-7]+/\d+/\d+/[^/]*", re.S)


def _ls_records(lines: Iterable[str]) -> Iterator[str]:
    """``ls -p`` output lines, joined back where a file name held newlines."""
    pending: str | None = None
    for line in lines:
        if pending is not None:
            pending += "\n" + line
            if _LS_ENTRY.fullmatch(pending):
                yield pending
                pending = None
            continue
        if _LS_START.fullmatch(line) and not _LS_ENTRY.fullmatch(line):
            pending = line
            continue
        yield line
    if pending is not None:
        yield pending


def parse_ls_p(text: str) -> list[Entry]:
    """Parse ``ls -p`` lines ``/INO/MODE/UID/GID/NAME/SIZE/`` ('.' and '..' dropped).

    Names cannot hold '/', but they can hold newlines: see ``_ls_records``.
    """
    entries = []
    for record in _ls_records(text.split("\n")):
        m = _LS_ENTRY.fullmatch(record)
        if not m:
            continue
        ino, mode, uid, gid, name, size = m.groups()
        if name in ("", ".", "..") or ino == "0":
            continue
        entries.append(Entry(name=name, ino=int(ino), mode=int(mode, 8), uid=int(uid),
                             gid=int(gid), size=int(size) if size.isdigit() else 0))
    return entries


def _split_sections(out: str) -> list[tuple[str, str]]:
    """Split the stdout of ``debugfs -f -`` into (command, output) pairs by its echo lines.

    Inside the output of an ``ls -p``, a line is an echo only where no entry is left open (a
    file name with a newline and 'debugfs: …' after it is part of that entry, not a section).
    """
    sections: list[tuple[str, list[str]]] = []
    pending = False
    for line in out.split("\n"):
        if not pending and line.startswith("debugfs: "):
            sections.append((line[len("debugfs: "):], []))
            continue
        if not sections:
            continue
        cmd, lines = sections[-1]
        lines.append(line)
        if cmd.startswith("ls -p"):
            if pending:
                pending = not _LS_ENTRY.fullmatch(_open_entry(lines))
            else:
                pending = bool(_LS_START.fullmatch(line)) and not _LS_ENTRY.fullmatch(line)
    return [(cmd, "\n".join(lines)) for cmd, lines in sections]


def _open_entry(lines: list[str]) -> str:
    """The entry still open at the end of ``lines`` (from its first line on)."""
    for i in range(len(lines) - 1, -1, -1):
        if _LS_START.fullmatch(lines[i].split("\n")[0]) and not _LS_ENTRY.fullmatch(lines[i]):
            return "\n".join(lines[i:])
    return ""


class Ext4:
    """An ext2/3/4 file system at byte ``offset`` of the raw disk file ``device``."""

    def __init__(self, device: Path, offset: int, label: str, *, workdir: Path | None = None):
        self.device = Path(device)
        self.offset = offset
        self.label = label
        self.workdir = Path(workdir) if workdir else None
        self._spec = f"{device}?offset={offset}" if offset else str(device)
        self._dirs: dict[int, list[Entry]] = {}
        self._root: Entry | None = None
        self._links: dict[int, str] = {}
        self.debugfs_runs = 0

    # --- running debugfs -----------------------------------------------------------------
    def _run(self, commands: list[str]) -> tuple[bytes, str]:
        """Run commands in one debugfs: one with ``-R`` (no echo), several on stdin."""
        self.debugfs_runs += 1
        if len(commands) == 1:
            argv, stdin = [which("debugfs"), "-c", "-R", commands[0], self._spec], None
        else:
            argv = [which("debugfs"), "-c", "-f", "-", self._spec]
            stdin = ("\n".join(commands) + "\n").encode()
        try:
            res = run(argv, check=False, input=stdin, env=DEBUGFS_ENV, text=False,
                      timeout=DEBUGFS_TIMEOUT)
        except CommandFailed as e:
            raise ImageError(f"{self.label}: debugfs failed: {e.message}",
                             "is the image corrupt?") from None
        err = res.stderr.decode("utf-8", "replace")
        if res.returncode != 0 or "Bad magic number" in err or "short read" in err:
            raise ImageError(f"{self.label}: cannot read the file system: {_debugfs_error(err)}",
                             "is the image truncated or corrupt? 'qemu-img check' and "
                             "'e2fsck -n' tell more")
        return res.stdout, err

    def _run_sections(self, commands: list[str]) -> list[tuple[str, str]]:
        out, err = self._run(commands)
        if len(commands) == 1:
            out = f"debugfs: {commands[0]}\n".encode() + out
        if "short read" in err or "Attempt to read block" in err:
            raise ImageError(f"{self.label}: read error: {_debugfs_error(err)}",
                             "the image is truncated or corrupt")
        return _split_sections(out.decode("utf-8", "surrogateescape"))

    # --- directories ---------------------------------------------------------------------
    def root(self) -> Entry:
        if self._root is None:
            sections = self._run_sections([f"ls -p <{ROOT_INO}>"])
            for line in sections[0][1].splitlines() if sections else []:
                if line.startswith(f"/{ROOT_INO}/") and line.split("/")[5] == ".":
                    p = line[1:-1].split("/")
                    self._root = Entry("/", ROOT_INO, int(p[1], 8), int(p[2]), int(p[3]), 0)
                    break
            if self._root is None:
                raise ImageError(f"{self.label}: not a readable ext file system",
                                 "is the image corrupt?")
            self._dirs[ROOT_INO] = parse_ls_p(sections[0][1])
        return self._root

    def listdir(self, directory: Entry | str) -> list[Entry]:
        """Entries of a directory (an Entry or a path; symlinks on the way are followed)."""
        entry = self.lookup(directory) if isinstance(directory, str) else directory
        if not entry.is_dir:
            raise ImageError(f"{self.label}: {entry.name} is not a directory",
                             f"give a directory; {LISTING}")
        self.load_dirs([entry.ino])
        return self._dirs[entry.ino]

    def load_dirs(self, inos: Iterable[int]) -> None:
        """Read the listings of many directories, in as few debugfs runs as possible."""
        todo = [i for i in dict.fromkeys(inos) if i not in self._dirs]
        for start in range(0, len(todo), BATCH):
            chunk = todo[start:start + BATCH]
            sections = self._run_sections([f"ls -p <{i}>" for i in chunk])
            by_cmd = {cmd: body for cmd, body in sections}
            for i in chunk:
                self._dirs[i] = parse_ls_p(by_cmd.get(f"ls -p <{i}>", ""))

    # --- paths ---------------------------------------------------------------------------
    def lookup(self, path: str, *, follow: bool = True) -> Entry:
        """The entry at ``path`` (absolute inside the image); ImageError when missing.

        Symlinks in the middle are always followed, the last one only with ``follow``.
        """
        entry = self._lookup(path, follow, 0)
        if entry is None:
            raise ImageError(f"{self.label}: {path} does not exist",
                             f"check the path (absolute, as inside the guest); {LISTING}")
        return entry

    def exists(self, path: str, *, follow: bool = True) -> bool:
        return self._lookup(path, follow, 0) is not None

    def _lookup(self, path: str, follow: bool, hops: int) -> Entry | None:
        if not path.startswith("/"):
            path = "/" + path
        parts = [p for p in path.split("/") if p and p != "."]
        stack: list[Entry] = [self.root()]
        i = 0
        while i < len(parts):
            name = parts[i]
            if name == "..":
                if len(stack) > 1:
                    stack.pop()
                i += 1
                continue
            current = stack[-1]
            if not current.is_dir:
                return None
            self.load_dirs([current.ino])
            found = next((e for e in self._dirs[current.ino] if e.name == name), None)
            if found is None:
                return None
            last = i == len(parts) - 1
            if found.is_symlink and (follow or not last):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise ImageError(f"{self.label}: too many levels of symbolic links at {path}",
                                     SYMLINK_LOOP_HINT)
                target = self.readlink(found)
                base = "/" + "/".join(e.name for e in stack[1:])
                resolved = posixpath.join(base, target)
                rest = parts[i + 1:]
                full = posixpath.join(resolved, *rest) if rest else resolved
                return self._lookup(full, follow, hops)
            stack.append(Entry(name, found.ino, found.mode, found.uid, found.gid, found.size))
            i += 1
        return stack[-1]

    def realpath(self, path: str) -> str:
        """``path`` with every symlink resolved inside the image (like ``readlink -f``)."""
        return self._realpath(path, 0)

    def _realpath(self, path: str, hops: int) -> str:
        parts = [p for p in path.split("/") if p and p != "."]
        resolved: list[str] = []
        for idx, name in enumerate(parts):
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join([*resolved, name])
            entry = self._lookup(candidate, False, 0)
            if entry is not None and entry.is_symlink:
                if hops >= MAX_SYMLINKS:
                    raise ImageError(f"{self.label}: too many levels of symbolic links at {path}",
                                     SYMLINK_LOOP_HINT)
                target = self.readlink(entry)
                base = "/" + "/".join(resolved)
                rest = parts[idx + 1:]
                joined = posixpath.join(base, target, *rest)
                return self._realpath(posixpath.normpath(joined), hops + 1)
            resolved.append(name)
        return "/" + "/".join(resolved)

    # --- contents ------------------------------------------------------------------------
    def readlink(self, entry: Entry | str) -> str:
        if isinstance(entry, str):
            entry = self.lookup(entry, follow=False)
        if not entry.is_symlink:
            raise ImageError(f"{self.label}: {entry.name} is not a symbolic link",
                             f"read it as a file or directory instead; {LISTING}")
        if entry.ino not in self._links:
            self.readlinks([entry])
        return self._links[entry.ino]

    def readlinks(self, entries: Iterable[Entry]) -> dict[int, str]:
        """Targets of many symlinks, in about two debugfs runs.

        A target shorter than 60 bytes lives in the inode itself (a "fast" symlink: ``stat``
        shows it); a longer one is stored in a data block, which ``cat`` prints.
        """
        entries = list(entries)
        todo = list({e.ino: e for e in entries
                     if e.is_symlink and e.ino not in self._links}.values())
        slow = [e for e in todo if e.size >= FAST_LINK_MAX]
        fast = [e for e in todo if e.size < FAST_LINK_MAX]
        for e, data in zip(slow, self._contents(slow), strict=True):
            self._links[e.ino] = data.decode("utf-8", "surrogateescape")
        unusual = []
        for start in range(0, len(fast), BATCH):
            chunk = fast[start:start + BATCH]
            sections = dict(self._run_sections([f"stat <{e.ino}>" for e in chunk]))
            for e in chunk:
                body = sections.get(f"stat <{e.ino}>", "")
                m = re.search(r'^Fast link dest: "(.*)"$', body, re.MULTILINE)
                if m:
                    self._links[e.ino] = m.group(1)
                else:
                    unusual.append(e)
        for e, data in zip(unusual, self.read_many(unusual), strict=True):
            self._links[e.ino] = data.decode("utf-8", "surrogateescape")
        return {e.ino: self._links[e.ino] for e in entries if e.is_symlink}

    def _contents(self, entries: list[Entry]) -> list[bytes]:
        """Contents of many small files with batched ``cat``, read back by their known sizes.

        debugfs echoes each command before its output (``debugfs: cat <INO>``) and prints the
        content raw, without a newline: with every size known from ``ls -p``, the output is
        cut without searching it. Any mismatch falls back to ``dump`` into files, which cannot
        be confused.
        """
        out: list[bytes] = []
        start = 0
        while start < len(entries):
            chunk: list[Entry] = []
            total = 0
            while start + len(chunk) < len(entries) and len(chunk) < BATCH and \
                    total < CAT_BATCH_BYTES:
                e = entries[start + len(chunk)]
                chunk.append(e)
                total += e.size
            start += len(chunk)
            data, _err = self._run([f"cat <{e.ino}>" for e in chunk]) if len(chunk) > 1 else \
                (b"debugfs: cat <%d>\n" % chunk[0].ino + self._run([f"cat <{chunk[0].ino}>"])[0],
                 "")
            parsed = _cut(data, chunk)
            out += parsed if parsed is not None else self.read_many(chunk)
        return out

    def read_bytes(self, path: str | Entry) -> bytes:
        """The content of a file (symlinks followed)."""
        entry = self.lookup(path) if isinstance(path, str) else path
        if entry.is_dir:
            raise ImageError(f"{self.label}: {entry.name} is a directory, not a file",
                             f"give a file inside it; {LISTING}")
        out, err = self._run([f"cat <{entry.ino}>"])
        if len(out) != entry.size and not entry.is_symlink:
            raise ImageError(f"{self.label}: short read of {entry.name} "
                             f"({len(out)} of {entry.size} bytes): {_debugfs_error(err)}",
                             "the image is truncated or corrupt")
        return out

    def read_files(self, paths: Iterable[str]) -> dict[str, bytes | None]:
        """Contents of several files by path (None for those missing), read in one batch.

        Symlinks among the entries of the directories involved are resolved together first.
        """
        paths = list(paths)
        parents = {posixpath.dirname(p) for p in paths}
        for parent in parents:
            if self.exists(parent):
                self.readlinks([e for e in self.listdir(parent) if e.is_symlink])
        found: dict[str, Entry] = {}
        for p in paths:
            entry = self._lookup(p, True, 0)
            if entry is not None and entry.is_file:
                found[p] = entry
        unique = list({e.ino: e for e in found.values()}.values())
        data = dict(zip((e.ino for e in unique), self._contents(unique), strict=True))
        return {p: (data[found[p].ino] if p in found else None) for p in paths}

    def read_text(self, path: str | Entry) -> str:
        return self.read_bytes(path).decode("utf-8", "replace")

    def copy_out(self, path: str | Entry, destination: Path) -> Path:
        """Write one file of the image to ``destination`` (native file system)."""
        entry = self.lookup(path) if isinstance(path, str) else path
        self._dump([(entry, Path(destination))])
        return Path(destination)

    def read_many(self, entries: list[Entry]) -> list[bytes]:
        """Contents of many files, dumped in batches into a scratch directory."""
        scratch = self._scratch()
        targets = [(e, scratch / f"ino-{e.ino}") for e in entries]
        self._dump(targets)
        out = []
        for _e, p in targets:
            out.append(p.read_bytes())
            p.unlink()
        return out

    def hash_many(self, entries: list[Entry], keep_text: Callable[[Entry, bytes], bool]
                  | None = None) -> dict[int, tuple[str, bytes | None]]:
        """sha256 of many files; with ``keep_text``, also the bytes it accepts.

        Small files come through batched ``cat`` (in memory), big ones through ``dump``.
        """
        result: dict[int, tuple[str, bytes | None]] = {}

        def note(e: Entry, data: bytes) -> None:
            keep = data if keep_text is not None and keep_text(e, data) else None
            result[e.ino] = (hashlib.sha256(data).hexdigest(), keep)

        small = [e for e in entries if e.size <= CAT_FILE_BYTES]
        big = [e for e in entries if e.size > CAT_FILE_BYTES]
        for e, data in zip(small, self._contents(small), strict=True):
            note(e, data)
        if big:
            scratch = self._scratch()
            for start in range(0, len(big), 16):
                chunk = big[start:start + 16]
                targets = [(e, scratch / f"ino-{e.ino}") for e in chunk]
                self._dump(targets)
                for e, p in targets:
                    note(e, p.read_bytes())
                    p.unlink()
        return result

    def _scratch(self) -> Path:
        import tempfile

        base = self.workdir if self.workdir else None
        d = Path(tempfile.mkdtemp(prefix="fs-", dir=base))
        return d

    def _dump(self, targets: list[tuple[Entry, Path]]) -> None:
        for start in range(0, len(targets), BATCH):
            chunk = targets[start:start + BATCH]
            cmds = []
            for e, dest in chunk:
                d = str(dest)
                if '"' in d or "\n" in d:
                    raise ImageError(f"cannot write to {d!r}: debugfs cannot quote it",
                                     "use a temporary directory without quotes in its path")
                cmds.append(f'dump <{e.ino}> "{d}"')
            self._run(cmds)
            for e, dest in chunk:
                if not dest.exists() or (e.is_file and dest.stat().st_size != e.size):
                    have = dest.stat().st_size if dest.exists() else 0
                    raise ImageError(f"{self.label}: short read of inode {e.ino} ({e.name}): "
                                     f"{have} of {e.size} bytes",
                                     "the image is truncated or corrupt")

    # --- trees ---------------------------------------------------------------------------
    def walk(self, top: str = "/", *, prune: Callable[[str], bool] | None = None
             ) -> Iterator[tuple[str, Entry]]:
        """Every entry below ``top`` (not following symlinks), breadth first.

        ``prune(path)`` returning True skips that entry and everything below it. Each level
        of the tree is read in one debugfs run.
        """
        start = self.lookup(top)
        top = "/" + "/".join(p for p in top.split("/") if p)
        level: list[tuple[str, Entry]] = [(top, start)] if start.is_dir else []
        while level:
            self.load_dirs(e.ino for _p, e in level)
            following: list[tuple[str, Entry]] = []
            for dpath, d in level:
                for child in sorted(self._dirs[d.ino], key=lambda c: c.name):
                    cpath = posixpath.join(dpath, child.name)
                    if prune is not None and prune(cpath):
                        continue
                    yield cpath, child
                    if child.is_dir:
                        following.append((cpath, child))
            level = following


def _cut(data: bytes, chunk: list[Entry]) -> list[bytes] | None:
    """Split batched ``cat`` output by the entries' known sizes; None when it does not fit.

    Each piece is ``debugfs: cat <INO>`` and a newline, then exactly ``size`` bytes, checked
    against where the next echo must start.
    """
    out = []
    pos = 0
    for i, e in enumerate(chunk):
        marker = b"debugfs: cat <%d>\n" % e.ino
        if not data.startswith(marker, pos):
            return None
        pos += len(marker)
        end = pos + e.size
        if i + 1 < len(chunk):
            if not data.startswith(b"debugfs: cat <%d>\n" % chunk[i + 1].ino, end):
                return None
        elif end != len(data):
            return None
        out.append(data[pos:end])
        pos = end
    return out


def _debugfs_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines()
             if ln.strip() and not ln.startswith("debugfs ") and "catastrophic mode" not in ln]
    return lines[-1] if lines else "no details"
