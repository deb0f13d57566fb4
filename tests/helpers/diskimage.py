"""Small Guix-layout disk images for the diff/inspect tests, built without root in ~0.1 s.

A tree with /gnu/store items, the store database (Nix schema), /var/guix/profiles links, a
system directory with provenance, channels.scm, configuration.scm and a profile manifest, and
files in /etc; then ``mkfs.ext4 -d TREE`` into the second partition of a disk with an sfdisk
MBR or GPT table (the first partition is an empty boot partition, so the root has to be found
by its content), then ``qemu-img convert -O qcow2``.

Store hashes are derived from the item's name, its references and a salt, so changing one
package changes the system's hash like a real build would, and ``salt`` makes a "rebuild"
(same version, new hash).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.fleet import channels_scm, os_config

NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"
GUIX_URL = "https://git.savannah.gnu.org/git/guix.git"
C_OLD = "60c97924e9519361494aaf0686e28eb831a42315"
C_NEW = "4a0b87f0ec5b6c2dcf82b372dd20ca7ea6acdd9c"
TEST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2n1jeq3y0HHqkYGmXkJj5cSgu0kDm2Jz3wPE3oqJ1E test\n"


def nix_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    n = int.from_bytes(digest, "big")
    out = []
    for _ in range(32):
        out.append(NIX32[n % 32])
        n //= 32
    return "".join(out)


@dataclass
class Pkg:
    name: str
    version: str
    size: int = 10_000              # NAR size recorded in the store database
    deps: tuple[str, ...] = ()     # package names it refers to
    salt: str = ""                 # a different salt = a rebuild with the same version


@dataclass
class Layout:
    host: str = "web"
    packages: tuple[Pkg, ...] = ()          # asked for by the system profile
    deps: tuple[Pkg, ...] = ()              # only dependencies
    guix_commit: str = C_OLD
    provenance: bool = True
    # built with ``guix system -e EXPR``: provenance says (configuration-file #f) and the
    # system has no configuration.scm (gnu/services.scm@8e2f32cee982:470-480, 507-510)
    expression: bool = False
    db: bool = True
    store: bool = True                      # no /gnu/store at all: not a Guix root
    label: str = "dos"                      # 'dos' or 'gpt'
    fmt: str = "qcow2"
    files: dict[str, object] = field(default_factory=dict)   # extra files, see write_file
    manifest_version: int = 4

    @property
    def config_text(self) -> str:
        return os_config(self.host, tuple(p.name for p in self.packages))

    @property
    def channels_text(self) -> str:
        return channels_scm(self.guix_commit)


@dataclass
class Built:
    path: Path
    layout: Layout
    system: str
    items: dict[str, int]                    # store path -> nar size
    package_paths: dict[str, str]            # package name -> store path


def layout_web_a() -> Layout:
    return Layout(
        packages=(Pkg("hello", "2.12", 50_000, ("glibc",)),
                  Pkg("nginx", "1.23.3", 1_200_000, ("glibc", "openssl", "zlib", "pcre"))),
        deps=(Pkg("glibc", "2.35", 40_000_000), Pkg("openssl", "1.1.1t", 3_000_000, ("glibc",)),
              Pkg("zlib", "1.2.13", 200_000, ("glibc",)), Pkg("pcre", "8.45", 700_000),
              Pkg("bash", "5.1.16", 1_500_000, ("glibc",)), Pkg("apr", "1.7.0", 300_000)),
        files={"/etc/hostname": "web\n", "/etc/motd": "hello from A\n",
               "/etc/old.conf": "gone in B\n", "/etc/secret": ("text", "s3cret\n", 0o600),
               "/root/.profile": "export A=1\n"},
    )


def layout_web_b() -> Layout:
    return Layout(
        packages=(Pkg("hello", "2.12", 50_000, ("glibc",)),
                  Pkg("nginx", "1.25.0", 1_300_000, ("glibc", "openssl", "zlib", "pcre")),
                  Pkg("curl", "8.0.1", 500_000, ("glibc", "openssl"))),
        deps=(Pkg("glibc", "2.35", 40_000_000), Pkg("openssl", "3.0.8", 5_000_000, ("glibc",)),
              Pkg("zlib", "1.2.13", 210_000, ("glibc",), salt="rebuilt"),
              Pkg("pcre", "8.44", 690_000), Pkg("bash", "5.1.16", 1_500_000, ("glibc",))),
        guix_commit=C_NEW, label="gpt",
        files={"/etc/hostname": "web-b\n", "/etc/motd": "hello from A\n",
               "/etc/new.conf": "new in B\n", "/etc/secret": ("text", "s3cret\n", 0o644),
               "/root/.profile": "export A=1\n"},
    )


def store_path(name: str, key: str) -> str:
    return f"/gnu/store/{nix_hash(key)}-{name}"


def write_file(root: Path, path: str, spec: object) -> None:
    """``spec``: text, bytes, ("text", content, mode), ("link", target) or ("dir",)."""
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, tuple) and spec[0] == "link":
        target.symlink_to(spec[1])
    elif isinstance(spec, tuple) and spec[0] == "dir":
        target.mkdir(exist_ok=True)
    elif isinstance(spec, tuple) and spec[0] == "text":
        target.write_text(spec[1])
        os.chmod(target, spec[2])
    elif isinstance(spec, bytes):
        target.write_bytes(spec)
    else:
        target.write_text(str(spec))


def make_tree(root: Path, lay: Layout) -> tuple[str, dict[str, int], dict[str, tuple[str, ...]],
                                                dict[str, str]]:
    """Write the root file system tree; return (system, sizes, references, package paths)."""
    sizes: dict[str, int] = {}
    refs: dict[str, tuple[str, ...]] = {}
    paths: dict[str, str] = {}
    pkgs = {p.name: p for p in (*lay.deps, *lay.packages)}

    def item_of(name: str) -> str:
        if name in paths:
            return paths[name]
        p = pkgs[name]
        dep_paths = tuple(item_of(d) for d in p.deps if d in pkgs)
        full = f"{p.name}-{p.version}"
        path = store_path(full, f"{full}|{p.salt}|{'|'.join(sorted(dep_paths))}")
        paths[name] = path
        sizes[path] = p.size
        refs[path] = dep_paths
        d = root / path.lstrip("/")
        (d / "bin").mkdir(parents=True, exist_ok=True)
        (d / "bin" / p.name).write_text(f"#!/bin/sh\necho {full}\n")
        os.chmod(d / "bin" / p.name, 0o555)
        return path

    for name in pkgs:
        item_of(name)
    store = root / "gnu" / "store"
    store.mkdir(parents=True, exist_ok=True)

    def add_item(name: str, key: str, size: int, references: tuple[str, ...]) -> str:
        path = store_path(name, key + "|" + "|".join(sorted(references)))
        sizes[path] = size
        refs[path] = references
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        return path

    top = tuple(paths[p.name] for p in lay.packages)
    profile = add_item("profile", "profile", 4_000, top)
    entries = " ".join(
        f'("{p.name}" "{p.version}" "out" "{paths[p.name]}" (propagated-inputs ()) '
        f'(search-paths ()){" (properties ())" if lay.manifest_version >= 4 else ""})'
        for p in lay.packages)
    (root / profile.lstrip("/") / "manifest").write_text(
        f"(manifest (version {lay.manifest_version}) (packages ({entries})))\n")
    config_item = store_path("configuration.scm", lay.config_text)
    if not lay.expression:
        sizes[config_item], refs[config_item] = len(lay.config_text), ()
        (root / "gnu/store" / config_item.rsplit("/", 1)[1]).write_text(lay.config_text)
    key_item = store_path("vmfleet.pub", "key" + lay.host)
    sizes[key_item], refs[key_item] = 120, ()
    (root / key_item.lstrip("/")).write_text(TEST_KEY)
    etc = add_item("etc", "etc" + lay.host, 8_000, (key_item,))
    write_file(root, etc + "/etc/hostname", lay.host + "\n")
    system = add_item("system", "system" + lay.guix_commit + str(lay.provenance)
                      + ("-e" if lay.expression else ""),
                      12_000, (profile, etc) if lay.expression else (profile, etc, config_item))
    sysdir = root / system.lstrip("/")
    (sysdir / "profile").symlink_to(profile)
    (sysdir / "etc").symlink_to(etc + "/etc")
    (sysdir / "parameters").write_text('(boot-parameters (version 0) (label "GNU"))\n')
    if lay.provenance:
        (sysdir / "channels.scm").write_text(lay.channels_text)
        if not lay.expression:
            (sysdir / "configuration.scm").symlink_to(config_item)
        named = "#f" if lay.expression else f'"{config_item}"'
        (sysdir / "provenance").write_text(
            f'(provenance (version 0) (channels (channel (name guix) (url "{GUIX_URL}") '
            f'(branch "master") (commit "{lay.guix_commit}"))) '
            f'(configuration-file {named}))\n')
    profiles = root / "var/guix/profiles"
    profiles.mkdir(parents=True)
    (profiles / "system").symlink_to("system-1-link")
    (profiles / "system-1-link").symlink_to(system)
    write_file(root, "/etc/static", ("link", etc + "/etc"))
    write_file(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    write_file(root, "/tmp", ("dir",))
    for path, spec in lay.files.items():
        write_file(root, path, spec)
    if lay.db:
        db = root / "var/guix/db/db.sqlite"
        db.parent.mkdir(parents=True)
        write_store_db(db, sizes, refs)
    if not lay.store:
        import shutil

        shutil.rmtree(root / "gnu")
    return system, sizes, refs, paths


def write_store_db(db: Path, sizes: dict[str, int], refs: dict[str, tuple[str, ...]]) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE ValidPaths (id integer primary key autoincrement not null,
            path text unique not null, hash text not null, registrationTime integer not null,
            deriver text, narSize integer);
        CREATE TABLE Refs (referrer integer not null, reference integer not null,
            primary key (referrer, reference));
        CREATE TABLE DerivationOutputs (drv integer not null, id text not null,
            path text not null, primary key (drv, id));
        """)
    ids = {}
    for path in sorted(sizes):
        cur = conn.execute("INSERT INTO ValidPaths (path, hash, registrationTime, narSize) "
                           "VALUES (?, ?, 1, ?)", (path, "sha256:" + "0" * 64, sizes[path]))
        ids[path] = cur.lastrowid
    for path, rs in refs.items():
        for r in rs:
            conn.execute("INSERT INTO Refs VALUES (?, ?)", (ids[path], ids[r]))
    conn.commit()
    conn.close()


