#!/usr/bin/env python3
"""Benchmark: recording a config whose module closure has 50 modules and 20 local files.

Goal (issue 8): `add` of such a config (reading every file safely, parsing every module,
summarising, recording in the registry) under 0.5 s. Baseline measured in the same run:
reading the same 71 files with plain open().read() (the floor for getting the bytes).

    .venv/bin/python bench/inputs.py [--modules 50] [--files 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.fleet import channels_scm  # noqa: E402
from tests.helpers.pins import V1_4_0

from vmfleet.guix import closure, reader
from vmfleet.registry import generations
from vmfleet.registry.db import Registry


def make_repo(root: Path, modules: int, files: int) -> Path:
    """A config repository: systems/web.scm uses (me m0); module k uses (me m{k+1}); the
    first ``files`` modules each name a local file of their own."""
    (root / "me" / "files").mkdir(parents=True)
    for k in range(modules):
        uses = f"\n  #:use-module (me m{k + 1})" if k + 1 < modules else ""
        local = (f'\n(define %file-{k} (local-file "files/f{k}.txt"))' if k < files else "")
        (root / "me" / f"m{k}.scm").write_text(
            f"(define-module (me m{k})\n  #:use-module (gnu){uses}\n  #:export (%pkgs-{k}))\n"
            f"{local}\n(define %pkgs-{k} (list (specification->package \"p{k}\")))\n")
    for k in range(files):
        (root / "me" / "files" / f"f{k}.txt").write_text(f"file {k}\n" * 20)
    (root / "systems").mkdir()
    (root / "systems" / "web.scm").write_text("""(use-modules (gnu) (me m0))
(use-service-modules networking ssh)
(operating-system
  (host-name "web")
  (timezone "Europe/Berlin")
  (bootloader (bootloader-configuration (bootloader grub-bootloader) (targets '("/dev/vda"))))
  (file-systems (cons (file-system (mount-point "/") (device "/dev/vda2") (type "ext4"))
                      %base-file-systems))
  (packages (append %pkgs-0 %base-packages))
  (services (append (list (service dhcp-client-service-type)) %base-services)))
""")
    (root / "channels.scm").write_text(channels_scm(V1_4_0))
    return root


def add_once(repo: Path, home: Path, n: int) -> float:
    reader._CACHE.clear()    # each run as a fresh `vmfleet add` process: nothing parsed yet
    closure._REFS.clear()
    reg = Registry.create(home / f"registry-{n}.db")
    t0 = time.perf_counter()
    inputs = generations.read_inputs("systems/web.scm", "channels.scm", load_path=["."], cwd=repo)
    analysis = generations.analyse(inputs)
    generations.record(reg, "web", inputs, current_from="2024-01-01T00:00:00Z",
                       analysis=analysis)
    elapsed = time.perf_counter() - t0
    reg.close()
    return elapsed, inputs


def baseline(repo: Path) -> float:
    t0 = time.perf_counter()
    for dirpath, _, names in os.walk(repo):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                f.read()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", type=int, default=50)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp) / "repo", args.modules, args.files)
        home = Path(tmp) / "home"
        home.mkdir()
        times, inputs = [], None
        for n in range(args.runs):
            elapsed, inputs = add_once(repo, home, n)
            times.append(elapsed)
        base = statistics.median(baseline(repo) for _ in range(args.runs))
    roles = {}
    for role in inputs.roles.values():
        roles[role] = roles.get(role, 0) + 1
    median = statistics.median(times)
    print(json.dumps({
        "modules": roles.get("module", 0), "local_files": roles.get("local-file", 0),
        "add_median_s": round(median, 4), "add_max_s": round(max(times), 4),
        "baseline_open_read_s": round(base, 5), "ratio": round(median / base, 1),
        "goal_s": 0.5, "ok": max(times) < 0.5}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
