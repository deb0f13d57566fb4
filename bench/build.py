#!/usr/bin/env python3
"""Benchmark: vmfleet's overhead on a cached build, and the speed of importing an image.

Goals (issue 3), each against a baseline measured in the same run:
- a cached `vmfleet build` vs running `true` (vmfleet's overhead on a no-op build): under 0.3 s;
- importing a 1 GB image into the store vs `cp` of the same file: at least 0.8x cp's speed.

    .venv/bin/python bench/build.py [--image-mb 1024] [--runs 10]

Needs the guix stand-in (tests/standin/bin) or a real guix on PATH for the cached build.
"""

from __future__ import annotations

import argparse
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

from bench.common import drop_caches  # noqa: E402
from vmfleet.build import store as images  # noqa: E402
from vmfleet.home import Home  # noqa: E402


def timed(argv, env=None) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def bench_cached_build(tmp: Path, runs: int) -> dict:
    from tests.helpers.example_history import build as make_history

    env = {**os.environ, "VMFLEET_HOME": str(tmp / "home")}
    if not shutil.which("guix"):
        env["PATH"] = f"{ROOT / 'tests/standin/bin'}:{env['PATH']}"
        env.setdefault("VMFLEET_STANDIN_STORE", str(tmp / "standin-store"))
    vm = [str(ROOT / ".venv/bin/vmfleet")]
    make_history(tmp / "fleet")
    subprocess.run(vm + ["init"], check=True, env=env, capture_output=True)
    subprocess.run(vm + ["import", str(tmp / "fleet"), "--system", "web=systems/web.scm",
                         "--channels", "channels.scm"], check=True, env=env, capture_output=True)
    first = timed(vm + ["build", "web"], env)
    cached = [timed(vm + ["build", "web"], env) for _ in range(runs)]
    true = [timed(["true"]) for _ in range(runs)]
    overhead = statistics.median(cached) - statistics.median(true)
    return {"first_build_s": round(first, 3), "cached_build_median_s": round(statistics.median(cached), 3),
            "true_median_s": round(statistics.median(true), 4), "overhead_s": round(overhead, 3),
            "goal_overhead_s": 0.3, "met": overhead < 0.3}


def bench_import(tmp: Path, size_mb: int) -> dict:
    src = tmp / "image.qcow2"
    with open(src, "wb") as f:  # incompressible content, like a compressed qcow2
        for _ in range(size_mb):
            f.write(os.urandom(1 << 20))
    cp_runs, store_runs = [], []
    for i in range(3):  # alternate, cold cache each time, best of three for both
        drop_caches()
        t = time.perf_counter()
        subprocess.run(["cp", str(src), str(tmp / "copy")], check=True)
        subprocess.run(["sync", str(tmp / "copy")], check=True)  # the store fsyncs: so must cp
        cp_runs.append(time.perf_counter() - t)
        (tmp / "copy").unlink()
        home = Home(tmp / f"store-home-{i}")
        drop_caches()
        t = time.perf_counter()
        stored = images.add_file(home, src)
        store_runs.append(time.perf_counter() - t)
        stored.path.unlink()
    cp_s, store_s = min(cp_runs), min(store_runs)
    ratio = cp_s / store_s
    return {"image_mb": size_mb, "cp_s": round(cp_s, 3), "store_import_s": round(store_s, 3),
            "speed_vs_cp": round(ratio, 2), "goal_speed_vs_cp": 0.8, "met": ratio >= 0.8}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vmfleet-bench-") as d:
        tmp = Path(d)
        results = {"import": bench_import(tmp, args.image_mb),
                   "cached_build": bench_cached_build(tmp, args.runs)}
    print(json.dumps(results, indent=2))
    return 0 if all(r["met"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
