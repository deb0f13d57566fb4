#!/usr/bin/env python3
"""Benchmark: what linked clones and parallel deploys buy, and how long a deploy takes.

Goals (issue 4), each against a baseline measured in the same run:
- deploying from a 1 GB image with a linked clone (qcow2 overlay) vs with a full copy of the
  image: at least 10x faster (``vmfleet deploy --no-wait``: disk, define, start), on the local
  host (page cache warm and cold) and on a remote host (qemu+ssh://, where the baseline uploads
  the image for every VM and vmfleet uploads it once per host);
- four VMs deployed concurrently (four ``vmfleet deploy`` processes) vs one after another, each
  waiting until SSH answers: at least 1.5x faster on two cores;
- the time from ``vmfleet deploy`` to SSH ready under TCG (reported, no goal).

    .venv/bin/python bench/deploy.py [--image-mb 1024] [--runs 3] [--vms 4] [--json]

Uses the guix stand-in (tests/standin/bin/guix) unless $VMFLEET_GUIX names a guix, real libvirtd
(qemu:///system, started by scripts/start-services.sh) and TCG. Everything it creates (a home
under /tmp, domains named vmfleet-bench-*) is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.helpers.deploy_env import new_home  # noqa: E402

from vmfleet.build import builds as build  # noqa: E402
from vmfleet.build import store as images  # noqa: E402
from vmfleet.deploy import lifecycle, placement, vm_access, vm_records  # noqa: E402
from vmfleet.home import Home  # noqa: E402
from vmfleet.tools import qemu_img  # noqa: E402
from vmfleet.tools.run import run  # noqa: E402

VMFLEET = str(ROOT / ".venv" / "bin" / "vmfleet")


def median(values: list[float]) -> float:
    return statistics.median(values)


def big_image(home: Home, small: Path, size_mb: int) -> images.StoredImage:
    """A bootable image of ``size_mb`` MiB of real data: the small image with random bytes
    after its partitions (where the guest never looks), so a copy has to move all of it."""
    work = home.work / "big"
    work.mkdir(parents=True, exist_ok=True)
    raw = work / "big.raw"
    run(["qemu-img", "convert", "-O", "raw", str(small), str(raw)])
    used = raw.stat().st_size
    total = max(size_mb << 20, used + (64 << 20))
    with open(raw, "r+b") as f, open("/dev/urandom", "rb") as rnd:
        f.seek(used)
        left = total - used
        while left:
            chunk = rnd.read(min(left, 8 << 20))
            f.write(chunk)
            left -= len(chunk)
    qcow = work / "big.qcow2"
    run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(qcow)])
    raw.unlink()
    stored = images.add_file(home, qcow)
    qcow.unlink()
    return stored


def drop_caches() -> bool:
    """Start from a cold page cache, as when deploying an image built months ago (needs root;
    both sides get it alike)."""
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def linked_vs_full(reg, home, gen, image: placement.Image, runs: int) -> dict:
    """deploy --no-wait with the normal linked clone, then with a full copy in its place; with
    the image in the page cache (warm) and read from disk (cold)."""
    opts = vm_records.Options(wait=False, memory_mib=256)
    real_create = placement.LocalPlacement.create_overlay

    def full_copy(self, vm, base, virtual_size):
        return os.fspath(qemu_img.full_copy(base, self.home.overlays / f"{vm}.qcow2"))

    out: dict = {"image_bytes": image.path.stat().st_size, "runs": runs}
    for cache in ("warm", "cold"):
        times: dict[str, list[float]] = {"linked": [], "full": []}
        for i in range(runs):
            for kind in ("linked", "full"):
                placement.LocalPlacement.create_overlay = (real_create if kind == "linked"
                                                           else full_copy)
                name = f"vmfleet-bench-{kind}-{cache}-{i}"
                if cache == "cold" and not drop_caches():
                    return out
                elif cache == "warm":
                    image.path.read_bytes()  # make sure it is cached
                t = time.perf_counter()
                lifecycle.deploy_image(reg, home, gen, image, name=name, options=opts)
                times[kind].append(time.perf_counter() - t)
                lifecycle.destroy(reg, home, name)
        placement.LocalPlacement.create_overlay = real_create
        linked, full = median(times["linked"]), median(times["full"])
        out[cache] = {"linked_s": linked, "full_s": full, "ratio": full / linked}
    # The disk step alone (cold), for the record.
    for kind in ("linked", "full"):
        target = home.work / f"disk-{kind}.qcow2"
        drop_caches()
        t = time.perf_counter()
        if kind == "linked":
            qemu_img.create_overlay(image.path, target)
        else:
            qemu_img.full_copy(image.path, target)
        out[f"disk_{kind}_s"] = time.perf_counter() - t
        target.unlink()
    return out


def remote_linked_vs_full(reg, home, gen, image: placement.Image, runs: int) -> dict:
    """The same on a remote host (qemu+ssh:// through a private sshd on 127.0.0.1): the image
    is uploaded into the host's pool once, then each VM gets an overlay volume; the baseline
    uploads the whole image for every VM."""
    from tests.helpers.remote_host import remote_host

    opts = vm_records.Options(wait=False, memory_mib=256)
    real_create = placement.RemotePlacement.create_overlay

    def full_upload(self, vm, base, virtual_size):
        self._ready()
        return self.conn.upload(self.pool, f"{vm}.qcow2", image.path)

    times: dict[str, list[float]] = {"linked": [], "full": []}
    with remote_host(reg, home, name="bench-hv", sshd_dir=home.work / "sshd") as hv:
        try:
            t = time.perf_counter()
            lifecycle.deploy_image(reg, home, gen, image, name="vmfleet-bench-first", host=hv.name,
                                   options=opts)
            first = time.perf_counter() - t
            lifecycle.destroy(reg, home, "vmfleet-bench-first")
            for i in range(runs):
                for kind in ("linked", "full"):
                    placement.RemotePlacement.create_overlay = (real_create if kind == "linked"
                                                                else full_upload)
                    name = f"vmfleet-bench-r{kind}-{i}"
                    t = time.perf_counter()
                    lifecycle.deploy_image(reg, home, gen, image, name=name, host=hv.name,
                                           options=opts)
                    times[kind].append(time.perf_counter() - t)
                    lifecycle.destroy(reg, home, name)
        finally:
            placement.RemotePlacement.create_overlay = real_create
    linked, full = median(times["linked"]), median(times["full"])
    return {"first_deploy_with_upload_s": first, "linked_s": linked, "full_s": full,
            "ratio": full / linked}


def cli_deploy(home: Home, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [VMFLEET, "--home", str(home.root), "deploy", "web", "--name", name, "--timeout", "10m",
         "--memory", "256M"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_ok(proc: subprocess.Popen) -> None:
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"bench: deploy failed:\n{err}")


def sequential_vs_concurrent(reg, home, n: int) -> dict:
    each = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        wait_ok(cli_deploy(home, f"vmfleet-bench-seq-{i}"))
        each.append(time.perf_counter() - t)
    sequential = time.perf_counter() - t0
    destroy_all(reg, home)

    t0 = time.perf_counter()
    procs = [cli_deploy(home, f"vmfleet-bench-par-{i}") for i in range(n)]
    for p in procs:
        wait_ok(p)
    concurrent = time.perf_counter() - t0
    with vm_access.connect_ssh(reg, home, f"vmfleet-bench-par-{n - 1}") as conn:
        assert conn.run("cat /etc/hostname").stdout.strip() == "web"
    destroy_all(reg, home)
    return {"vms": n, "sequential_s": sequential, "concurrent_s": concurrent,
            "ratio": sequential / concurrent, "deploy_to_ssh_each_s": each,
            "deploy_to_ssh_median_s": median(each)}


def destroy_all(reg, home) -> None:
    for vm in vm_records.list_vms(reg):
        with contextlib.suppress(Exception):
            lifecycle.destroy(reg, home, vm.name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image-mb", type=int, default=1024, help="size of the big image (MiB)")
    ap.add_argument("--runs", type=int, default=3, help="repetitions of the clone comparison")
    ap.add_argument("--vms", type=int, default=4, help="VMs in the concurrency comparison")
    ap.add_argument("--only", choices=("clone", "parallel"), help="run one part only")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    os.environ.setdefault("VMFLEET_ACCEL", "tcg")
    os.environ.setdefault("VMFLEET_SHUTDOWN_TIMEOUT", "2")
    os.environ.setdefault("VMFLEET_GUIX", str(ROOT / "tests" / "standin" / "bin" / "guix"))
    os.environ.pop("VMFLEET_LOCAL_URI", None)
    subprocess.run([str(ROOT / "scripts" / "start-services.sh")], check=True)

    load0 = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="vmfleet-bench-", dir="/tmp"))
    root.chmod(0o755)  # QEMU (user libvirt-qemu) must reach the overlays
    os.environ.setdefault("VMFLEET_STANDIN_STORE", str(root / "standin-store"))  # gone with root
    home, reg, _old, new = new_home(root)
    try:
        t = time.perf_counter()
        small = build.ensure_image(reg, home, new)
        build_s = time.perf_counter() - t
        print(f"bench: built web@2 ({small.image_size / 2**20:.1f} MiB) in {build_s:.1f} s",
              file=sys.stderr)
        clone = par = None
        if args.only != "parallel":
            print(f"bench: making a {args.image_mb} MiB image ...", file=sys.stderr)
            big = big_image(home, Path(small.image_path), args.image_mb)
            print("bench: linked clone vs full copy ...", file=sys.stderr)
            big_image_ref = placement.Image(big.sha256, big.path)
            clone = linked_vs_full(reg, home, new, big_image_ref, args.runs)
            print("bench: the same on a remote host (qemu+ssh) ...", file=sys.stderr)
            clone["remote"] = remote_linked_vs_full(reg, home, new, big_image_ref, args.runs)
        if args.only != "clone":
            print(f"bench: {args.vms} VMs one after another, then concurrently ...",
                  file=sys.stderr)
            par = sequential_vs_concurrent(reg, home, args.vms)
    finally:
        destroy_all(reg, home)
        reg.close()
        shutil.rmtree(root, ignore_errors=True)

    result = {"cores": os.cpu_count(), "accel": os.environ["VMFLEET_ACCEL"], "clone": clone,
              "parallel": par, "loadavg_start": load0, "loadavg_end": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"load average at start {load0:.2f}, at end {os.getloadavg()[0]:.2f}")
    if clone:
        report_clone(clone)
    if par:
        report_parallel(par, result)
    return 0


def report_clone(clone: dict) -> None:
    mib = clone["image_bytes"] / 2**20
    print(f"deploy from a {mib:.0f} MiB image (--no-wait, median of {clone['runs']}):")
    for cache in ("warm", "cold"):
        if cache in clone:
            c = clone[cache]
            print(f"  {cache} cache: linked clone {c['linked_s']:.3f} s, full copy "
                  f"{c['full_s']:.3f} s, ratio {c['ratio']:.1f}x  (goal >= 10x)")
    if "disk_full_s" in clone:
        print(f"  disk step alone (cold): overlay {clone['disk_linked_s']:.3f} s, copy "
              f"{clone['disk_full_s']:.3f} s")
    if "remote" in clone:
        r = clone["remote"]
        print(f"  remote host (qemu+ssh): linked clone {r['linked_s']:.3f} s, full upload "
              f"{r['full_s']:.3f} s, ratio {r['ratio']:.1f}x  (goal >= 10x; the first deploy, "
              f"which uploads the image once, took {r['first_deploy_with_upload_s']:.2f} s)")


def report_parallel(par: dict, result: dict) -> None:
    print(f"{par['vms']} VMs to SSH ready on {result['cores']} cores ({result['accel']}):")
    print(f"  one after another  {par['sequential_s']:7.1f} s")
    print(f"  concurrently       {par['concurrent_s']:7.1f} s")
    print(f"  ratio              {par['ratio']:7.2f}x  (goal >= 1.5x)")
    print(f"deploy to SSH ready (one VM at a time): median {par['deploy_to_ssh_median_s']:.1f} s "
          f"({', '.join(f'{s:.1f}' for s in par['deploy_to_ssh_each_s'])})")


if __name__ == "__main__":
    sys.exit(main())
