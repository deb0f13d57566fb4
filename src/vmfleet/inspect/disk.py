"""Disk images read offline: a raw view of a qcow2 (or raw) file and its partition table.

No boot, no root mount, no libguestfs (without KVM its appliance did not finish a diff of a
100 MB image in 5 minutes on the machines vmfleet was built on). ``open_disk`` gives a raw view of the image:

- a raw file is used as it is;
- any other format (qcow2 above all) is exported through FUSE by ``qemu-storage-daemon`` onto
  an empty temporary file, which then reads as the raw disk with no copy at all (listing
  /gnu/store of a 170 MB qcow2 this way takes milliseconds); the daemon is started with
  ``--daemonize`` so it returns once the export is mounted, and is stopped by the PID it wrote,
  then the file is unmounted with ``fusermount3 -u`` if the daemon left it mounted;
- without FUSE (no /dev/fuse, no fusermount, or the export fails), ``qemu-img convert -O raw``
  to a sparse temporary file: slower (it reads the whole image), but it works anywhere.

Partitions come from ``sfdisk --json`` (MBR and GPT). File systems inside are read by
:mod:`vmfleet.inspect.ext4` (debugfs). The root of a Guix system is found by its content: the ext4
partition that has ``/gnu/store``, not by a partition number or label.

This module and inspect/ext4.py are where images are read: they run qemu-img (info, check, convert),
qemu-storage-daemon, sfdisk, fusermount and debugfs (qemu_img.py makes overlays and copies).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vmfleet.errors import CommandFailed, ImageError, ToolMissing
from vmfleet.tools import killpoint
from vmfleet.tools.run import pid_alive, run, which

EXT_MAGIC_OFFSET = 1024 + 0x38     # s_magic in the ext2/3/4 superblock
EXT_MAGIC = b"\x53\xef"
# MBR types that are containers (extended partitions), not file systems.
EXTENDED_TYPES = {"5", "f", "85"}


@dataclass(frozen=True)
class Partition:
    number: int              # 1-based, as the kernel would name it (vda1, vda2, ...)
    start: int               # bytes from the start of the disk
    size: int                # bytes
    type: str                # MBR type ('83') or GPT type GUID
    bootable: bool = False
    name: str = ""           # GPT partition name
    uuid: str = ""           # GPT partition UUID


@dataclass(frozen=True)
class PartitionTable:
    label: str               # 'dos', 'gpt' or 'none' (a file system on the whole disk)
    id: str
    sector_size: int
    partitions: tuple[Partition, ...]


@dataclass(frozen=True)
class ImageInfo:
    """What ``qemu-img info`` says about an image file."""

    path: Path
    format: str              # 'qcow2', 'raw', ...
    virtual_size: int        # bytes of the disk it holds
    actual_size: int         # bytes the file uses on its file system
    backing_file: str | None
    cluster_size: int = 65536


@dataclass(frozen=True)
class StoreImages:
    """The images of one vmfleet home's store that its registry recorded: the only backing
    files an image vmfleet reads may have (``images`` is that home's images/, links resolved)."""

    images: Path
    recorded: frozenset[str]

    @classmethod
    def of(cls, reg) -> StoreImages:
        """The store of the home ``reg`` (a Registry) sits at the top of."""
        from vmfleet.registry.builds import recorded_image_shas

        return cls(Path(os.path.realpath(reg.resolve_path("images"))), recorded_image_shas(reg))

    def holds(self, image: Path, backing: str) -> bool:
        """Whether ``backing`` (as ``image`` names it) is, links resolved, a regular file of
        this store that the registry recorded. Its name proves nothing: any folder can be
        called images/ and hold a link named like a store image to a host file."""
        target = Path(backing)
        if not target.is_absolute():
            target = image.absolute().parent / target
        real = Path(os.path.realpath(target))
        if STORE_IMAGE.match(real.name) is None or real.parent != self.images or real.stem not in self.recorded:
            return False
        try:
            return stat.S_ISREG(os.stat(real).st_mode)
        except OSError:
            return False


def image_info(path: str | os.PathLike, store: StoreImages | None = None) -> ImageInfo:
    """Probe an image file; ImageError when qemu-img cannot read it at all. A backing file is
    accepted only when ``store`` holds it (see :class:`StoreImages`)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file", "check the path of the image") from None
    except OSError as e:
        raise ImageError(f"cannot read {path}: {e.strerror}",
                         "check the path of the image and its permissions") from None
    if stat.S_ISDIR(mode):
        raise ImageError(f"{path} is a directory, not a disk image", "give the image file")
    if not stat.S_ISREG(mode):  # a FIFO would hold qemu-img until its timeout
        raise ImageError(f"{path} is {_type_name(mode)}, not an image file",
                         "give a qcow2 or raw image file; copy a device's content into one first")
    # Absolute, so that no file name ('--help.qcow2') reads as an option; a short timeout, as
    # for every call on an image that may be hostile.
    res = run([which("qemu-img"), "info", "--output=json", "-U", str(path.absolute())],
              check=False, timeout=UNTRUSTED_TIMEOUT)
    if res.returncode != 0:
        raise ImageError(f"{path} is not a readable disk image: {_qemu_message(res.stderr)}",
                         "is it truncated or corrupt? 'qemu-img check' tells more")
    data = json.loads(res.stdout)
    specific = (data.get("format-specific") or {}).get("data") or {}
    if specific.get("corrupt"):
        raise ImageError(f"{path}: qcow2 image is marked corrupt",
                         f"try 'qemu-img check -r all' on a copy of {path}")
    backing = data.get("backing-filename")
    if backing and not (store is not None and store.holds(path, backing)):
        raise ImageError(f"{path} has a backing file ({backing}): vmfleet reads only "
                         "self-contained images, or overlays of images in a vmfleet store",
                         f"make a self-contained copy first: qemu-img convert -O qcow2 "
                         f"{path} FLAT.qcow2 (only if you trust its backing file)")
    return ImageInfo(path=path, format=data.get("format", "raw"),
                     virtual_size=int(data.get("virtual-size", 0)),
                     actual_size=int(data.get("actual-size", 0)),
                     backing_file=data.get("backing-filename"),
                     cluster_size=int(data.get("cluster-size") or 65536))


UNTRUSTED_TIMEOUT = 30  # seconds for qemu-img and sfdisk on an image that may be hostile
STORE_IMAGE = re.compile(r"^[0-9a-f]{64}\.qcow2$")


def check_image(info: ImageInfo) -> None:
    """Refuse a qcow2 whose data lies beyond the end of the file (truncated) or is inconsistent.

    ``qemu-img check`` reads only the metadata (milliseconds even for GB images); a truncated
    image would otherwise show up later as confusing short reads inside debugfs.
    """
    if info.format != "qcow2":
        return
    res = run([which("qemu-img"), "check", "--output=json", "-U", str(info.path.absolute())],
              check=False, timeout=UNTRUSTED_TIMEOUT * 4)
    data: dict = {}
    with contextlib.suppress(ValueError):
        data = json.loads(res.stdout) if res.stdout.strip() else {}
    end = data.get("image-end-offset")
    size = info.path.stat().st_size
    problems = int(data.get("corruptions", 0) or 0) + int(data.get("check-errors", 0) or 0)
    beyond = "exceeding the end of the file" in res.stderr or "truncated" in res.stderr.lower()
    # The last cluster may legitimately be short (a fresh image ends inside its refcount
    # block), so only a gap of a whole cluster or more means data is missing.
    if (end is not None and end - size >= info.cluster_size) or beyond:
        raise ImageError(f"{info.path} is truncated: its data runs to byte {end or '?'}, "
                         f"the file has {size}",
                         "the copy was cut short: copy the image again")
    if problems or res.returncode not in (0, 3):  # 3: leaked clusters only (harmless)
        why = _qemu_message(res.stderr) if res.stderr.strip() else f"{problems} errors"
        raise ImageError(f"{info.path} is a corrupt qcow2 image ({why})",
                         f"try 'qemu-img check -r all' on a copy of {info.path}")


def _type_name(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _qemu_message(stderr: str) -> str:
    lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
    if not lines:
        return "no details"
    msg = lines[-1]
    for prefix in ("qemu-img: ", "qemu-storage-daemon: "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


# --- the raw view ------------------------------------------------------------------------


def fuse_available() -> bool:
    return (os.path.exists("/dev/fuse")
            and shutil.which("qemu-storage-daemon") is not None
            and (shutil.which("fusermount3") or shutil.which("fusermount")) is not None)


def _is_mounted(path: Path) -> bool:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            target = str(path)
            return any(line.split()[4] == target for line in f if len(line.split()) > 4)
    except OSError:
        return False


class _FuseExport:
    """A qemu-storage-daemon FUSE export of ``image`` onto the empty file ``mountpoint``."""

    def __init__(self, info: ImageInfo, mountpoint: Path, pidfile: Path):
        self.info = info
        self.mountpoint = mountpoint
        self.pidfile = pidfile
        self.pid: int | None = None

    def start(self) -> None:
        self.mountpoint.touch()
        # ',' separates options in qemu's syntax and is escaped by doubling it.
        filename = str(self.info.path.absolute()).replace(",", ",,")
        argv = [
            which("qemu-storage-daemon"), "--daemonize", "--pidfile", str(self.pidfile),
            "--blockdev", f"driver=file,node-name=f,filename={filename},read-only=on,"
                          "locking=off",
            "--blockdev", f"driver={self.info.format},node-name=q,file=f,read-only=on",
            "--export", f"type=fuse,id=e,node-name=q,mountpoint={self.mountpoint},"
                        "writable=off",
        ]
        try:
            res = run(argv, check=False, timeout=60)
            self._read_pid()
            if res.returncode != 0:
                raise CommandFailed(f"qemu-storage-daemon could not export {self.info.path}: "
                                    f"{_qemu_message(res.stderr)}", returncode=res.returncode,
                                    stderr=res.stderr)
        except BaseException:
            # Also on a timeout or ^C: the daemon may be up (and mounted) all the same.
            self._read_pid()
            self.stop()
            raise

    def _read_pid(self) -> None:
        if self.pid is None and self.pidfile.exists():
            with contextlib.suppress(ValueError, OSError):
                self.pid = int(self.pidfile.read_text().strip())

    def stop(self) -> None:
        pid, self.pid = self.pid, None
        if pid is not None and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.005)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.01)
        if _is_mounted(self.mountpoint):
            tool = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount"
            run([tool, "-u", str(self.mountpoint)], check=False, timeout=30)


@dataclass
class Disk:
    """An image opened for reading: ``raw`` is a file that reads as the whole raw disk."""

    info: ImageInfo
    raw: Path
    method: str              # 'direct', 'fuse' or 'convert'
    workdir: Path            # temporary directory, removed when the disk is closed
    table: PartitionTable | None = None

    @property
    def path(self) -> Path:
        return self.info.path

    def partition_table(self) -> PartitionTable:
        if self.table is None:
            self.table = read_partition_table(self.raw, self.info.path)
        return self.table

    def read_at(self, offset: int, length: int) -> bytes:
        with open(self.raw, "rb") as f:
            f.seek(offset)
            return f.read(length)

    def has_ext_magic(self, offset: int) -> bool:
        return self.read_at(offset + EXT_MAGIC_OFFSET, 2) == EXT_MAGIC

    def filesystem(self, partition: Partition):
        """An ext2/3/4 file system reader on one partition (see vmfleet.inspect.ext4)."""
        from vmfleet.inspect.ext4 import Ext4

        return Ext4(self.raw, partition.start, f"{self.info.path} partition {partition.number}",
                    workdir=self.workdir)

    def guix_root(self):
        """The file system of the partition that holds a Guix root (an ext4 with /gnu/store)."""
        from vmfleet.inspect.ext4 import Ext4

        table = self.partition_table()
        seen = []
        candidates: list[tuple[Partition, Ext4]] = []
        for part in table.partitions:
            if part.type.lower() in EXTENDED_TYPES and table.label == "dos":
                continue
            if not self.has_ext_magic(part.start):
                seen.append(f"{part.number}: not ext4")
                continue
            fs = self.filesystem(part)
            if fs.exists("/gnu/store"):
                candidates.append((part, fs))
            else:
                seen.append(f"{part.number}: ext4 without /gnu/store")
        if not candidates:
            what = "; ".join(seen) if seen else "no partitions"
            raise ImageError(
                f"{self.info.path}: no partition holds a Guix root file system "
                f"(an ext4 with /gnu/store); found {what}",
                "is this an image made by 'guix system image'? vmfleet reads ext4 roots only",
            )
        # Several: prefer the one that also has the store database, then the first.
        for part, fs in candidates:
            if fs.exists("/var/guix/db/db.sqlite"):
                return part, fs
        return candidates[0]


def read_partition_table(raw: Path, shown: Path | None = None) -> PartitionTable:
    """The partitions of a raw disk, through ``sfdisk --json`` (MBR and GPT).

    A disk without a partition table but with an ext file system at byte 0 (a bare file system
    image) reads as one partition covering the disk, label 'none'.
    """
    shown = shown or raw
    res = run([which("sfdisk"), "--json", str(Path(raw).absolute())], check=False,
              timeout=UNTRUSTED_TIMEOUT,
              env={"LC_ALL": "C"})
    if res.returncode != 0 or not res.stdout.strip():
        with open(raw, "rb") as f:
            f.seek(EXT_MAGIC_OFFSET)
            magic = f.read(2)
        if magic == EXT_MAGIC:
            size = os.stat(raw).st_size
            return PartitionTable("none", "", 512, (Partition(1, 0, size, "83"),))
        raise ImageError(f"{shown} is not a disk image: it has no partition table "
                         "and no file system", "give a disk image made by 'guix system image'")
    try:
        table = json.loads(res.stdout)["partitiontable"]
    except (ValueError, KeyError) as e:
        raise ImageError(f"{shown}: unreadable partition table ({e})",
                         "is the image corrupt?") from None
    sector = int(table.get("sectorsize", 512))
    parts = []
    for i, p in enumerate(table.get("partitions", []), start=1):
        node = p.get("node", "")
        digits = ""
        for ch in reversed(node):
            if not ch.isdigit():
                break
            digits = ch + digits
        number = int(digits) if digits else i
        parts.append(Partition(
            number=number, start=int(p["start"]) * sector, size=int(p["size"]) * sector,
            type=str(p.get("type", "")), bootable=bool(p.get("bootable", False)),
            name=p.get("name", ""), uuid=p.get("uuid", ""),
        ))
    if not parts:
        raise ImageError(f"{shown}: the partition table is empty",
                         "give a disk image made by 'guix system image'")
    return PartitionTable(label=table.get("label", "?"), id=str(table.get("id", "")),
                          sector_size=sector, partitions=tuple(parts))


WORKDIR_PREFIX = "vmfleet-disk-"
OWNER = "owner.pid"  # in each work directory: the PID of the vmfleet that made it
ABANDONED_AFTER = 600  # seconds: a work directory without an owner file is abandoned after that


def reap_abandoned() -> list[Path]:
    """Remove what killed vmfleet processes left of their open disks: the qemu-storage-daemon
    (by the PID it recorded, and only when that process still serves this mount point), its
    FUSE mount and the temporary directory. Returns the directories removed.

    Found by the owner PID each work directory records: a directory whose owner is gone (or,
    made by an older vmfleet, that has no owner file and is old) is abandoned. Never by name.
    """
    removed = []
    for workdir in Path(tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*"):
        try:
            st = workdir.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                continue
            owner = workdir / OWNER
            if owner.exists():
                if pid_alive(int(owner.read_text().strip() or 0)):
                    continue
            elif time.time() - st.st_mtime < ABANDONED_AFTER:
                continue
        except (OSError, ValueError):
            continue
        view = workdir / "view.raw"
        export = _FuseExport(None, view, workdir / "qsd.pid")  # type: ignore[arg-type]
        export._read_pid()
        if export.pid is not None and not _serves(export.pid, view):
            export.pid = None  # that PID is another process now: leave it alone
        export.stop()
        if not _is_mounted(view):
            shutil.rmtree(workdir, ignore_errors=True)
            removed.append(workdir)
    return removed


def _serves(pid: int, mountpoint: Path) -> bool:
    """Whether process ``pid`` is a qemu-storage-daemon exporting onto ``mountpoint``."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (bool(argv) and os.path.basename(argv[0]) == b"qemu-storage-daemon"
            and any(f"mountpoint={mountpoint},".encode() in a for a in argv))


