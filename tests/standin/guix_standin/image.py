"""From store items to a bootable, byte-reproducible qcow2 (nothing mounted, no root needed).

Layout (what ``guix system image -t qcow2`` makes): an MBR disk, GRUB's boot.img in the
first 440 bytes and its core.img in the gap before the first partition, one ext4 partition
labelled ``Guix_image`` from 1 MiB on holding the root file system (the store, the store
database, the profile links, /etc, /root …), converted with ``qemu-img convert -c``.

Reproducibility (tests/standin/README.md, "Reproducibility"): every file of the tree is given the revision's date
(``touch -h -d @EPOCH``); ``mkfs.ext4 -d`` runs with a fixed UUID and hash seed under
``E2FSPROGS_FAKE_TIME``; a ``debugfs`` pass then sets every inode's ctime (mke2fs copies it
from the source files) and owner; the partition table has a fixed label id; GRUB's core.img
and the initrd hold no times. Same inputs, same bytes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from . import tree
from .closure import Closure, Item
from .guest import ROOT_LABEL
from .tree import Dir, Link, Node

SECTOR = 512
PART_START = 2048                      # sectors: 1 MiB, GRUB's core.img lives before it
GRUB_DIR = Path("/usr/lib/grub/i386-pc")
GRUB_MODULES = ("biosdisk", "part_msdos", "ext2", "linux", "boot")
BLOCK = 4096


class BuildFailed(Exception):
    """A build step failed; the message goes into the build log."""


def run(argv: list[str], log, env: dict | None = None, stdin: bytes | None = None) -> str:
    log(f"$ {' '.join(argv)}")
    started = time.monotonic()
    try:
        r = subprocess.run(argv, input=stdin, capture_output=True,
                           env={**os.environ, **(env or {})})
    except FileNotFoundError:
        raise BuildFailed(f"{argv[0]}: command not found") from None
    log(f"  ({time.monotonic() - started:.2f} s, exit status {r.returncode})")
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    if out.strip():
        log(out.rstrip())
    if r.returncode != 0:
        raise BuildFailed(f"{argv[0]} failed with exit status {r.returncode}: "
                          f"{out.strip().splitlines()[-1] if out.strip() else ''}")
    return r.stdout.decode("utf-8", "replace")


@dataclass(frozen=True)
class RootExtras:
    """Files of the root file system outside the store."""

    files: dict[str, Node]
    owners: dict[str, tuple[int, int]]       # path -> (uid, gid) when not root
    modes: dict[str, int]                    # path -> permission bits


def store_db(items: list[Item], nar: dict[str, tuple[int, str]], epoch: int) -> bytes:
    """/var/guix/db/db.sqlite: the Nix store schema with every item, its size and refs."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db.sqlite"
        db = sqlite3.connect(path)
        db.executescript("""
            PRAGMA page_size = 4096;
            CREATE TABLE ValidPaths (
                id               integer primary key autoincrement not null,
                path             text unique not null,
                hash             text not null,
                registrationTime integer not null,
                deriver          text,
                narSize          integer
            );
            CREATE TABLE Refs (
                referrer  integer not null,
                reference integer not null,
                primary key (referrer, reference),
                foreign key (referrer) references ValidPaths(id) on delete cascade,
                foreign key (reference) references ValidPaths(id) on delete restrict
            );
            CREATE INDEX IndexReferrer ON Refs(referrer);
            CREATE INDEX IndexReference ON Refs(reference);
            CREATE TRIGGER DeleteSelfRefs BEFORE DELETE ON ValidPaths
              BEGIN
                DELETE FROM Refs WHERE referrer = old.id AND reference = old.id;
              END;
            CREATE TABLE DerivationOutputs (
                drv  integer not null,
                id   text not null,
                path text not null,
                primary key (drv, id),
                foreign key (drv) references ValidPaths(id) on delete cascade
            );
            CREATE INDEX IndexDerivationOutputs ON DerivationOutputs(path);
        """)
        ids = {}
        for item in items:
            size, h = nar[item.path]
            deriver = item.drv if item.kind == "derivation" else None
            cur = db.execute("INSERT INTO ValidPaths (path, hash, registrationTime, deriver, "
                             "narSize) VALUES (?, ?, ?, ?, ?)",
                             (item.path, h, epoch, deriver, size))
            ids[item.path] = cur.lastrowid
        for item in items:
            for ref in sorted(set(item.refs) | {item.path}):
                if ref in ids:
                    db.execute("INSERT INTO Refs (referrer, reference) VALUES (?, ?)",
                               (ids[item.path], ids[ref]))
        db.commit()
        db.close()
        return path.read_bytes()


