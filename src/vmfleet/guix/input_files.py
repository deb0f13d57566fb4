"""Reading a config's input files from disk as untrusted data.

Every file Guix would read for a build (the config, modules, included files, ``local-file``s)
is read here, and only here, with these rules:

- **Regular files only** (and, for ``local-file … #:recursive? #t``, directories of them). The
  type is checked with ``lstat`` before anything is opened, and again with ``fstat`` on the
  descriptor (opened ``O_NONBLOCK | O_NOFOLLOW``), so a FIFO, a device or a socket is refused
  without ever blocking on it or reading from it.
- **Files stay inside the folders the user pointed at** (``roots``: for ``add`` the config's
  and channels file's directories, the ``-L`` directories and the working directory; for
  ``import`` the repository), names as written and links resolved alike. Guix itself reads
  any name a config writes (``../keys/a.pub``, ``/etc/x``); vmfleet records such a file only
  from a folder the user names with ``--allow-outside DIR`` (``allowed``), so a hostile
  config cannot copy a host secret into the registry. A link that resolves elsewhere is
  refused, naming the link and its target.
- **Bounded**: at most ``Limits.per_input`` bytes per file and ``Limits.per_generation`` in
  all (``VMFLEET_MAX_INPUT_SIZE``, ``VMFLEET_MAX_GENERATION_SIZE``: bytes or ``16M``-style
  units). A file is never read past its limit.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import stat
from dataclasses import dataclass

from vmfleet import settings
from vmfleet.errors import UsageError

DEFAULT_MAX_INPUT = 16 * 1024 * 1024
DEFAULT_MAX_GENERATION = 64 * 1024 * 1024
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


@dataclass(frozen=True)
class Limits:
    per_input: int = DEFAULT_MAX_INPUT
    per_generation: int = DEFAULT_MAX_GENERATION
    hint: str = ("inputs are config text and small files; raise VMFLEET_MAX_INPUT_SIZE if "
                 "this file is really needed")

    @classmethod
    def from_env(cls) -> Limits:
        return cls(_size_setting(settings.MAX_INPUT_SIZE, DEFAULT_MAX_INPUT),
                   _size_setting(settings.MAX_GENERATION_SIZE, DEFAULT_MAX_GENERATION))


def _size_setting(name: str, default: int) -> int:
    text = (settings.get(name) or "").strip()
    if not text:
        return default
    m = re.fullmatch(r"(\d+)\s*([kKmMgG]?)(?:i?B)?", text)
    if not m or int(m.group(1)) <= 0:
        raise UsageError(f"{name}={text!r} is not a size",
                         f"write bytes or a size such as 16M or 1G (default {default // 2**20}M)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


@dataclass(frozen=True)
class FileData:
    content: bytes
    mode: int          # 0o644 or 0o755 (only the executable bit is kept, as Guix keeps it)


class DiskFiles:
    """Reads input files under ``roots`` (absolute, lexically normalised directories)."""

    def __init__(self, roots, limits: Limits | None = None, allowed=()):
        self.roots = _unique(posixpath.normpath(os.path.abspath(r)) for r in roots)
        self.allowed = _unique(posixpath.normpath(os.path.abspath(r)) for r in allowed)
        self.real_roots = _unique(os.path.realpath(r) for r in [*self.roots, *self.allowed])
        self.limits = limits or Limits.from_env()
        self.total = 0

    def covers(self, path: str) -> bool:
        """Whether ``path`` (absolute, normalised) is named inside the roots or allowed folders."""
        return self._inside(path, [*self.roots, *self.allowed])

    # --- queries ---------------------------------------------------------------------------
    def kind(self, path: str) -> str | None:
        """'file', 'dir', 'other' or None (absent), following links that stay inside."""
        try:
            st = os.stat(self._checked(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror}",
                             "check the file name and its permissions") from None
        if stat.S_ISREG(st.st_mode):
            return "file"
        if stat.S_ISDIR(st.st_mode):
            return "dir"
        return "other"

    def read(self, path: str, what: str) -> FileData:
        """The bytes of the regular file ``path`` (absolute, normalised)."""
        real = self._checked(path)
        try:
            st = os.lstat(real)
        except (FileNotFoundError, NotADirectoryError):
            raise UsageError(f"{what} {path} not found", "create the file, or fix the path") from None
        except OSError as e:
            raise UsageError(f"cannot read {what} {path}: {e.strerror}",
                             "check the file name and its permissions") from None
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{what} {path} is a directory",
                             "name a file (a directory is an input only with #:recursive? #t)")
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{what} {path} is {_type_name(st.st_mode)}, not a regular file",
                             "inputs must be regular files; copy the content into a file")
        fd = self._open(real, path, what)
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode) or (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                raise UsageError(f"{what} {path} changed while it was read",
                                 "run the command again when the file is stable")
            self._check_size(path, fst.st_size, what)
            chunks, left = [], self.limits.per_input + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        self._check_size(path, len(data), what)
        self.total += len(data)
        if self.total > self.limits.per_generation:
            raise UsageError(
                f"the inputs add up to more than {_mib(self.limits.per_generation)} "
                f"(at {path})",
                "a generation holds config text and small files; raise "
                f"{settings.MAX_GENERATION_SIZE} if these inputs are really needed")
        return FileData(data, 0o755 if st.st_mode & 0o111 else 0o644)

    def tree(self, path: str, what: str) -> list[str]:
        """The regular files below directory ``path`` (absolute paths, sorted). Anything else
        in the tree (a FIFO, a device, a link leading out) is refused."""
        real = self._checked(path)
        out = []
        for dirpath, dirnames, filenames in os.walk(real, followlinks=False):
            rel_dir = os.path.relpath(dirpath, real)
            lexical_dir = path if rel_dir == "." else posixpath.join(path, rel_dir)
            for d in list(dirnames):
                full = os.path.join(dirpath, d)
                if os.path.islink(full):  # followed only when it stays inside
                    self._checked(posixpath.join(lexical_dir, d))
                    dirnames.remove(d)
                    out.extend(self.tree(posixpath.join(lexical_dir, d), what))
            for f in filenames:
                lexical = posixpath.join(lexical_dir, f)
                kind = self.kind(lexical)
                if kind != "file":
                    st = os.lstat(os.path.join(dirpath, f))
                    raise UsageError(f"{what} {path} holds {lexical}, which is "
                                     f"{_type_name(st.st_mode)}, not a regular file",
                                     "a recursive local-file may hold only regular files "
                                     "and directories")
                out.append(lexical)
        return sorted(out)

    # --- checks ----------------------------------------------------------------------------
    def _checked(self, path: str) -> str:
        """``path`` with its symlinks resolved, refused when a link leads out of the roots."""
        if "\0" in path:
            raise UsageError(f"file name {path!r} contains a NUL character",
                             "no file can have that name: fix the name in the config")
        if not self.covers(path):
            raise UsageError(
                f"{path} is outside {self._where()}",
                f"vmfleet records files only from the folders it reads the config from; if "
                f"this file belongs to the system, name its folder: --allow-outside "
                f"{posixpath.dirname(path)}")
        real = os.path.realpath(path)
        if self._inside(real, self.real_roots):
            return real
        link = self._first_link(path) or path
        target = os.readlink(link) if os.path.islink(link) else real
        raise UsageError(
            f"{link} is a symlink to {target}, which is outside {self._where()}",
            "vmfleet follows links only inside the folders it reads the config from; "
            "copy the file there instead of linking to it")

    def _where(self) -> str:
        return " and ".join([*self.roots, *self.allowed]) or "the config directory"

    @staticmethod
    def _inside(path: str, roots) -> bool:
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)

    @staticmethod
    def _first_link(path: str) -> str | None:
        parts = path.split("/")
        for i in range(2, len(parts) + 1):
            candidate = "/".join(parts[:i])
            if os.path.islink(candidate):
                return candidate
        return None

    def _open(self, real: str, path: str, what: str) -> int:
        try:
            return os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UsageError(f"{what} {path} became a symlink while it was read",
                                 "run the command again when the file is stable") from None
            raise UsageError(f"cannot read {what} {path}: {e.strerror}",
                             "check the file's permissions") from None

    def _check_size(self, path: str, size: int, what: str) -> None:
        if size > self.limits.per_input:
            raise UsageError(
                f"{what} {path} is larger than {_mib(self.limits.per_input)}", self.limits.hint)


def read_one(path: str | os.PathLike, what: str, limits: Limits) -> bytes:
    """One file the user named (a fleet file), by the same rules: a regular file (a FIFO is
    refused at once, never waited on), at most ``limits.per_input`` bytes, links kept inside
    its folder."""
    full = posixpath.normpath(os.path.abspath(os.fspath(path)))
    return DiskFiles([posixpath.dirname(full)], limits).read(full, what).content


def _unique(items) -> list[str]:
    """In order, each once (the config's and the channels file's folder are often one)."""
    return list(dict.fromkeys(items))


def _type_name(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"
