"""The same facts read from a running system over SSH, in one round trip."""

from __future__ import annotations

import posixpath

from vmfleet.errors import ImageError, SchemeError
from vmfleet.guix.store import (
    STORE,
    StoreItem,
    is_store_path,
    parse_manifest,
    parse_provenance,
    read_store_db,
)
from vmfleet.inspect.ext4 import Entry
from vmfleet.inspect.facts import (
    DB_PATH,
    SYSTEM_LINK,
    TEXT_LIMIT,
    FileFact,
    ImageFacts,
    Package,
    closure_of,
    is_utf8,
    packages_of,
)

# --- a running system, over SSH -----------------------------------------------------------

# vmfleet logs in as whom the config lets in (guix.logins), often not root: every read below
# works unprivileged. A file it may not read (/etc/shadow, a private key, a 0700 home) is
# listed as unreadable, never a failure; the store, the system directory and the store database
# (0644 in Guix) are world-readable.

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
  if [ ! -r "$3" ]; then printf '@@unreadable %s 0\n\n' "$2"; return 0; fi
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
if [ ! -r "$R/var/guix/db/db.sqlite" ]; then
  ls -1 "$R/gnu/store" > "$d/store" 2>/dev/null && emit list store "$d/store"
fi
if [ "$FILES" = 1 ]; then
  cd "$R/" || exit 4
  F='find . -xdev ( -path ./gnu/store -o -path ./var/guix/db ) -prune -o'
  # find says 'Permission denied' for directories it may not open, and exits 1: not an error.
  $F -exec stat -c '%f %u %g %s %n' {} + > "$d/stat" 2>/dev/null
  [ -s "$d/stat" ] || exit 5
  $F \( -type f -o -type d \) -exec sh -c 'for f; do
    if [ -d "$f" ]; then [ -r "$f" ] && [ -x "$f" ] || printf "%s\n" "$f"
    else [ -r "$f" ] || printf "%s\n" "$f"; fi; done' sh {} + > "$d/unread" 2>/dev/null
  $F -type f -exec sh -c 'for f; do [ -r "$f" ] && printf "%s\n" "$f"; done' sh {} + \
    2>/dev/null | while IFS= read -r f; do printf '%s\0' "$f"; done > "$d/readable"
  [ -s "$d/readable" ] && xargs -0 sha256sum < "$d/readable" > "$d/sha" 2>/dev/null
  $F -type l -print 2>/dev/null | while IFS= read -r f; do
    printf '%s\t%s\n' "$f" "$(readlink "$f")"; done > "$d/link"
  emit list stat "$d/stat"; emit list sha "$d/sha"; emit list link "$d/link"
  emit list unread "$d/unread"
  if [ "$TEXTS" = 1 ]; then
    $F -type f -size -513 -exec tar -cf - {} + > "$d/tar" 2>/dev/null  # skips unreadable ones
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
    if m := SYSTEM_LINK.match(posixpath.basename(got.get(("gen", ""), b"").decode())):
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
        closure_size: int | None = closure_of(items, warnings)
        store_source = "database"
    else:
        names = got.get(("list", "store"), b"").decode("utf-8", "surrogateescape").split("\n")
        items = tuple(StoreItem(path=f"{STORE}/{n}") for n in sorted(names)
                      if n and is_store_path(f"{STORE}/{n}"))
        closure_size, store_source = None, "listing"
        warnings.append(f"no store database ({DB_PATH}): store items come from the "
                        f"{STORE} listing, without sizes or references")
    for kind, name in got:
        if kind == "unreadable":
            warnings.append(f"{name}: not readable by the login user")
    file_facts = tuple(_remote_files(got, texts)) if files else None
    unreadable: tuple[str, ...] = ()
    if files:
        listed = got.get(("list", "unread"), b"").decode("utf-8", "surrogateescape")
        unreadable = tuple(sorted(p[1:] if p.startswith("./") else p
                                  for p in listed.split("\n") if p))
        if unreadable:
            warnings.append(f"{len(unreadable)} files or directories could not be read by the "
                            f"login user (their contents are not compared): "
                            f"{', '.join(unreadable[:5])}{' …' if len(unreadable) > 5 else ''}")
    return ImageFacts(source=source, kind="vm", system=system, generation=generation,
                      provenance=provenance, channels_scm=channels_scm,
                      configuration=configuration, packages=packages, items=items,
                      closure_size=closure_size, store_source=store_source, files=file_facts,
                      warnings=tuple(warnings), unreadable=unreadable)


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
            extracted = tar.extractfile(member)  # None only for what is not a regular file
            if extracted is None:
                continue
            content = extracted.read()
            if len(content) <= TEXT_LIMIT and b"\0" not in content and is_utf8(content):
                name = member.name[2:] if member.name.startswith("./") else member.name
                result["/" + name.lstrip("/")] = content.decode("utf-8")
    return result