def _touch_all(root: Path, epoch: int) -> int:
    """Give every entry the same times (children before their directory); count them."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (epoch, epoch), follow_symlinks=False)
            count += 1
    os.utime(root, (epoch, epoch))
    return count


def _write_extra(root: Path, path: str, node: Node, mode: int | None) -> None:
    dest = root / path.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(node, Dir):
        dest.mkdir(exist_ok=True)
        for name in sorted(node.entries):
            _write_extra(root, f"{path}/{name}", node.entries[name], None)
    elif isinstance(node, Link):
        os.symlink(node.target, dest)
    else:
        with open(dest, "wb") as f:
            for chunk in node.chunks():
                f.write(chunk)
        os.chmod(dest, 0o755 if node.executable else 0o644)
    if mode is not None:
        os.chmod(dest, mode)


def populate(root: Path, closure: Closure, items: list[Item], extras: RootExtras,
             nar: dict[str, tuple[int, str]]) -> None:
    """Write the store items and the other files of the root file system."""
    store = root / "gnu" / "store"
    store.mkdir(parents=True)
    for item in items:
        tree.write(item.node, store / f"{item.hash}-{item.name}")
        nar[item.path] = tree.nar(item.node)
    for path in sorted(extras.files, key=lambda p: (p.count("/"), p)):
        _write_extra(root, path, extras.files[path], extras.modes.get(path))
    for path, mode in sorted(extras.modes.items()):
        if path not in extras.files:
            d = root / path.lstrip("/")
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, mode)
    os.chmod(store, 0o1775)


def grub_core(workdir: Path, config: str, log, root_index: int = 1) -> bytes:
    if not (GRUB_DIR / "boot.img").exists():
        raise BuildFailed(f"{GRUB_DIR}/boot.img not found: apt-get install grub-pc-bin")
    cfg = workdir / "grub-early.cfg"
    cfg.write_text(config)
    core = workdir / "core.img"
    run(["grub-mkimage", "-O", "i386-pc", "-d", str(GRUB_DIR), "-o", str(core),
         "-p", f"(hd0,msdos{root_index})/boot/grub", "-c", str(cfg), *GRUB_MODULES], log)
    data = core.read_bytes()
    if len(data) > (PART_START - 1) * SECTOR:
        raise BuildFailed(f"GRUB core.img is {len(data)} bytes: too big for the MBR gap")
    return data


def fs_uuid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"vmfleet-standin:{seed}"))


def partition_size(*, entries: int, content_bytes: int, image_size: int | None) -> int:
    """Bytes of the root partition: what the closure needs (at least a 64 MiB disk), or what
    is left of ``--image-size`` after the post-MBR gap (gnu/system/image.scm, root-size)."""
    min_fs = int(content_bytes * 1.15) + entries * BLOCK + 24 * (1 << 20)
    if image_size is None:
        size = max(min_fs + PART_START * SECTOR, 64 << 20)
        size = (size + (1 << 20) - 1) // (1 << 20) * (1 << 20)
    else:
        size = image_size // SECTOR * SECTOR
        if size < (PART_START * SECTOR) + (8 << 20):
            raise BuildFailed(f"image size {image_size} is too small for a partition")
    return (size - PART_START * SECTOR) // BLOCK * BLOCK


def make_partition(root: Path, out: Path, *, entries: int, fs_bytes: int, epoch: int,
                   seed: str, owners: dict[str, tuple[int, int]], log,
                   root_uuid: str | None = None) -> None:
    """The root partition image (what Guix's ``…-partition.img`` derivation makes with
    make-partition-image, gnu/build/image.scm): an ext4 file system made from ``root``,
    labelled Guix_image; a vm-image's (``root_uuid``) has that UUID and no label."""
    with open(out, "wb") as f:
        f.truncate(fs_bytes)
    fsid = root_uuid or fs_uuid(seed + ":fs")
    label = [] if root_uuid else ["-L", ROOT_LABEL]
    env = {"E2FSPROGS_FAKE_TIME": str(epoch), "MKE2FS_CONFIG": "/dev/null", "LC_ALL": "C"}
    inodes = entries + 4096
    run(["mkfs.ext4", "-q", "-F", *label, "-U", fsid, "-b", str(BLOCK),
         "-N", str(inodes), "-I", "256", "-O", "^metadata_csum_seed",
         "-E", f"root_owner=0:0,hash_seed={fsid},lazy_itable_init=0,nodiscard",
         "-d", str(root), str(out), f"{fs_bytes // 1024}k"], log, env=env)
    # mke2fs copies each source file's ctime and owner: set them for every inode used
    # (-d numbers them in order: 2 is /, 11 lost+found, then 12 on).
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(epoch))
    cmds = []
    for ino in [2, 11, *range(12, 12 + entries)]:
        cmds += [f"sif <{ino}> ctime {stamp}", f"sif <{ino}> uid 0", f"sif <{ino}> gid 0"]
    for path, (uid, gid) in sorted(owners.items()):
        cmds += [f"sif {path} uid {uid}", f"sif {path} gid {gid}"]
    cmdfile = out.with_name(out.name + ".debugfs")
    cmdfile.write_text("\n".join(cmds) + "\n")
    try:
        run(["debugfs", "-w", "-f", str(cmdfile), str(out)], log, env=env)
    finally:
        cmdfile.unlink(missing_ok=True)


