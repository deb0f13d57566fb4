"""What the benchmarks share."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers.fleet import channels_scm, os_config
from tests.helpers.pins import V1_4_0

from vmfleet.registry.db import Registry, dumps, sha256_bytes


def drop_caches() -> bool:
    """Start from a cold page cache, alike for vmfleet and its baseline (needs root; returns
    whether it worked, so a report can say the numbers are warm)."""
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def fill_generations(reg: Registry, rnd: random.Random, *, systems: int, gens: int,
                     name: Callable[[int], str], max_gap_days: int,
                     message: Callable[[str, int], str] = lambda name, n: "",
                     pin: Callable[[int], str] = lambda n: V1_4_0,
                     summary: Callable[[int], str] = lambda n: "{}") -> None:
    """A synthetic registry, written straight to its tables: ``systems`` systems of ``gens``
    generations each, from 2020 on, 1 hour to ``max_gap_days`` apart (what the registry and
    report benchmarks measure reading, not importing)."""
    cs, ch = reg.put_blob(os_config("web").encode()), reg.put_blob(channels_scm(V1_4_0).encode())
    rows = []
    for s in range(systems):
        system = name(s)
        reg.execute("INSERT INTO systems VALUES (?, '2020-01-01T00:00:00Z')", (system,))
        t = 1_577_836_800 + s * 37
        for n in range(1, gens + 1):
            t += rnd.randint(3600, max_gap_days * 86400)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            rows.append((system, n, stamp, "git", sha256_bytes(f"{system}{n}".encode())[:40],
                         message(system, n), "web.scm", cs, ch,
                         dumps([{"name": "guix", "commit": pin(n)}]), 0,
                         sha256_bytes(f"{system}/{n}".encode()), summary(n), stamp))
    reg.conn.executemany(
        "INSERT INTO generations (system, number, current_from, source, git_commit, message,"
        " config_path, config_sha256, channels_sha256, pins, unpinned, inputs_sha256, summary,"
        " recorded) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
