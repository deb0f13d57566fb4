"""The content-addressed image store: ``images/<sha256>.qcow2``, read-only.

An image is copied in under a temporary name while it is hashed in the same pass, fsynced, made
read-only and renamed into place, so a half-written image is never visible under its final name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vmfleet import timeutil
from vmfleet.errors import BuildError, NotFound, VmfleetError
from vmfleet.home import Home
from vmfleet.registry import builds as build_rows
from vmfleet.registry import vms as vm_rows
from vmfleet.registry.db import Registry
from vmfleet.tools import killpoint, locks
from vmfleet.tools.run import pid_alive

CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    size: int
    path: Path


def image_path(home: Home, sha256: str) -> Path:
    return home.images / f"{sha256}.qcow2"


def add_file(home: Home, source: str | os.PathLike) -> StoredImage:
    """Copy ``source`` into the store; return its sha256, size and final path."""
    home.images.mkdir(parents=True, exist_ok=True)
    tmp = home.images / f".incoming-{os.getpid()}-{os.urandom(4).hex()}"
    digest = hashlib.sha256()
    try:
        with open(source, "rb", buffering=0) as src, open(tmp, "wb", buffering=0) as dst:
            size = _copy_hashing(src, dst, digest)
            os.fsync(dst.fileno())
        sha = digest.hexdigest()
        final = image_path(home, sha)
        os.chmod(tmp, 0o400)  # private (see home.py); libvirt lends it to QEMU while a VM runs
        os.replace(tmp, final)
        _fsync_dir(home.images)
        return StoredImage(sha, size, final)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno == errno.ENOSPC:
            raise BuildError(f"no space left on the device of {home.images}",
                             "free space, or remove unused images with 'vmfleet images gc'") from None
        if isinstance(e, FileNotFoundError):
            raise BuildError(f"the built image {source} is missing",
                             "the build did not leave the file it named; see 'vmfleet build-log'") from None
        raise VmfleetError(f"cannot store image: {e}", "check the permissions and space of "
                           f"{home.images}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy_hashing(src, dst, digest) -> int:
    """Copy in the kernel (copy_file_range, as cp does) while another thread hashes the source.

    Both read the same pages, so the second read comes from the page cache; hashlib releases
    the GIL, so the hash runs on the other core. Falls back to read/write where the kernel
    copy is not supported (e.g. across some file systems). When the copy fails (a full disk,
    Ctrl-C) the hashing thread stops at its next chunk instead of reading the file to its end.
    """
    size = os.fstat(src.fileno()).st_size
    stop = threading.Event()

    def hash_source():
        with open(src.name, "rb", buffering=0) as again:
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            while not stop.is_set() and (n := again.readinto(buf)):
                digest.update(view[:n])

    with ThreadPoolExecutor(max_workers=1) as pool:
        hashing = pool.submit(hash_source)
        done = 0
        try:
            try:
                while done < size:
                    copied = os.copy_file_range(src.fileno(), dst.fileno(), min(CHUNK * 16, size - done))
                    if copied == 0:
                        break
                    done += copied
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                src.seek(done)
                dst.seek(done)
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                    done += len(chunk)
        except BaseException:
            stop.set()
            raise
        hashing.result()
    return done


def store(reg: Registry, home: Home, source: str | os.PathLike) -> StoredImage:
    """Add an image to the store and the registry, under the store lock that ``gc`` takes, so a
    gc never sees the new file before its row."""
    with locks.lock(home, "images"):
        image = add_file(home, source)
        register(reg, image)
    return image


def register(reg: Registry, image: StoredImage) -> None:
    build_rows.add_image(reg, sha256=image.sha256, size=image.size,
                         path=reg.relative_path(image.path), created=timeutil.now())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ImageUse:
    sha256: str
    size: int
    path: str
    present: bool
    generations: tuple[str, ...]
    vms: tuple[str, ...]


def list_images(reg: Registry) -> list[ImageUse]:
    out = []
    for row in build_rows.images(reg):
        gens = tuple(build_rows.labels_of_image(reg, row["sha256"]))
        vms = tuple(vm_rows.using_image(reg, row["sha256"]))
        path = reg.resolve_path(row["path"])
        out.append(ImageUse(row["sha256"], row["size"], str(path), path.exists(), gens, vms))
    return out


def gc(reg: Registry, home: Home, *, dry_run: bool = False) -> list[ImageUse]:
    """Remove the image files no VM uses; return what was (or would be) removed.

    An image is kept while any VM (running, stopped, or retired and kept for rollback) is backed
    by it. Its registry row and the build records stay (they are history, and ``check`` compares
    against their sha256); a generation whose image file was removed is rebuilt from its pins
    when it is needed again. Files in images/ the registry does not know go too, and so do
    half-copied images of processes that died.
    """
    with locks.lock(home, "images"):
        images = list_images(reg)
        doomed = [i for i in images if image_path(home, i.sha256).exists() and not i.vms]
        known = {Path(i.path).name for i in images}
        stray = []
        if home.images.exists():
            stray = [p for p in home.images.glob("*.qcow2") if p.name not in known]
            stray += [p for p in home.images.glob(".incoming-*") if not _writer_alive(p.name)]
        stray_uses = [ImageUse(p.stem, p.stat().st_size, str(p), True, (), ()) for p in stray]
        if not dry_run:
            # Only this home's own files: a row's recorded path is never trusted for a removal.
            for path in [image_path(home, i.sha256) for i in doomed] + stray:
                path.unlink(missing_ok=True)
                killpoint.reached("gc:unlinking")
    return doomed + stray_uses


def _writer_alive(incoming_name: str) -> bool:
    """Whether the process that writes '.incoming-PID-RANDOM' still runs."""
    try:
        return pid_alive(int(incoming_name.split("-")[1]))
    except (IndexError, ValueError):
        return False


def get(reg: Registry, sha256_prefix: str) -> dict:
    rows = build_rows.images_matching(reg, sha256_prefix)
    if len(rows) != 1:
        raise NotFound(f"no single image matches {sha256_prefix!r}", "list them with 'vmfleet images'")
    return {**rows[0], "path": str(reg.resolve_path(rows[0]["path"]))}