def sh(*argv: str, **kw) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, **kw)


def make_disk(tree: Path, dest: Path, *, label: str = "dos", fmt: str = "qcow2",
              work: Path) -> Path:
    """A disk with an empty boot partition and ``tree`` as ext4 in partition 2."""
    used = sum(f.stat().st_size for f in tree.rglob("*") if f.is_file() and not f.is_symlink())
    root_mib = max(8, used * 2 // 2**20 + 8)
    root_img = work / "root.ext4"
    sh("truncate", "-s", f"{root_mib}M", str(root_img))
    sh("mkfs.ext4", "-q", "-F", "-d", str(tree), "-E", "root_owner=0:0", str(root_img),
       env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    raw = work / "disk.raw"
    total = 2 + root_mib + 2  # MiB: alignment + boot, root, room for the GPT backup
    sh("truncate", "-s", f"{total}M", str(raw))
    if label == "gpt":
        table = ("label: gpt\nlabel-id: 0D9F2A2A-5B5B-4E4E-8C8C-0A0A0A0A0A0A\n"
                 "start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649\n"
                 f"start=4096, size={root_mib * 2048}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n")
    else:
        table = ("label: dos\nlabel-id: 0x1234abcd\n"
                 "start=2048, size=2048, type=c, bootable\n"
                 f"start=4096, size={root_mib * 2048}, type=83\n")
    sh("sfdisk", "-q", str(raw), input=table.encode())
    with open(root_img, "rb") as src, open(raw, "r+b") as dst:
        dst.seek(4096 * 512)
        while chunk := src.read(1 << 20):
            if chunk.count(0) == len(chunk):
                dst.seek(len(chunk), 1)
            else:
                dst.write(chunk)
    root_img.unlink()
    if fmt == "raw":
        os.replace(raw, dest)
    else:
        sh("qemu-img", "convert", "-O", fmt, str(raw), str(dest))
        raw.unlink()
    return dest


def build(dest: Path, lay: Layout) -> Built:
    work = dest.parent / (dest.name + ".work")
    tree = work / "tree"
    tree.mkdir(parents=True)
    system, sizes, _refs, paths = make_tree(tree, lay)
    make_disk(tree, dest, label=lay.label, fmt=lay.fmt, work=work)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    return Built(dest, lay, system, sizes, paths)


# --- a per-process cache, so every test module shares the same few images ------------------

_CACHE: dict[str, Built] = {}
_DIR: list[Path] = []


def _cache_dir() -> Path:
    if not _DIR:
        import atexit
        import shutil
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="vmfleet-test-images-"))
        atexit.register(shutil.rmtree, d, True)
        _DIR.append(d)
    return _DIR[0]


def variants() -> dict[str, Layout]:
    import dataclasses

    a, b = layout_web_a(), layout_web_b()
    return {
        "web-a": a,
        "web-b": b,
        "web-a-raw": dataclasses.replace(a, fmt="raw"),
        "web-a-gpt": dataclasses.replace(a, label="gpt"),
        "no-db": dataclasses.replace(a, db=False),
        "no-provenance": dataclasses.replace(a, provenance=False),
        "expression": dataclasses.replace(a, expression=True),
        "not-guix": dataclasses.replace(a, store=False, db=False),
        "manifest-v3": dataclasses.replace(a, manifest_version=3),
    }


def image(name: str) -> Built:
    """A built test image by variant name (see ``variants``), built once per process."""
    if name not in _CACHE:
        _CACHE[name] = build(_cache_dir() / f"{name}.{variants()[name].fmt}", variants()[name])
    return _CACHE[name]
