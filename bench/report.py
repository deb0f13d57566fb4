#!/usr/bin/env python3
"""Benchmark: ``vmfleet report`` of a large history, and its index page in a browser.

Goal (issue 20): 100 systems × 200 generations × 52 weekly checks of every generation
(1,040,000 checks) written in under 5 s; the index renders in chromium in under 2 s.
Baseline measured in the same run: writing the same rows (every check, every generation) as
one JSON file. Wall times depend on the machine's load (printed); CPU times (this process's)
much less, so both are given.

    .venv/bin/python bench/report.py [--systems 100] [--generations 200] [--weeks 52]
                                     [--regressions 0.03] [--no-browser]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.pins import (
    IN_ORDER,  # noqa: E402
    )

from bench.common import fill_generations  # noqa: E402
from vmfleet.fleet import history
from vmfleet.registry import report_rows
from vmfleet.registry.db import Registry, dumps, sha256_bytes
from vmfleet.report import site

KINDS = ("image-differs", "drifted", "fails")


def fill(reg: Registry, systems: int, gens: int, weeks: int, regressions: float) -> int:
    """Generations over 2020-2024, then a weekly check of every one of them in 2025; a
    fraction of the checks did not reproduce (with the detail such a check records)."""
    rnd = random.Random(20)
    drift = {"seconds": 300.0, "same_system": False, "same_closure": False,
             "reference": {"build": 1, "image_sha256": "a" * 64, "store_path": "/gnu/store/a-image"},
             "rebuild": {"build": 2, "image_sha256": "b" * 64, "store_path": "/gnu/store/b-image"},
             "diff": {"version": 1, "equal": False, "layers": {"packages": {
                 "status": "different", "changes": [{"name": "openssl", "change": "rebuilt",
                                                     "versions_a": ["3.0.8"], "versions_b": ["3.0.8"]}]}}},
             "diff_text": "packages\n  openssl rebuilt\n"}
    details = {"image-differs": dumps({"seconds": 280.0, "same_system": True, "same_closure": True,
                                       "error": "guix build: error: derivation may not be deterministic",
                                       "differing_derivation": "/gnu/store/p-partition.img.drv"}),
               "drifted": dumps(drift),
               "fails": dumps({"seconds": 40.0, "error": "build failed: failed to download "
                               "'nginx-1.23.3.tar.gz' from all mirrors", "hint": None})}
    with reg.write():
        fill_generations(reg, rnd, systems=systems, gens=gens, name=lambda s: f"sys{s:03d}",
                         max_gap_days=16, message=lambda name, n: f"commit {n} of {name}",
                         pin=lambda n: IN_ORDER[(n // 10) % len(IN_ORDER)],
                         summary=lambda n: dumps({"packages": ["nginx"] + (["git"] if n % 3 == 0 else [])}))
        ids = [r[0] for r in reg.conn.execute("SELECT id FROM generations ORDER BY id")]
        week0 = 1_735_963_200  # 2025-01-04 04:00 UTC, a Saturday
        checks = []
        # A regressed generation stays so from the week it broke (the same finding every week
        # after); a few more checks differ once (new bytes each time: a page each).
        broken = {gid: (rnd.randrange(weeks), rnd.choice(KINDS)) for gid in ids
                  if rnd.random() < regressions}
        for w in range(weeks):
            started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(week0 + w * 7 * 86400))
            for gid in ids:
                since, kind = broken.get(gid, (weeks, None))
                if w >= since:
                    checks.append((gid, started, started, kind, details[kind]))
                elif rnd.random() < regressions / 10:
                    once = dumps({"seconds": 280.0, "same_system": True, "same_closure": True,
                                  "reference": {"image_sha256": "a" * 64},
                                  "rebuild": {"image_sha256": sha256_bytes(f"{gid}/{w}".encode())}})
                    checks.append((gid, started, started, "image-differs", once))
                else:
                    checks.append((gid, started, started, "reproducible", '{"seconds": 290.0}'))
        reg.conn.executemany("INSERT INTO checks (generation_id, started, finished, result, detail)"
                             " VALUES (?,?,?,?,?)", checks)
    return len(checks)


def json_baseline(reg: Registry, out: Path) -> float:
    """The same rows as one JSON file: every generation and every check (its detail where the
    report reads it)."""
    t0 = time.perf_counter()
    gens = [{"system": g.system, "number": g.number, "current_from": g.current_from,
             "git_commit": g.git_commit, "message": g.message, "pins": list(g.pins)}
            for g in report_rows.all_generations(reg)]
    cells = reg.execute(  # the rows the report shows: every check, its detail if it regressed
        "SELECT id, generation_id, started, result,"
        " CASE WHEN result = 'reproducible' THEN NULL ELSE detail END FROM checks").fetchall()
    with open(out, "w") as f:
        json.dump({"generations": gens, "checks": cells}, f)
    return time.perf_counter() - t0


def browser_times(index: Path, system_page: Path) -> dict:
    from tests.helpers import browser

    with browser.chromium() as driver:
        out = {}
        for key, page in (("index", index), ("system_page", system_page)):
            t0 = time.perf_counter()
            driver.get(page.as_uri())  # returns once the page has loaded
            wall = time.perf_counter() - t0
            nav = driver.execute_script(
                "const t = performance.getEntriesByType('navigation')[0];"
                "return [t.domContentLoadedEventEnd, t.loadEventEnd];")
            out[key] = {"seconds": round(wall, 3), "dom_content_loaded_ms": round(nav[0], 1),
                        "load_event_end_ms": round(nav[1], 1),
                        "console_errors": browser.console_errors(driver)}
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", type=int, default=100)
    ap.add_argument("--generations", type=int, default=200)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--regressions", type=float, default=0.03,
                    help="the fraction of generations that stop reproducing in the year (and a "
                         "tenth of that of checks that differ once)")
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vmfleet-bench-report-") as tmp:
        tmp = Path(tmp)
        reg = Registry.create(tmp / "registry.db")
        t0 = time.perf_counter()
        n = fill(reg, args.systems, args.generations, args.weeks, args.regressions)
        filled = time.perf_counter() - t0
        baseline_cpu = time.process_time()
        baseline = json_baseline(reg, tmp / "rows.json")
        baseline_cpu = time.process_time() - baseline_cpu
        cpu = time.process_time()
        declared, source = history.fleet_to_compare(reg, None)
        written = site.write(reg, tmp / "site", fleet=declared, fleet_source=source)
        cpu = time.process_time() - cpu
        total = time.perf_counter() - t0 - filled - baseline
        size = sum(p.stat().st_size for p in (tmp / "site").rglob("*") if p.is_file())
        results = {
            "systems": args.systems, "generations": args.systems * args.generations,
            "checks": n, "fill_seconds": round(filled, 2),
            "report_seconds": written.seconds, "report_cpu_seconds": round(cpu, 3),
            "load_average": os.getloadavg()[0], "report_pages": written.pages,
            "report_bytes": size, "index_bytes": (tmp / "site/index.html").stat().st_size,
            "json_baseline_seconds": round(baseline, 3),
            "json_bytes": (tmp / "rows.json").stat().st_size,
            "json_baseline_cpu_seconds": round(baseline_cpu, 3),
            "ratio_report_to_json": round(written.seconds / baseline, 2),
            "ratio_report_to_json_cpu": round(cpu / baseline_cpu, 2),
            "goal_report_under_5s": written.seconds < 5.0,
        }
        del total
        if not args.no_browser:
            shown = browser_times(written.index, tmp / "site/systems/sys000.html")
            results["browser"] = shown
            results["goal_index_under_2s"] = shown["index"]["seconds"] < 2.0
        reg.close()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
