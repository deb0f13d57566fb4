#!/usr/bin/env python3
"""Benchmark: what starting a child through ``tools.run.spawn`` costs.

spawn execs util-linux's setpriv (parent-death signal) and a POSIX sh (is the parent still the
vmfleet that forked it?) before the program. This compares, for /bin/true, a bare vfork+exec,
setpriv alone, spawn's chain, the ``preexec_fn`` that spawn replaced (a full fork of the Python
process that runs prctl), and the whole ``run()``. Best of 3 rounds, milliseconds per start.

    .venv/bin/python bench/spawn.py [--starts 300]
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vmfleet.tools import run as run_mod  # noqa: E402

TRUE = "/bin/true"
_libc = ctypes.CDLL(None, use_errno=True)


def _old_preexec(parent: int) -> None:  # what run() did before spawn (PR_SET_PDEATHSIG = 1)
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def per_start(fn, starts: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(starts):
            fn()
        best = min(best, (time.perf_counter() - t0) / starts * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=300)
    starts = parser.parse_args().starts
    cases = {
        "bare vfork+exec": lambda: subprocess.Popen([TRUE], start_new_session=True).wait(),
        "setpriv only": lambda: subprocess.Popen(
            [run_mod.SETPRIV, "--pdeathsig", "KILL", "--", TRUE], start_new_session=True).wait(),
        "spawn (setpriv + sh check)": lambda: run_mod.spawn([TRUE], stdout=None, stderr=None).wait(),
        "old preexec_fn": lambda: subprocess.Popen(
            [TRUE], start_new_session=True,
            preexec_fn=functools.partial(_old_preexec, os.getpid())).wait(),
        "run() (pipes, communicate)": lambda: run_mod.run([TRUE]),
    }
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, fn in cases.items():
        print(f"{name:28} {per_start(fn, starts):6.2f} ms per start")


if __name__ == "__main__":
    main()