ESP_BYTES = 40 << 20                   # gnu/system/image.scm, esp-partition: 40 MiB
ESP_LABEL = "GNU-ESP"
GRUB_EFI_DIR = Path("/usr/lib/grub/x86_64-efi")
GRUB_EFI_MODULES = ("part_gpt", "part_msdos", "fat", "ext2", "search", "search_label",
                    "configfile", "normal", "linux", "boot", "echo", "test")
GPT_ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
GPT_LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


def build_esp(workdir: Path, out: Path, *, epoch: int, log) -> None:
    """The EFI system partition (gnu/system/image.scm's esp-partition, filled by
    initialize-efi-partition): vfat, label GNU-ESP, 40 MiB, GRUB for x86_64 EFI as
    EFI/BOOT/BOOTX64.EFI. Its built-in commands find the root by label and read
    /boot/grub/grub.cfg from it, as Guix's EFI GRUB does."""
    if not (GRUB_EFI_DIR / "linux.mod").exists():
        raise BuildFailed(f"{GRUB_EFI_DIR} not found: apt-get install grub-efi-amd64-bin")
    cfg = workdir / "grub-efi-early.cfg"
    cfg.write_text(f"search --label --set=root {ROOT_LABEL}\nset prefix=($root)/boot/grub\n"
                   "configfile ($root)/boot/grub/grub.cfg\n")
    tree = workdir / "esp"
    (tree / "EFI" / "BOOT").mkdir(parents=True)
    efi = tree / "EFI" / "BOOT" / "BOOTX64.EFI"
    run(["grub-mkimage", "-O", "x86_64-efi", "-d", str(GRUB_EFI_DIR), "-o", str(efi),
         "-p", "/EFI/BOOT", "-c", str(cfg), *GRUB_EFI_MODULES], log)
    _touch_all(tree, epoch)
    with open(out, "wb") as f:
        f.truncate(ESP_BYTES)
    run(["mkfs.vfat", "--invariant", "-n", ESP_LABEL, str(out)], log)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))
    run(["faketime", "-f", stamp, "mcopy", "-s", "-m", "-i", str(out),  # frozen clock
         str(tree / "EFI"), "::/"], log, env={"TZ": "UTC", "MTOOLS_SKIP_CHECK": "1"})
    shutil.rmtree(tree, ignore_errors=True)


def _copy_sparse(src: Path, f, offset: int) -> None:
    f.seek(offset)
    with open(src, "rb") as p:
        while True:
            chunk = p.read(1 << 20)
            if not chunk:
                break
            if chunk.count(0) == len(chunk):
                f.seek(len(chunk), os.SEEK_CUR)      # keep the disk sparse
            else:
                f.write(chunk)


