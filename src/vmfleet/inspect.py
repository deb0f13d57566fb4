"""What an image (or a running VM) is: provenance, config, packages, closure, files.

``inspect_image(path)`` reads a qcow2 or raw Guix image offline (vmfleet.disk, vmfleet.imagefs)
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

from .errors import ImageError, SchemeError
from .imagefs import Entry, Ext4
from .storeitems import (
    STORE,
    ManifestEntry,
    Provenance,
    StoreItem,
    is_store_path,
    parse_manifest,
    parse_provenance,
    read_store_db,
)

DB_PATH = "/var/guix/db/db.sqlite"
PROFILES = "/var/guix/profiles"
# Not part of the files layer: the store (the packages layer compares it by file name) and
# the store database (it changes whenever the store does, and says nothing more).
EXCLUDED = (STORE, "/var/guix/db")
TEXT_LIMIT = 256 * 1024
NO_PROVENANCE_HINT = ("rebuild it with provenance: guix system image -t qcow2 --save-provenance "
                      "CONFIG.scm (vmfleet build always passes --save-provenance)")


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

    @property
    def has_provenance(self) -> bool:
        return self.provenance is not None

    def item_map(self) -> dict[str, StoreItem]:
        return {i.path: i for i in self.items}

    def summary(self) -> dict:
        """A short dict for listings and JSON (no item or file lists)."""
        return {
            "source": self.source, "system": self.system, "generation": self.generation,
            "channels": [c.__dict__ for c in self.provenance.channels] if self.provenance else [],
            "packages": len(self.packages), "items": len(self.items),
            "closure_size": self.closure_size, "warnings": list(self.warnings),
        }


def inspect_image(path, *, files: bool = False, texts: bool = False,
                  method: str = "auto") -> ImageFacts:
    """Read the facts of a Guix image file without booting it.

    ``files``: also walk the tree outside /gnu/store; ``texts``: keep the text of small text
    files (for ``diff --files``). Raises ImageError for what is not a readable Guix image.
    """
    from .disk import open_disk

    with open_disk(path, method=method) as disk:
        part, fs = disk.guix_root()
        facts = read_facts(fs, source=str(path), kind="image", files=files, texts=texts,
                           workdir=disk.workdir)
        table = disk.partition_table()
        return _replace(facts, format=disk.info.format, partition_table=table.label,
                        root_partition=part.number)


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
        closure_size: int | None = sum(i.nar_size or 0 for i in items)
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


_LINK = re.compile(r"^system-(\d+)-link$")


def find_system(fs: Ext4) -> tuple[str | None, int | None]:
    """The system store item the image boots, and its generation number.

    /var/guix/profiles/system → system-N-link → /gnu/store/…-system; failing that (a profile
    link missing), the newest system-N-link, then /run/current-system.
    """
    generation = None
    if fs.exists(PROFILES + "/system", follow=False):
        link = fs.readlink(PROFILES + "/system")
        m = _LINK.match(posixpath.basename(link))
        generation = int(m.group(1)) if m else None
        real = fs.realpath(PROFILES + "/system")
        if is_store_path(real):
            return real, generation
    if fs.exists(PROFILES):
        links = sorted(((int(m.group(1)), e) for e in fs.listdir(PROFILES)
                        if (m := _LINK.match(e.name))), key=lambda x: x[0])
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
    text = {n: (got[f"{system}/{n}"].decode("utf-8", "replace")
                if got[f"{system}/{n}"] is not None else None) for n in names}
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
        return texts and len(data) <= TEXT_LIMIT and b"\0" not in data and _is_utf8(data)

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


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_is_guix(facts: ImageFacts) -> None:
    """Raise when an image has no system at all (nothing vmfleet can compare)."""
    if facts.system is None and not facts.items:
        raise ImageError(f"{facts.source}: not a Guix system image", NO_PROVENANCE_HINT)


# --- a running system, over SSH -----------------------------------------------------------

# One shell script gathers everything in one round trip; POSIX sh with find, stat, sha256sum,
# readlink, tar, wc and mktemp (coreutils or busybox). Each piece comes back as
# "@@KIND NAME SIZE\n" followed by SIZE bytes and a newline, so binary files (the store
# database) pass unharmed. Paths are resolved inside $R (the system's '/'; a tree in tests) by
# rp(), so absolute symlinks never leave it.
_GATHER = r"""
set -u
R=${VMFLEET_ROOT%/}
d=$(mktemp -d) || exit 3
trap 'rm -rf "$d"' EXIT
emit() { [ -f "$3" ] || return 0
  printf '@@%s %s %s\n' "$1" "$2" "$(wc -c < "$3" | tr -d ' ')"; cat "$3"; echo; }
