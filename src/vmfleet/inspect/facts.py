"""What an image (or a running VM) is: provenance, config, packages, closure, files.

``inspect_image(path)`` reads a qcow2 or raw Guix image offline (vmfleet.inspect.disk, vmfleet.inspect.ext4)
and returns frozen :class:`ImageFacts`: everything ``vmfleet inspect`` shows and ``vmfleet
diff`` compares. Only the few files needed are read: the profile links, the system directory's
provenance, channels.scm, configuration.scm and profile manifest, and the store database, which
lists every store item with its size without walking /gnu/store. With ``files=True`` the tree
outside /gnu/store is walked too (mode, owner, size, sha256 of each file).

An image without a store database still inspects: its items come from the /gnu/store listing
(without sizes) and a warning says so; an image without provenance says what is missing and
how to build one that has it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from vmfleet.errors import SchemeError
from vmfleet.guix.store import (
    STORE,
    ManifestEntry,
    Provenance,
    StoreItem,
    is_store_path,
    parse_manifest,
    parse_provenance,
    read_store_db,
)
from vmfleet.inspect.ext4 import Entry, Ext4

DB_PATH = "/var/guix/db/db.sqlite"
PROFILES = "/var/guix/profiles"
# Not part of the files layer: the store (the packages layer compares it by file name) and
# the store database (it changes whenever the store does, and says nothing more).
EXCLUDED = (STORE, "/var/guix/db")
TEXT_LIMIT = 256 * 1024
def expression_note(label: str) -> str:
    """Why an image with provenance carries no config: it was built from ``-e``."""
    return (f"{label} was built from an expression (guix system -e): its provenance says "
            "(configuration-file #f) and it carries no configuration.scm")


NO_PROVENANCE_HINT = ("rebuild it with provenance: guix system image -t qcow2 --save-provenance "
                      "CONFIG.scm (vmfleet build passes --save-provenance wherever the pinned "
                      "guix has it: from 2019-12-07)")


@dataclass(frozen=True)
class FileFact:
    """One file outside /gnu/store."""

    path: str
    kind: str                     # file, dir, symlink, char, block, fifo, socket
    mode: int                     # permission bits, e.g. 0o644
    uid: int
    gid: int
    size: int
    sha256: str | None = None     # regular files
    target: str | None = None     # symlinks
    text: str | None = None       # small UTF-8 files, only when asked for (for content diffs)


@dataclass(frozen=True)
class Package:
    """A package the system profile asked for (a top-level manifest entry)."""

    name: str
    version: str
    output: str
    path: str


@dataclass(frozen=True)
class ImageFacts:
    source: str                                # the image file, or vm:NAME
    kind: str                                  # 'image' or 'vm'
    system: str | None                         # /gnu/store/…-system
    generation: int | None                     # N of /var/guix/profiles/system-N-link
    provenance: Provenance | None
    channels_scm: str | None
    configuration: str | None                  # the configuration.scm text
    packages: tuple[Package, ...]
    items: tuple[StoreItem, ...]               # every store item, sorted by file name
    closure_size: int | None                   # bytes (NAR sizes), None without a database
    store_source: str                          # 'database' or 'listing'
    files: tuple[FileFact, ...] | None = None  # None when not read
    warnings: tuple[str, ...] = ()
    format: str | None = None                  # qcow2, raw (images only)
    partition_table: str | None = None         # dos, gpt, none
    root_partition: int | None = None
    unreadable: tuple[str, ...] = ()           # vm: paths the login user could not read

    def summary(self) -> dict:
        """A short dict for listings and JSON (no item or file lists)."""
        return {
            "source": self.source, "system": self.system, "generation": self.generation,
            "channels": [c.__dict__ for c in self.provenance.channels] if self.provenance else [],
            "packages": len(self.packages), "items": len(self.items),
            "closure_size": self.closure_size, "warnings": list(self.warnings),
        }


def inspect_image(path, *, files: bool = False, texts: bool = False,
                  method: str = "auto", store=None) -> ImageFacts:
    """Read the facts of a Guix image file without booting it.

    ``files``: also walk the tree outside /gnu/store; ``texts``: keep the text of small text
    files (for ``diff --files``); ``store``: the StoreImages that may back it. Raises
    ImageError for what is not a readable Guix image.
    """
    from vmfleet.inspect.disk import open_disk

    with open_disk(path, method=method, store=store) as disk:
        part, fs = disk.guix_root()
        facts = read_facts(fs, source=str(path), kind="image", files=files, texts=texts,
                           workdir=disk.workdir)
        table = disk.partition_table()
        return _replace(facts, format=disk.info.format, partition_table=table.label,
                        root_partition=part.number)


NAR_SIZE_MAX = 1 << 40  # 1 TiB: no store item of a VM image is that large


def closure_of(items, warnings: list[str]) -> int:
    """The closure's size from the store database's NAR sizes. The database comes from an
    untrusted image: a size no store item can have (negative, or beyond NAR_SIZE_MAX) is not
    added up, and a warning names the item and what it claims."""
    total = 0
    for i in items:
        size = i.nar_size or 0
        if 0 <= size <= NAR_SIZE_MAX:
            total += size
        else:
            warnings.append(f"implausible size in the store database: {i.path} claims a NAR "
                            f"size of {size} bytes; not counted in the closure size")
    return total


def _replace(facts: ImageFacts, **changes) -> ImageFacts:
    import dataclasses

    return dataclasses.replace(facts, **changes)


def read_facts(fs: Ext4, *, source: str, kind: str, files: bool, texts: bool,
               workdir) -> ImageFacts:
    warnings: list[str] = []
    system, generation = find_system(fs)
    if system is None:
        warnings.append(f"no system profile ({PROFILES}/system): the image was not made by "
                        "'guix system image'")

    provenance = channels_scm = configuration = None
    packages: tuple[Package, ...] = ()
    if system is not None:
        provenance, channels_scm, configuration, packages = _system_files(fs, system, warnings)

    if fs.exists(DB_PATH):
        db_copy = workdir / "db.sqlite"
        fs.copy_out(DB_PATH, db_copy)
        for extra in ("-wal", "-shm"):
            if fs.exists(DB_PATH + extra):
                fs.copy_out(DB_PATH + extra, workdir / f"db.sqlite{extra}")
        by_path = read_store_db(db_copy, label=f"{source}:{DB_PATH}")
        items = tuple(by_path[p] for p in sorted(by_path))
        closure_size: int | None = closure_of(items, warnings)
        store_source = "database"
    else:
        warnings.append(f"no store database ({DB_PATH}): store items come from the "
                        f"{STORE} listing, without sizes or references")
        items = tuple(StoreItem(path=f"{STORE}/{e.name}")
                      for e in sorted(fs.listdir(STORE), key=lambda e: e.name)
                      if is_store_path(f"{STORE}/{e.name}"))
        closure_size = None
        store_source = "listing"

    file_facts = tuple(read_files(fs, texts=texts)) if files else None
    return ImageFacts(
        source=source, kind=kind, system=system, generation=generation, provenance=provenance,
        channels_scm=channels_scm, configuration=configuration, packages=packages, items=items,
        closure_size=closure_size, store_source=store_source, files=file_facts,
        warnings=tuple(warnings),
    )


SYSTEM_LINK = re.compile(r"^system-(\d+)-link$")


def find_system(fs: Ext4) -> tuple[str | None, int | None]:
    """The system store item the image boots, and its generation number.

    /var/guix/profiles/system → system-N-link → /gnu/store/…-system; failing that (a profile
    link missing), the newest system-N-link, then /run/current-system.
    """
    generation = None
    if fs.exists(PROFILES + "/system", follow=False):
        link = fs.readlink(PROFILES + "/system")
        m = SYSTEM_LINK.match(posixpath.basename(link))
        generation = int(m.group(1)) if m else None
        real = fs.realpath(PROFILES + "/system")
        if is_store_path(real):
            return real, generation
    if fs.exists(PROFILES):
        links = sorted(((int(m.group(1)), e) for e in fs.listdir(PROFILES)
                        if (m := SYSTEM_LINK.match(e.name))), key=lambda x: x[0])
        if links:
            number, _entry = links[-1]
            real = fs.realpath(f"{PROFILES}/system-{number}-link")
            if is_store_path(real):
                return real, number
    if fs.exists("/run/current-system", follow=False):
        real = fs.realpath("/run/current-system")
        if is_store_path(real):
            return real, generation
    return None, None


def _system_files(fs: Ext4, system: str, warnings: list[str]
                  ) -> tuple[Provenance | None, str | None, str | None, tuple[Package, ...]]:
    """provenance, channels.scm, configuration.scm and the profile's packages, in one batch."""
    names = ("provenance", "channels.scm", "configuration.scm", "profile/manifest")
    got = fs.read_files(f"{system}/{n}" for n in names)
    raw = {n: got[f"{system}/{n}"] for n in names}
    text = {n: (data.decode("utf-8", "replace") if (data := raw[n]) is not None else None)
            for n in names}
    provenance = None
    if text["provenance"] is not None:
        try:
            provenance = parse_provenance(text["provenance"], f"{system}/provenance")
        except SchemeError as e:
            warnings.append(f"unreadable provenance: {e.message}")
    channels, config = text["channels.scm"], text["configuration.scm"]
    if config is None and provenance and provenance.configuration_file and \
            fs.exists(provenance.configuration_file):
        config = fs.read_text(provenance.configuration_file)
    if provenance is None and channels is None and config is None:
        warnings.append("no provenance: the image was built without --save-provenance, so "
                        "its channels and configuration are unknown")
    packages: tuple[Package, ...] = ()
    manifest = f"{system}/profile/manifest"
    if text["profile/manifest"] is None:
        warnings.append(f"no profile manifest ({manifest}): the packages the system asked "
                        "for are unknown")
    else:
        try:
            packages = packages_of(parse_manifest(text["profile/manifest"], manifest).entries)
        except SchemeError as e:
            warnings.append(f"unreadable manifest: {e.message}")
    return provenance, channels, config, packages


