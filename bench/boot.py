#!/usr/bin/env python3
"""Benchmark: ``vmfleet deploy`` to SSH-ready against QEMU's own boot-to-SSH of the same image.

Goal (issue 10): a deploy (image already in the store: overlay, domain define, start, wait for
SSH) within 1.5x of running qemu-system-x86_64 by hand on an overlay of the same image with the
same memory, CPUs, accelerator (TCG) and port forward, waiting for SSH the same way
(vmfleet.tools.ssh.wait_until_ready: a command runs). Runs alternate so that load from other
work on the machine hits both alike; medians are reported.

    .venv/bin/python bench/boot.py [--runs 3] [--json]

The domain goes to vmfleet's 'local' host ($VMFLEET_LOCAL_URI, else qemu:///system). Everything
it creates (a home under /tmp, its domains, its QEMU processes) is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.helpers.deploy_env import BOOT_ENV, cleanup_fleet, new_home, traversable_dir  # noqa: E402

from vmfleet.build import builds as build  # noqa: E402
from vmfleet.deploy import lifecycle, vm_records  # noqa: E402
from vmfleet.tools import ssh  # noqa: E402
from vmfleet.tools.run import run  # noqa: E402

MEMORY_MIB, VCPUS = vm_records.Options().memory_mib, vm_records.Options().vcpus


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_boot(image: Path, work: Path, key: Path, n: int) -> float:
    """Seconds from starting QEMU on a fresh overlay to a command running over SSH."""
    overlay = work / f"baseline-{n}.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image), str(overlay)])
    port = free_port()
    argv = ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", str(MEMORY_MIB),
            "-smp", str(VCPUS), "-display", "none", "-monitor", "none",
            "-serial", f"file:{work / f'baseline-{n}.console'}",
            "-drive", f"file={overlay},if=virtio,format=qcow2",
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
            "-device", "virtio-net-pci,netdev=n0",
            # what vmfleet's domain XML gives a guest too
            "-object", "rng-random,id=rng0,filename=/dev/urandom",
            "-device", "virtio-rng-pci,rng=rng0"]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ssh.wait_until_ready("127.0.0.1", port, key=key, timeout=600).close()
        return time.monotonic() - t0
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        overlay.unlink()


def vmfleet_deploy(reg, home, n: int) -> float:
    """Seconds for ``deploy`` of a generation whose image is in the store, to SSH ready."""
    name = f"vmfleet-bench-boot-{os.getpid()}-{n}"
    t0 = time.monotonic()
    lifecycle.deploy(reg, home, "web@2023-06", name=name,
                     options=vm_records.Options(timeout=600))
    seconds = time.monotonic() - t0
    lifecycle.destroy(reg, home, name)
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.update(BOOT_ENV)
    root = traversable_dir("vmfleet-bench-boot-")
    os.environ.setdefault("VMFLEET_STANDIN_STORE", str(root / "standin-store"))  # gone with root
    home, reg, old, _new = new_home(root)
    try:
        t0 = time.monotonic()
        image = Path(build.ensure_image(reg, home, old).image_path)
        build_seconds = time.monotonic() - t0
        qemu, deploy = [], []
        for n in range(args.runs):
            qemu.append(qemu_boot(image, home.work, ssh.ensure_keypair(home.keys), n))
            deploy.append(vmfleet_deploy(reg, home, n))
        result = {"build_seconds": round(build_seconds, 1),
                  "qemu_boot_to_ssh": [round(s, 1) for s in qemu],
                  "deploy_to_ssh": [round(s, 1) for s in deploy],
                  "ratio_of_medians": round(statistics.median(deploy) / statistics.median(qemu), 2),
                  "local_uri": os.environ.get("VMFLEET_LOCAL_URI") or "qemu:///system"}
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"QEMU boot to SSH:    {result['qemu_boot_to_ssh']} s")
            print(f"vmfleet deploy->SSH: {result['deploy_to_ssh']} s")
            print(f"ratio of medians:    {result['ratio_of_medians']} (goal: at most 1.5)")
        return 0 if result["ratio_of_medians"] <= 1.5 else 1
    finally:
        cleanup_fleet(reg, home)
        reg.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