def assemble_disk(workdir: Path, partitions: list[tuple[str, Path]], *, table: str, seed: str,
                  grub_config: str | None, log, nondeterministic: bool = False) -> Path:
    """The image derivation's work (gnu/system/image.scm, system-disk-image): a disk with
    the partition images from 1 MiB on (``esp`` then ``root``, as genimage lays them out),
    an MBR (``table="dos"``, GRUB for BIOS in the post-MBR gap, the root bootable) or a GPT
    (``table="gpt"``, booted by UEFI firmware from the ESP)."""
    starts, pos = [], PART_START * SECTOR
    for _, path in partitions:
        starts.append(pos)
        pos += (path.stat().st_size + (1 << 20) - 1) // (1 << 20) * (1 << 20)
    size = pos + ((1 << 20) if table == "gpt" else 0)       # room for the backup GPT
    disk = workdir / "disk.raw"
    with open(disk, "wb") as f:
        f.truncate(size)
    ident = fs_uuid(seed)
    lines = [f"label: {table}", f"label-id: {ident.upper() if table == 'gpt' else '0x' + ident[:8]}",
             "unit: sectors", ""]
    for (kind, path), start in zip(partitions, starts, strict=True):
        n = path.stat().st_size // SECTOR
        if table == "gpt":
            ptype = GPT_ESP if kind == "esp" else GPT_LINUX
            uuid_ = fs_uuid(f"{seed}:{kind}").upper()
            lines.append(f"start={start // SECTOR}, size={n}, type={ptype}, uuid={uuid_}")
        else:
            ptype = "ef" if kind == "esp" else "83"
            boot = ", bootable" if kind == "root" else ""
            lines.append(f"start={start // SECTOR}, size={n}, type={ptype}{boot}")
    run(["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(disk)], log,
        stdin=("\n".join(lines) + "\n").encode())
    with open(disk, "r+b") as f:
        if table == "dos" and grub_config is not None:
            boot_img = (GRUB_DIR / "boot.img").read_bytes()
            root_index = 1 + [k for k, _ in partitions].index("root")
            core = grub_core(workdir, grub_config, log, root_index)
            f.write(boot_img[:440])
            f.seek(SECTOR)
            f.write(core)
        if nondeterministic:          # VMFLEET_STANDIN_NONDETERMINISTIC=image
            f.seek((PART_START - 1) * SECTOR if table == "dos" else size - (1 << 20) // 2)
            f.write(os.urandom(SECTOR))
        for (_, path), start in zip(partitions, starts, strict=True):
            _copy_sparse(path, f, start)
    return disk


ZSTD_ABOVE = 256 << 20


def to_qcow2(raw: Path, out: Path, log, content_bytes: int = 0, zstd: bool = False) -> None:
    """``qemu-img convert -c`` as Guix does (gnu/build/image.scm, convert-disk-image): zlib,
    and ``-o compression_type=zstd`` from a0941c14ef1 (2025-04-30) on (``zstd``); for
    closures above 256 MB (the benchmark knob) zstd too, 7x faster on such data."""
    opts = ["-o", "compression_type=zstd"] if zstd or content_bytes > ZSTD_ABOVE else []
    run(["qemu-img", "convert", "-q", "-c", "-f", "raw", "-O", "qcow2", *opts, str(raw),
         str(out)], log)


def build_partition(workdir: Path, closure: Closure, extras: RootExtras, *,
                    image_size: int | None, epoch: int, out: Path, log,
                    nondeterministic: bool = False, root_uuid: str | None = None) -> None:
    """Build the root partition image at ``out`` (a temporary name the caller renames)."""
    items = closure.closure_of([closure.system, closure.grub])
    root = workdir / "root"
    root.mkdir()
    nar: dict[str, tuple[int, str]] = {}
    started = time.monotonic()
    populate(root, closure, items, extras, nar)
    log(f"wrote {len(items)} store items in {time.monotonic() - started:.2f} s")
    db = store_db(items, nar, epoch)
    dbdir = root / "var" / "guix" / "db"
    dbdir.mkdir(parents=True, exist_ok=True)
    (dbdir / "db.sqlite").write_bytes(db)
    if nondeterministic:              # VMFLEET_STANDIN_NONDETERMINISTIC=partition
        (root / "var" / "lib").mkdir(parents=True, exist_ok=True)
        (root / "var" / "lib" / "random-seed").write_bytes(os.urandom(512))
    entries = _touch_all(root, epoch)
    content = sum(size for size, _ in nar.values()) + len(db)
    log(f"root file system: {entries} entries, {content} bytes of store items")
    fs_bytes = partition_size(entries=entries, content_bytes=content, image_size=image_size)
    make_partition(root, out, entries=entries, fs_bytes=fs_bytes, epoch=epoch,
                   seed=closure.system.hash, owners=extras.owners, log=log,
                   root_uuid=root_uuid)
    shutil.rmtree(root, ignore_errors=True)


def build_image(workdir: Path, closure: Closure, partitions: list[tuple[str, Path]], *,
                table: str, grub_config: str | None, out: Path, log, fmt: str = "qcow2",
                nondeterministic: bool = False, zstd: bool = False) -> None:
    """Assemble the image at ``out`` (a temporary name) from the partition images: a
    compressed qcow2 (``fmt="qcow2"``) or the raw disk (``efi-raw``)."""
    raw = assemble_disk(workdir, partitions, table=table, seed=closure.system.hash,
                        grub_config=grub_config, log=log, nondeterministic=nondeterministic)
    if fmt == "raw":
        run(["cp", "--sparse=always", str(raw), str(out)], log)
        raw.unlink()
        return
    to_qcow2(raw, out, log, raw.stat().st_size, zstd=zstd)
    raw.unlink()