@contextlib.contextmanager
def open_disk(path: str | os.PathLike, *, method: str = "auto",
              store: StoreImages | None = None) -> Iterator[Disk]:
    """Open an image read-only and yield a :class:`Disk` whose ``raw`` reads as the raw disk.

    ``method``: 'auto' (raw files directly, else FUSE, else convert), 'fuse' or 'convert'.
    ``store``: the store whose recorded images may back it (overlays of VMs).
    Everything started or written is undone on exit, also on errors.
    """
    reap_abandoned()
    info = image_info(path, store)  # overlays: qemu follows the backing file by itself
    check_image(info)
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    (workdir / OWNER).write_text(f"{os.getpid()}\n")
    export: _FuseExport | None = None
    try:
        if info.format == "raw" and method in ("auto", "direct"):
            # A link of our own name: debugfs treats '?' in a device name as options.
            raw = workdir / "disk.raw"
            raw.symlink_to(info.path.absolute())
            used = "direct"
        else:
            raw = workdir / "view.raw"
            used = ""
            if method in ("auto", "fuse") and fuse_available():
                export = _FuseExport(info, raw, workdir / "qsd.pid")
                try:
                    export.start()
                    used = "fuse"
                    killpoint.reached("inspect:exported")
                except (CommandFailed, ToolMissing):
                    if method == "fuse":
                        raise
                    export.stop()  # (start() did already; stop() is idempotent)
                    export = None
                    with contextlib.suppress(OSError):
                        raw.unlink()
            elif method == "fuse":
                raise ToolMissing("FUSE exports are not available here (/dev/fuse, "
                                  "qemu-storage-daemon and fusermount3 are needed)",
                                  "apt-get install fuse3 qemu-system-x86, or use method='convert'")
            if not used:
                res = run([which("qemu-img"), "convert", "-U", "-f", info.format, "-O", "raw",
                           "-S", "4k", str(info.path), str(raw)], check=False, timeout=3600)
                if res.returncode != 0:
                    raise ImageError(f"{info.path} cannot be read: {_qemu_message(res.stderr)}",
                                     "is the image truncated or corrupt? "
                                     "'qemu-img check' tells more")
                used = "convert"
        opened = Disk(info=info, raw=raw, method=used, workdir=workdir)
        opened.partition_table()  # not a disk at all: say so now
        yield opened
    finally:
        if export is not None:
            export.stop()
        shutil.rmtree(workdir, ignore_errors=True)