def packages_of(entries: tuple[ManifestEntry, ...]) -> tuple[Package, ...]:
    return tuple(sorted({Package(e.name, e.version, e.output, e.path) for e in entries},
                        key=lambda p: (p.name, p.output, p.version)))


def _is_excluded(path: str) -> bool:
    return any(path == x or path.startswith(x + "/") for x in EXCLUDED)


def read_files(fs: Ext4, *, texts: bool = False) -> list[FileFact]:
    """Every entry outside /gnu/store (and the store database), sorted by path."""
    entries: list[tuple[str, Entry]] = list(fs.walk("/", prune=_is_excluded))
    links = fs.readlinks([e for _p, e in entries if e.is_symlink])
    regular = [e for _p, e in entries if e.is_file]

    def keep(entry: Entry, data: bytes) -> bool:
        return texts and len(data) <= TEXT_LIMIT and b"\0" not in data and is_utf8(data)

    hashes = fs.hash_many(list({e.ino: e for e in regular}.values()), keep if texts else None)
    out = []
    for path, e in sorted(entries, key=lambda pe: pe[0]):
        sha = text = None
        if e.is_file:
            sha, data = hashes[e.ino]
            text = data.decode("utf-8") if data is not None else None
        out.append(FileFact(path=path, kind=e.kind, mode=e.perm, uid=e.uid, gid=e.gid,
                            size=e.size if not e.is_dir else 0, sha256=sha,
                            target=links.get(e.ino) if e.is_symlink else None, text=text))
    return out


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


