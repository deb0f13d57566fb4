"""qemu-img, and only here: linked-clone overlays, full copies, and what an image file is.

A VM's disk is a qcow2 overlay backed by the read-only image in the store, so deploying from
a 2 GB image costs what a 20 MB one does: ``qemu-img create`` writes a few hundred KiB of
metadata and never reads the base. The backing format is always given (``-F qcow2``): QEMU
refuses to guess it, and guessing would be a security hole.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from vmfleet.errors import ImageError
from vmfleet.tools.run import run


@dataclass(frozen=True)
class ImageInfo:
    path: str
    format: str
    virtual_size: int  # bytes the guest sees
    actual_size: int  # bytes on the host's disk
    backing_file: str | None
    backing_format: str | None


def info(path: str | os.PathLike) -> ImageInfo:
    """Read an image's header; ``-U`` because the image may be in use by a running VM."""
    # Absolute: no file name ('--help.qcow2') reads as an option.
    result = run(["qemu-img", "info", "-U", "--output=json", os.path.abspath(path)], check=False,
                 timeout=60)
    if result.returncode != 0:
        raise ImageError(f"cannot read image {path}: {result.stderr.strip() or 'qemu-img failed'}",
                         "is it a disk image? rebuild it with 'vmfleet build'")
    data = json.loads(result.stdout)
    return ImageInfo(
        path=os.fspath(path),
        format=data.get("format", ""),
        virtual_size=int(data.get("virtual-size", 0)),
        actual_size=int(data.get("actual-size", 0)),
        backing_file=data.get("backing-filename") or data.get("full-backing-filename"),
        backing_format=data.get("backing-filename-format"),
    )


def create_overlay(base: str | os.PathLike, overlay: str | os.PathLike) -> Path:
    """A new qcow2 at ``overlay`` whose unwritten blocks read from ``base`` (a qcow2)."""
    base = os.path.abspath(os.fspath(base))
    overlay = Path(overlay)
    overlay.parent.mkdir(parents=True, exist_ok=True)
    if overlay.exists():
        raise ImageError(f"{overlay} already exists",
                         "a VM of that name existed before: remove it with 'vmfleet destroy'")
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base,
         os.path.abspath(overlay)],
        hint="check that the base image exists and is readable, and that the disk is not full")
    return overlay


def full_copy(source: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """A standalone qcow2 copy of ``source`` (what deploying without linked clones costs)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    run(["qemu-img", "convert", "-O", "qcow2", os.path.abspath(source), os.path.abspath(dest)],
        hint="check that the disk is not full")
    return dest
