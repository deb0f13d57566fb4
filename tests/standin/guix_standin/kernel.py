"""The guest's kernel: Debian's cloud kernel, fetched once into the stand-in's cache.

Guix's linux-libre cannot be had here, so the image carries Debian's
``linux-image-*-cloud-amd64`` (the current name comes from ``apt-cache depends
linux-image-cloud-amd64``), downloaded with ``apt-get download`` and unpacked with
``dpkg -x``. Only the bzImage and the few modules the guest needs are kept. The first fetch
takes a few seconds; afterwards the cached copy is used as it is, so that images stay
byte-identical even when Debian publishes a newer kernel (delete the cache folder to move
on). ``VMFLEET_STANDIN_KERNEL_DEB`` names a .deb to use instead of downloading one.
"""

from __future__ import annotations

import fcntl
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import GuixError

META_PACKAGE = "linux-image-cloud-amd64"
# insmod order (each needs the ones before it, as modules.dep says). virtio-rng, evdev and button
# are optional extras: entropy from a virtio-rng device, the ACPI power button.
MODULES = ("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
           "virtio_pci", "failover", "net_failover", "virtio_net", "virtio_blk",
           "virtio-rng", "evdev", "button")
REQUIRED = MODULES[:9]


@dataclass(frozen=True)
class Kernel:
    package: str          # Debian package it came from
    release: str          # uname -r
    bzimage: Path
    modules: tuple[Path, ...]   # in insmod order


def _fail(message: str, hint: str) -> GuixError:
    return GuixError(f"stand-in: cannot get a kernel: {message}", hints=(hint,))


def _run(argv: list[str], cwd: Path | None = None) -> str:
    try:
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise _fail(f"{argv[0]} not found", "run on Debian with apt and dpkg") from None
    if r.returncode != 0:
        raise _fail(f"{' '.join(argv)} failed: {r.stderr.strip()[-400:]}",
                    "run 'apt-get update' (as root) so that apt knows the kernel packages, "
                    "or set VMFLEET_STANDIN_KERNEL_DEB to a linux-image .deb")
    return r.stdout


def current_package() -> str:
    out = _run(["apt-cache", "depends", META_PACKAGE])
    m = re.search(r"Depends:\s*(linux-image-\S+-cloud-amd64)", out)
    if not m:
        raise _fail(f"apt-cache does not know {META_PACKAGE}",
                    "run 'apt-get update' (as root), then build again")
    return m.group(1)


def _load(d: Path) -> Kernel | None:
    meta = d / "KERNEL"
    if not meta.exists():
        return None
    package, release = meta.read_text().split()
    mods = tuple(d / "modules" / f"{m}.ko" for m in MODULES if (d / "modules" / f"{m}.ko").exists())
    return Kernel(package, release, d / "bzImage", mods)


def get(cache: Path, say=lambda line: print(line, file=sys.stderr)) -> Kernel:
    """The cached kernel, fetching it first if there is none."""
    kdir = cache / "kernel"
    kdir.mkdir(parents=True, exist_ok=True)
    current = kdir / "current"
    if current.exists() and (k := _load(current.resolve())):
        return k
    with open(kdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if current.exists() and (k := _load(current.resolve())):
            return k
        return _fetch(kdir, say)


def _fetch(kdir: Path, say) -> Kernel:
    with tempfile.TemporaryDirectory(dir=kdir, prefix="fetch-") as tmp:
        t = Path(tmp)
        deb_env = os.environ.get("VMFLEET_STANDIN_KERNEL_DEB")
        if deb_env:
            deb = Path(deb_env)
            if not deb.is_file():
                raise _fail(f"VMFLEET_STANDIN_KERNEL_DEB={deb_env}: no such file",
                            "point it at a linux-image-*-cloud-amd64 .deb")
            package = deb.name.split("_")[0]
        else:
            package = current_package()
            say(f"stand-in: fetching {package} (once; cached in {kdir})...")
            _run(["apt-get", "download", "-q", package], cwd=t)
            debs = sorted(t.glob(f"{package}_*.deb"))
            if not debs:
                raise _fail(f"apt-get download {package} left no .deb", "check apt's sources")
            deb = debs[0]
        _run(["dpkg", "-x", str(deb), str(t / "x")])
        vmlinuz = sorted((t / "x" / "boot").glob("vmlinuz-*"))
        if not vmlinuz:
            raise _fail(f"{deb.name} holds no /boot/vmlinuz-*", "use a linux-image package")
        release = vmlinuz[0].name[len("vmlinuz-"):]
        out = kdir / package
        shutil.rmtree(out, ignore_errors=True)
        (out / "modules").mkdir(parents=True)
        shutil.copyfile(vmlinuz[0], out / "bzImage")
        found = {}
        for ko in (t / "x" / "lib" / "modules").rglob("*.ko*"):
            base = ko.name.split(".ko")[0]
            if base in MODULES:
                found[base] = ko
        missing = [m for m in REQUIRED if m not in found]
        if missing:
            raise _fail(f"{deb.name} lacks modules {', '.join(missing)}",
                        "use a Debian cloud kernel (linux-image-*-cloud-amd64)")
        for name, ko in found.items():
            data = ko.read_bytes()
            if ko.name.endswith(".xz"):
                data = lzma.decompress(data)
            elif not ko.name.endswith(".ko"):
                raise _fail(f"{ko.name}: compressed modules other than .xz are not supported",
                            "use a Debian 12 cloud kernel")
            (out / "modules" / f"{name}.ko").write_bytes(data)
        (out / "KERNEL").write_text(f"{package} {release}\n")
        tmp_link = kdir / "current.tmp"
        if tmp_link.is_symlink():
            tmp_link.unlink()
        tmp_link.symlink_to(package)
        os.replace(tmp_link, kdir / "current")
    return _load(out)


if __name__ == "__main__":  # tests/standin/bin/fetch-kernel: pre-fetch for setup.sh
    from .settings import cache_dir

    k = get(cache_dir())
    print(f"{k.package} {k.release} {k.bzimage}")
