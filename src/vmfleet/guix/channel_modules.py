"""Which Guile modules a config can use without them being on ``-L``: Guile's own, those of
Guix and the Guile libraries Guix is built with, and those of each pinned channel.

Guix's rules, as followed here:

- a channel's modules are the ``.scm`` files below the directory its ``.guix-channel`` names
  (``(directory "src")``; none: the checkout's root), module ``(a b)`` being ``DIR/a/b.scm``
  (guix/channels.scm@43770a9d8ac:279-291 reads ``directory``, a leading ``/`` added;
  guix/channels.scm@43770a9d8ac:675-679 compiles ``SOURCE/DIRECTORY`` and puts it on the load
  path);
- ``guix time-machine`` keeps each channel's clone at
  ``$XDG_CACHE_HOME/guix/checkouts/BASE32(SHA256(URL))``, RFC 4648 base32 in lower case
  without padding (guix/git.scm@43770a9d8ac:84-85 and 131-140, guix/base32.scm@43770a9d8ac:180-193);
- Guix's modules are ``(guix …)`` and ``(gnu …)``, run with the Guile libraries
  guix/self.scm@43770a9d8ac:891-895 lists (guile-gcrypt, -gnutls, -git, -avahi, -json,
  -semver, -ssh, -sqlite3, -lib, -zlib, -lzlib, -zstd, and bytestructures, guile-git's);
- a module nothing provides fails with ``no code for module``.

Without a clone a channel's module list is unknown: a module that no known source provides is
then taken as the channel's, *not verified*, and said so.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vmfleet.errors import CommandFailed, SchemeError
from vmfleet.guix import reader, walker
from vmfleet.guix.walker import head
from vmfleet.tools.run import run

# Guile 3.0's own module trees (module/ in Guile's source).
GUILE_ROOTS = frozenset({"ice-9", "srfi", "rnrs", "oop", "sxml", "web", "system", "language",
                         "texinfo", "scheme", "statprof"})
# Guix's own trees, and the top-level names of the libraries guix/self.scm@43770a9d8ac:891-895
# builds Guix with (guile-lib's trees included).
GUIX_ROOTS = frozenset({"gnu", "guix"})
GUIX_LIBRARY_ROOTS = frozenset({"gcrypt", "gnutls", "git", "avahi", "json", "semver", "ssh",
                                "sqlite3", "zlib", "lzlib", "zstd", "bytestructures", "htmlprag",
                                "logging", "os", "string", "text", "unit-test", "term",
                                "container", "debugging", "math", "graph", "search",
                                "match-bind", "md5", "config", "io", "apicheck"})

VERIFIED = "verified"
NOT_VERIFIED = "not verified"


@dataclass(frozen=True)
class Source:
    """Who provides a module: ``guile``, ``guix``, a channel's name; ``verified`` says whether
    the channel's module tree was read (a clone at the pinned commit) or the module was only
    assumed to be a pinned channel's."""

    provider: str
    verified: bool = True


class Providers:
    """The modules the pinned channels provide, read from clones where there are some.

    ``pins``: the channels file's channels as dicts (name, url, commit); ``clones``: channel
    name → local clone (``--channel-repo``); ``cache_dir``: where time-machine keeps its
    checkouts (None: do not look there)."""

    def __init__(self, pins: Iterable[Mapping], clones: Mapping[str, Path] | None = None,
                 cache_dir: Path | None = None):
        self.pins = [dict(p) for p in pins]
        self.trees: dict[str, frozenset[tuple[str, ...]] | None] = {}
        for pin in self.pins:
            name = pin.get("name") or ""
            clone = (clones or {}).get(name) or _cached_checkout(cache_dir, pin.get("url"))
            self.trees[name] = module_tree(clone, pin.get("commit")) if clone else None

    @property
    def unverified(self) -> list[str]:
        """Channels other than guix whose module tree is unknown."""
        return [n for n, t in self.trees.items() if t is None and n != "guix"]

    def source(self, name: tuple[str, ...]) -> Source | None:
        """Who provides module ``name``, or None when nothing can."""
        for channel, tree in self.trees.items():
            if tree is not None and name in tree:
                return Source(channel)
        if name[0] in GUILE_ROOTS:
            return Source("guile")
        guix_tree = self.trees.get("guix")
        if name[0] in GUIX_ROOTS and guix_tree is None:
            return Source("guix")
        if name[0] in GUIX_LIBRARY_ROOTS and name[0] not in GUIX_ROOTS:
            return Source("guix")
        unverified = self.unverified
        if unverified:
            return Source(" or ".join(unverified), verified=False)
        return None

    def describe(self) -> str:
        """Where vmfleet looked, for a refusal."""
        parts = []
        for n, t in self.trees.items():
            parts.append(f"{n} ({'no clone' if t is None else f'{len(t)} modules'})")
        return ", ".join(parts) or "guix"


def _cached_checkout(cache_dir: Path | None, url: str | None) -> Path | None:
    if cache_dir is None or not url:
        return None
    path = cache_dir / checkout_name(url)
    return path if (path / ".git").exists() or (path / "HEAD").exists() else None


def checkout_name(url: str) -> str:
    """The directory name guix gives the clone of ``url`` under its checkouts cache."""
    digest = hashlib.sha256(url.encode()).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/guix/checkouts`` (``~/.cache`` when unset), as guix/utils.scm's
    cache-directory."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "guix" / "checkouts"


_TREES: dict[tuple[str, str | None], frozenset | None] = {}


def module_tree(clone: Path, commit: str | None) -> frozenset[tuple[str, ...]] | None:
    """The modules of the channel cloned at ``clone`` at ``commit`` (None: HEAD); None when
    the clone does not have that commit (then the channel is not verified)."""
    key = (str(clone), commit)
    if key not in _TREES:
        _TREES[key] = _read_tree(clone, commit or "HEAD")
    return _TREES[key]


def _read_tree(clone: Path, rev: str) -> frozenset[tuple[str, ...]] | None:
    git = ["git", "-C", str(clone)]
    try:
        found = run([*git, "cat-file", "-e", f"{rev}^{{commit}}"], check=False)
        if found.returncode != 0:
            return None
        meta = run([*git, "cat-file", "-p", f"{rev}:.guix-channel"], check=False)
        directory = channel_directory(meta.stdout) if meta.returncode == 0 else ""
        listing = run([*git, "ls-tree", "-r", "--name-only", "--full-tree", rev,
                       *([f"{directory}/"] if directory else [])]).stdout
    except CommandFailed:
        return None
    return modules_below(listing.splitlines(), directory)


def channel_directory(text: str) -> str:
    """The ``directory`` of a ``.guix-channel`` file, without slashes at either end ('' for
    the root), as guix/channels.scm@43770a9d8ac:279-291 reads it."""
    try:
        forms = reader.read_cached(text, ".guix-channel")[0]
    except SchemeError:
        return ""
    for form in forms:
        if head(form) != "channel":
            continue
        for prop in form[1:]:
            if head(prop) == "directory" and len(prop) >= 2 and walker.is_string(prop[1]):
                return posixpath.normpath("/" + prop[1]).strip("/")
    return ""


def modules_below(paths: Iterable[str], directory: str) -> frozenset[tuple[str, ...]]:
    prefix = directory + "/" if directory else ""
    out = set()
    for p in paths:
        if p.startswith(prefix) and p.endswith(".scm"):
            out.add(tuple(p[len(prefix):-4].split("/")))
    return frozenset(out)


__all__ = ["Providers", "Source", "checkout_name", "channel_directory", "default_cache_dir",
           "module_tree", "modules_below"]
