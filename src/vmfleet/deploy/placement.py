"""Where a VM's disk and console log live on its host: linked clones of the stored image.

Each image is placed on a host once and every VM gets a qcow2 overlay backed by it, so a
deploy costs the same whatever the image's size.

- Local hosts use the image store directly (``images/<sha256>.qcow2``, read-only) and put
  overlays in ``Home.overlays/<vm>.qcow2`` and console logs in ``Home.logs/<vm>.console``.
- Remote hosts get everything through libvirt's storage API, in a ``dir`` pool vmfleet
  defines there: the image is uploaded once as volume ``<sha256>.qcow2``, and a marker volume
  ``<sha256>.qcow2.complete`` is created after the upload finished, so an upload cut short
  (vmfleet killed, network lost) is detected and redone instead of booting a truncated disk.
  Overlays are volumes ``<vm>.qcow2`` created by libvirt with the image as backing store; the
  console log is written by the host's virtlogd into the pool directory and read back as a
  volume.

Callers hold the host lock (see deploy) while placing, so two deploys never upload the same
image or create the same overlay at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vmfleet.deploy import hosts
from vmfleet.deploy.hosts import Host
from vmfleet.home import PRIVATE_FILE, Home
from vmfleet.tools import qemu_img, virt

CONSOLE_TAIL_BYTES = 16 * 1024


@dataclass(frozen=True)
class Image:
    """An image in the local store."""

    sha256: str
    path: Path


class Placement(Protocol):
    def base(self, image: Image) -> str: ...
    def create_overlay(self, vm: str, base: str, virtual_size: int) -> str: ...
    def remove_overlay(self, vm: str, overlay: str) -> None: ...
    def console_path(self, vm: str) -> str: ...
    def console_tail(self, vm: str, lines: int = 20) -> list[str]: ...
    def remove_console(self, vm: str) -> None: ...


def for_host(home: Home, host: Host, conn: virt.Conn) -> Placement:
    if host.remote:
        return RemotePlacement(conn, host.pool or hosts.DEFAULT_POOL, host.pool_dir or hosts.DEFAULT_POOL_DIR)
    return LocalPlacement(home)


def tail_lines(data: bytes, lines: int) -> list[str]:
    text = data.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    return [ln.rstrip() for ln in text.splitlines() if ln.strip()][-lines:]


class LocalPlacement:
    def __init__(self, home: Home):
        self.home = home

    def base(self, image: Image) -> str:
        return os.fspath(image.path)

    def create_overlay(self, vm: str, base: str, virtual_size: int) -> str:
        overlay = qemu_img.create_overlay(base, self.home.overlays / f"{vm}.qcow2")
        os.chmod(overlay, PRIVATE_FILE)  # the VM's disk holds its host keys: its owner's only
        return os.fspath(overlay)

    def remove_overlay(self, vm: str, overlay: str) -> None:
        """Remove the VM's overlay: only ever a file of this home's overlays/ (a copied home's
        records may still name the original's)."""
        mine = self.home.overlays / f"{vm}.qcow2"
        mine.unlink(missing_ok=True)
        if overlay and Path(overlay).is_absolute() and Path(overlay).parent == self.home.overlays:
            Path(overlay).unlink(missing_ok=True)

    def console_path(self, vm: str) -> str:
        self.home.logs.mkdir(parents=True, exist_ok=True)
        return os.fspath(self.home.logs / f"{vm}.console")

    def console_tail(self, vm: str, lines: int = 20) -> list[str]:
        path = self.home.logs / f"{vm}.console"
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - CONSOLE_TAIL_BYTES))
                return tail_lines(f.read(), lines)
        except OSError:
            return []

    def remove_console(self, vm: str) -> None:
        (self.home.logs / f"{vm}.console").unlink(missing_ok=True)


class RemotePlacement:
    MARKER = ".complete"

    def __init__(self, conn: virt.Conn, pool: str, pool_dir: str):
        self.conn = conn
        self.pool = pool
        self.pool_dir = pool_dir
        self._dir: str | None = None

    def _ready(self) -> str:
        if self._dir is None:
            self._dir = self.conn.ensure_pool(self.pool, self.pool_dir)
        return self._dir

    def base(self, image: Image) -> str:
        self._ready()
        volume = f"{image.sha256}.qcow2"
        path = self.conn.volume_path(self.pool, volume)
        if path is not None and self.conn.volume_path(self.pool, volume + self.MARKER):
            return path
        if path is not None:  # an upload that never finished
            self.conn.delete_volume(self.pool, volume)
        path = self.conn.upload(self.pool, volume, image.path)
        self.conn.create_marker(self.pool, volume + self.MARKER)
        return path

    def create_overlay(self, vm: str, base: str, virtual_size: int) -> str:
        self._ready()
        return self.conn.create_overlay(self.pool, f"{vm}.qcow2", base, virtual_size)

    def remove_overlay(self, vm: str, overlay: str) -> None:
        self.conn.delete_volume(self.pool, f"{vm}.qcow2", refresh=True)

    def console_path(self, vm: str) -> str:
        return f"{self._ready().rstrip('/')}/{vm}.console"

    def console_tail(self, vm: str, lines: int = 20) -> list[str]:
        return tail_lines(self.conn.read_volume_tail(self.pool, f"{vm}.console",
                                                     CONSOLE_TAIL_BYTES), lines)

    def remove_console(self, vm: str) -> None:
        self.conn.delete_volume(self.pool, f"{vm}.console", refresh=True)