rp() {
  p=$1; n=0
  while [ $n -lt 40 ]; do
    rest=${p#/}; cur=; changed=
    while [ -n "$rest" ]; do
      c=${rest%%/*}
      case $rest in */*) rest=${rest#*/};; *) rest=;; esac
      if [ -z "$c" ] || [ "$c" = . ]; then continue; fi
      if [ "$c" = .. ]; then cur=${cur%/*}; continue; fi
      if [ -L "$R$cur/$c" ]; then
        t=$(readlink "$R$cur/$c")
        case $t in /*) p=$t/$rest;; *) p=$cur/$t/$rest;; esac
        changed=1; break
      fi
      cur=$cur/$c
    done
    if [ -z "$changed" ]; then printf '%s\n' "${cur:-/}"; return 0; fi
    n=$((n+1))
  done
  return 1
}
sys=
for l in /run/current-system /var/guix/profiles/system; do
  if [ -e "$R$l" ] || [ -L "$R$l" ]; then
    s=$(rp "$l") && [ -d "$R$s" ] && case $s in /gnu/store/*) sys=$s; break;; esac
  fi
done
printf '@@system %s\n' "$sys"
printf '@@gen %s\n' "$(readlink "$R/var/guix/profiles/system" 2>/dev/null)"
if [ -n "$sys" ]; then
  for f in provenance channels.scm configuration.scm profile/manifest; do
    p=$(rp "$sys/$f") && emit file "$f" "$R$p"
  done
fi
emit file db "$R/var/guix/db/db.sqlite"
emit file db-wal "$R/var/guix/db/db.sqlite-wal"
if [ ! -f "$R/var/guix/db/db.sqlite" ]; then
  ls -1 "$R/gnu/store" > "$d/store" 2>/dev/null && emit list store "$d/store"
fi
if [ "$FILES" = 1 ]; then
  cd "$R/" || exit 4
  F='find . -xdev ( -path ./gnu/store -o -path ./var/guix/db ) -prune -o'
  $F -exec stat -c '%f %u %g %s %n' {} + > "$d/stat" || exit 5
  $F -type f -exec sha256sum {} + > "$d/sha" || exit 5
  $F -type l -print | while IFS= read -r f; do
    printf '%s\t%s\n' "$f" "$(readlink "$f")"; done > "$d/link"
  emit list stat "$d/stat"; emit list sha "$d/sha"; emit list link "$d/link"
  if [ "$TEXTS" = 1 ]; then
    $F -type f -size -513 -exec tar -cf - {} + > "$d/tar" 2>/dev/null
    emit list tar "$d/tar"
  fi
fi
echo @@end
"""


def _sections(data: bytes) -> dict[tuple[str, str], bytes]:
    """Parse the gather script's output into {(kind, name): bytes}."""
    out: dict[tuple[str, str], bytes] = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        header = data[i:nl].decode("utf-8", "surrogateescape")
        i = nl + 1
        if not header.startswith("@@"):
            continue
        kind, _, rest = header[2:].partition(" ")
        if kind == "end":
            out[("end", "")] = b""
            break
        if kind in ("system", "gen"):
            out[(kind, "")] = rest.encode("utf-8", "surrogateescape")
            continue
        name, _, size = rest.rpartition(" ")
        n = int(size)
        out[(kind, name)] = data[i:i + n]
        i += n + 1  # the newline after the data
    return out


def read_remote_facts(conn, *, source: str, root: str = "/", files: bool = False,
                      texts: bool = False) -> ImageFacts:
    """The facts of a running Guix system, read over an SSH connection (``vm:NAME``).

    The same facts as from its image: /run/current-system (else the system profile), its
    provenance and manifest, the store database (copied out, then sqlite3) or the /gnu/store
    listing, and with ``files`` the tree outside /gnu/store. ``root`` is where the system's '/'
    is on that machine (tests serve a tree). One SSH round trip.
    """
    import io
    import shlex
    import tempfile
    from pathlib import Path

    env = (f"VMFLEET_ROOT={shlex.quote(root)} FILES={int(files)} TEXTS={int(texts)}; "
           "export VMFLEET_ROOT FILES TEXTS\n")
    out, err = io.BytesIO(), io.BytesIO()
    rc = conn.stream(env + _GATHER, out, err)
    got = _sections(out.getvalue())
    if rc != 0 or ("end", "") not in got:
        why = err.getvalue().decode("utf-8", "replace").strip()[-300:] or f"exit {rc}"
        raise ImageError(f"{source}: cannot read the system over SSH: {why}",
                         "the machine needs a POSIX sh with find, stat, sha256sum, readlink, "
                         "tar and mktemp (coreutils or busybox)")

    def text(name: str) -> str | None:
        data = got.get(("file", name))
        return data.decode("utf-8", "replace") if data is not None else None

    warnings: list[str] = []
    system = got[("system", "")].decode() or None
    generation = None
    if m := _LINK.match(posixpath.basename(got.get(("gen", ""), b"").decode())):
        generation = int(m.group(1))
    if system is None:
        warnings.append("no /run/current-system or system profile: not a Guix system")
    provenance = None
    packages: tuple[Package, ...] = ()
    if (prov := text("provenance")) is not None:
        try:
            provenance = parse_provenance(prov, f"{system}/provenance")
        except SchemeError as e:
            warnings.append(f"unreadable provenance: {e.message}")
    channels_scm, configuration = text("channels.scm"), text("configuration.scm")
    if system and provenance is None and channels_scm is None and configuration is None:
        warnings.append("no provenance: the system was built without --save-provenance, so "
                        "its channels and configuration are unknown")
    manifest = text("profile/manifest")
    if system and manifest is None:
        warnings.append("no profile manifest: the packages the system asked for are unknown")
    elif manifest is not None:
        try:
            packages = packages_of(parse_manifest(manifest, "manifest").entries)
        except SchemeError as e:
            warnings.append(f"unreadable manifest: {e.message}")

    if ("file", "db") in got:
        with tempfile.TemporaryDirectory(prefix="vmfleet-vm-") as tmp:
            (Path(tmp) / "db.sqlite").write_bytes(got[("file", "db")])
            if got.get(("file", "db-wal")):
                (Path(tmp) / "db.sqlite-wal").write_bytes(got[("file", "db-wal")])
            by_path = read_store_db(Path(tmp) / "db.sqlite", label=f"{source}:{DB_PATH}")
        items = tuple(by_path[p] for p in sorted(by_path))
        closure_size: int | None = sum(i.nar_size or 0 for i in items)
        store_source = "database"
    else:
        names = got.get(("list", "store"), b"").decode("utf-8", "surrogateescape").split("\n")
        items = tuple(StoreItem(path=f"{STORE}/{n}") for n in sorted(names)
                      if n and is_store_path(f"{STORE}/{n}"))
        closure_size, store_source = None, "listing"
        warnings.append(f"no store database ({DB_PATH}): store items come from the "
                        f"{STORE} listing, without sizes or references")
    file_facts = tuple(_remote_files(got, texts)) if files else None
    return ImageFacts(source=source, kind="vm", system=system, generation=generation,
                      provenance=provenance, channels_scm=channels_scm,
                      configuration=configuration, packages=packages, items=items,
                      closure_size=closure_size, store_source=store_source, files=file_facts,
                      warnings=tuple(warnings))


def _remote_files(got: dict, texts: bool) -> list[FileFact]:
    def lines(name: str) -> list[str]:
        return got.get(("list", name), b"").decode("utf-8", "surrogateescape").split("\n")

    stats: dict[str, tuple[int, int, int, int]] = {}
    for line in lines("stat"):
        parts = line.split(" ", 4)
        if len(parts) == 5:
            stats[_rel(parts[4])] = (int(parts[0], 16), int(parts[1]), int(parts[2]),
                                     int(parts[3]))
    hashes = {}
    for line in lines("sha"):
        digest, sep, name = line.partition("  ")
        if sep:
            hashes[_rel(name)] = digest
    links = {}
    for line in lines("link"):
        name, sep, target = line.partition("\t")
        if sep:
            links[_rel(name)] = target
    texts_by_path = _untar(got.get(("list", "tar"), b"")) if texts else {}
    out = []
    for path in sorted(stats):
        if path == "/":
            continue
        mode, uid, gid, size = stats[path]
        entry = Entry(posixpath.basename(path), 0, mode, uid, gid, size)
        out.append(FileFact(path=path, kind=entry.kind, mode=entry.perm, uid=uid, gid=gid,
                            size=size if not entry.is_dir else 0,
                            sha256=hashes.get(path) if entry.is_file else None,
                            target=links.get(path) if entry.is_symlink else None,
                            text=texts_by_path.get(path) if entry.is_file else None))
    return out


def _rel(name: str) -> str:
    """'./etc/x' (find's name, relative to root) → '/etc/x'."""
    return "/" + name[2:] if name.startswith("./") else ("/" if name == "." else name)


def _untar(data: bytes) -> dict[str, str]:
    """Text files from the tar stream (several archives back to back when the list was long)."""
    import io
    import tarfile

    result: dict[str, str] = {}
    if not data:
        return result
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", ignore_zeros=True) as tar:
        for member in tar:
            if not member.isfile():
                continue
            content = tar.extractfile(member).read()
            if len(content) <= TEXT_LIMIT and b"\0" not in content and _is_utf8(content):
                name = member.name[2:] if member.name.startswith("./") else member.name
                result["/" + name.lstrip("/")] = content.decode("utf-8")
    return result


def inspect_vm(reg, home, name: str, *, files: bool = False, texts: bool = False) -> ImageFacts:
    """``vm:NAME``: the facts of a running VM of the registry, over SSH (its pinned host key)."""
    from . import deploy

    with deploy.connect_ssh(reg, home, name) as conn:
        return read_remote_facts(conn, source=f"vm:{name}", files=files, texts=texts)


# --- output ----------------------------------------------------------------------------------


def facts_to_json(facts: ImageFacts) -> dict:
    """The JSON of ``vmfleet inspect --json`` (stable keys)."""
    prov = facts.provenance
    return {
        "source": facts.source, "kind": facts.kind, "format": facts.format,
        "partition_table": facts.partition_table, "root_partition": facts.root_partition,
        "system": facts.system, "generation": facts.generation,
        "provenance": None if prov is None else {
            "channels": [{"name": c.name, "url": c.url, "branch": c.branch,
                          "commit": c.commit} for c in prov.channels],
            "configuration_file": prov.configuration_file},
        "channels_scm": facts.channels_scm, "configuration": facts.configuration,
        "packages": [{"name": p.name, "version": p.version, "output": p.output,
                      "path": p.path} for p in facts.packages],
        "closure": {"items": len(facts.items), "size": facts.closure_size,
                    "source": facts.store_source},
        "items": [{"path": i.path, "name": i.package, "version": i.version,
                   "nar_size": i.nar_size, "references": list(i.references)}
                  for i in facts.items],
        "files": None if facts.files is None else [
            {"path": f.path, "kind": f.kind, "mode": f"{f.mode:04o}", "uid": f.uid,
             "gid": f.gid, "size": f.size, "sha256": f.sha256, "target": f.target}
            for f in facts.files],
        "warnings": list(facts.warnings),
    }


def render_facts(facts: ImageFacts, *, items: bool = False, files: bool = False) -> str:
    """The human form of ``vmfleet inspect``."""
    from .diff import human_size

    lines = []
    if facts.kind == "image":
        lines.append(f"image      {facts.source} ({facts.format}, {facts.partition_table} "
                     f"partition table, root file system in partition {facts.root_partition})")
    else:
        lines.append(f"vm         {facts.source}")
    gen = f" (generation {facts.generation})" if facts.generation is not None else ""
    lines.append(f"system     {facts.system or 'unknown'}{gen}")
    if facts.provenance is not None:
        for i, c in enumerate(facts.provenance.channels):
            head = "channels   " if i == 0 else "           "
            branch = f" ({c.branch})" if c.branch else ""
            lines.append(f"{head}{c.name}  {c.commit or 'unpinned'}  {c.url}{branch}")
        if facts.provenance.configuration_file:
            lines.append(f"config     {facts.provenance.configuration_file}")
    else:
        lines.append("provenance none (built without --save-provenance)")
    if facts.configuration is not None:
        lines.append(f"           {len(facts.configuration.splitlines())} lines "
                     "(show them with --config)")
    pkgs = ", ".join(f"{p.name} {p.version}" + (f":{p.output}" if p.output != "out" else "")
                     for p in facts.packages)
    lines.append(f"packages   {len(facts.packages)}: {pkgs}" if facts.packages
                 else "packages   (none listed)")
    size = human_size(facts.closure_size) if facts.closure_size is not None else "size unknown"
    lines.append(f"closure    {len(facts.items)} store items, {size} "
                 f"(from the {'store database' if facts.store_source == 'database' else 'store listing'})")
    if items:
        for i in facts.items:
            lines.append(f"  {human_size(i.nar_size):>10}  {i.path}")
    if files and facts.files is not None:
        lines.append(f"files      {len(facts.files)} outside /gnu/store")
        from .diff import _describe

        for f in facts.files:
            lines.append(f"  {_describe(f)}  {f.path}")
    return "\n".join(lines) + "\n"


# --- adopting an image -------------------------------------------------------------------------


@dataclass(frozen=True)
class Adoption:
    generation: object            # vmfleet.generations.Generation
    created: bool                 # False when the same inputs were already recorded
    current_from: str
    current_from_source: str      # 'option', 'store database' or 'image file time'
    local_files: tuple[str, ...]  # the files the config refers to, found in the image's store


def adopt_image(reg, path, system: str, *, current_from: str | None = None,
                files: dict[str, bytes] | None = None, message: str = "") -> Adoption:
    """Record a generation of ``system`` from an image's channels.scm and configuration.scm.

    The files the config refers to with ``local-file`` are taken from the image's store
    (Guix copies each into an item named after the file); ``files`` supplies any that are not
    there. ``current_from`` defaults to the time the image's system was registered in its store
    database, else the image file's modification time.
    """
    import os

    from . import generations, scheme, timeutil
    from .disk import open_disk

    files = dict(files or {})
    with open_disk(path) as disk:
        _part, fs = disk.guix_root()
        facts = read_facts(fs, source=str(path), kind="image", files=False, texts=False,
                           workdir=disk.workdir)
        missing = []
        if facts.configuration is None:
            missing.append("configuration.scm")
        if facts.channels_scm is None and facts.provenance is None:
            missing.append("channels.scm")
        if missing:
            raise ImageError(
                f"{path} has no provenance: {' and '.join(missing)} missing from its system "
                f"directory ({facts.system or 'no system found'})",
                NO_PROVENANCE_HINT)
        config = facts.configuration
        channels_text = facts.channels_scm or channels_text_of(facts.provenance.channels)
        rels = scheme.local_files(config, "configuration.scm")
        store_names: dict[str, list[str]] = {}
        for item in facts.items:
            store_names.setdefault(item.path.rsplit("/", 1)[1][33:], []).append(item.path)
        for rel in rels:
            rel_norm = generations.safe_relpath(rel, "configuration.scm")
            if rel_norm in files:
                continue
            found = store_names.get(posixpath.basename(rel_norm), [])
            if len(found) != 1:
                why = "is not in the image's store" if not found else \
                    f"matches {len(found)} store items"
                raise ImageError(
                    f"{path}: the config refers to local-file {rel!r}, which {why}",
                    f"give its content: --file {rel_norm}=PATH")
            files[rel_norm] = fs.read_bytes(found[0])
    when, source = current_from, "option"
    if when is None:
        registered = next((i.registered for i in facts.items if i.path == facts.system), None)
        if registered and registered > 86400 * 365:
            when, source = timeutil.from_epoch(registered), "store database"
        else:
            when, source = timeutil.from_epoch(os.stat(path).st_mtime), "image file time"
    inputs = generations.Inputs(f"{system}.scm", config, channels_text, files)
    gen, created = generations.record(
        reg, system, inputs, current_from=when, source="adopted",
        message=message or f"adopted from {os.path.basename(str(path))}")
    return Adoption(gen, created, when, source, tuple(sorted(files)))


def channels_text_of(channels) -> str:
    """A channels file for provenance channels (which carry no introductions)."""
    out = []
    for c in channels:
        lines = [f"(channel\n    (name '{c.name})", f'    (url "{c.url}")']
        if c.branch:
            lines.append(f'    (branch "{c.branch}")')
        if c.commit:
            lines.append(f'    (commit "{c.commit}")')
        out.append("\n".join(lines) + ")")
    return "(list " + "\n      ".join(out) + ")\n"
