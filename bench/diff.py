#!/usr/bin/env python3
"""Benchmark: `vmfleet diff` of two ~1 GB, ~2,000-item images vs diffoscope and vs reading them.

Goals (issue 5), each against a baseline measured in the same run:
- `vmfleet diff` of the two images at least 20x faster than `diffoscope` on the same pair
  (every tool gets the same time limit, and diffoscope an address-space limit: it grows past
  20 GB on this pair otherwise; when it is stopped by either, the ratio is a lower bound, shown
  as ">=");
- the I/O floor: `cat A B > /dev/null` of both files, reported as a ratio (vmfleet reads only
  the metadata and the few files it compares, so it should be well under it);
- `vmfleet diff A B --content` (issue 18) under the time of `cat`ting both: it reads only the
  store items whose hashes differ;
- `--why` attribution over a ~10,000-commit range against `git log` of the same range: the
  real guix history 76e39909e886..60c97924e951 (9,928 commits) with --guix-source DIR (or
  $VMFLEET_GUIX_SOURCE), else a synthetic channel of 10,000 commits in Guix's conventions.

The two images are built by the guix stand-in (tests/standin) with VMFLEET_STANDIN_BIG=N:SIZE
(N extra store items holding SIZE bytes in all), from two generations of the example web
system a year apart (guix pinned to the stand-in's 2023-03 and 2024-05 revisions).

    .venv/bin/python bench/diff.py [--items 2000] [--size 1G] [--runs 5] [--limit 300]

Needs the stand-in (or a real guix) and diffoscope (Debian: diffoscope-minimal).
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

OLD_GUIX = "76e39909e886bb51cf9b2fa03a1523545faca880"   # stand-in revision of 2023-03
NEW_GUIX = "dc4c48f10281007a0ab3541b8a64198c60c6d5b0"   # stand-in revision of 2024-05
VMFLEET = str(ROOT / ".venv/bin/vmfleet")


def timed(argv, env=None, ok=(0,), timeout=None, stdout=subprocess.DEVNULL,
          shell=False, memory: int | None = None, may_fail: bool = False
          ) -> tuple[float, str]:
    """Seconds taken, and how it ended: 'finished', 'time limit', or 'failed (...)'.

    ``memory`` caps the address space (bytes): diffoscope on two 1 GB images otherwise grows
    until the kernel's OOM killer ends it (24 GB measured here), endangering everything else.
    """
    def limit():
        if memory:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    t = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.DEVNULL,
                            start_new_session=True, shell=shell, preexec_fn=limit)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        return time.perf_counter() - t, "time limit"
    if rc not in ok:
        if may_fail:
            return time.perf_counter() - t, f"failed (exit {rc})"
        raise SystemExit(f"bench: {argv} exited {rc}")
    return time.perf_counter() - t, "finished"


def make_generations(tmp: Path, env: dict) -> None:
    """Two generations of web, a year apart, from the example configs."""
    from tests.helpers.example_history import STEPS

    systems = ROOT / "systems"
    channels = (systems / "channels.scm").read_text()
    new_web = (systems / "web.scm").read_text()
    old_web = new_web
    for old, new in STEPS[0][3].get("systems/web.scm", []):
        old_web = old_web.replace(old, new)
    for name, web, commit, date in (("old", old_web, OLD_GUIX, "2023-06-12"),
                                    ("new", new_web, NEW_GUIX, "2024-05-14")):
        d = tmp / name
        d.mkdir()
        (d / "web.scm").write_text(web)
        (d / "channels.scm").write_text(channels.replace(NEW_GUIX, commit))
        shutil.copy(systems / "vmfleet.pub", d / "vmfleet.pub")
        subprocess.run([VMFLEET, "add", "web", str(d / "web.scm"), "--channels",
                        str(d / "channels.scm"), "--at", date], check=True, env=env,
                       capture_output=True)


def image_of(spec: str, env: dict) -> str:
    out = subprocess.run([VMFLEET, "build", spec, "--json"], check=True, env=env,
                         capture_output=True, text=True).stdout
    return json.loads(out)["image_path"]


REAL_RANGE = ("76e39909e886bb51cf9b2fa03a1523545faca880",    # 2023-06 pin
              "60c97924e9519361494aaf0686e28eb831a42315")    # 2023-10 pin: 9,928 commits


def synthetic_channel(where: Path, commits: int = 10_000) -> tuple[Path, str, str]:
    """A channel of ``commits`` commits whose subjects follow Guix's conventions (git
    fast-import: a second or two), with openssh and curl updates among them."""
    repo = where / "synthetic-guix"
    if not repo.exists():
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
        lines = []
        for i in range(commits + 1):
            pkg = ("openssh", "curl", "zlib")[i % 3] if i % 997 == 0 else f"pkg{i % 2000}"
            subject = (f"gnu: {pkg}: Update to 1.{i}." if i % 5 else
                       f"gnu: {pkg}: Add patch for issue {i}." if i % 2 else f"gnu: Add {pkg}.")
            body = f"(define-public {pkg} (package (name \"{pkg}\") (version \"1.{i}\")))\n"
            msg = subject.encode()
            lines.append(f"commit refs/heads/master\nmark :{i + 1}\n"
                         f"committer T <t@example.invalid> {1_600_000_000 + i * 60} +0000\n"
                         f"data {len(msg)}\n{subject}\n"
                         + (f"from :{i}\n" if i else "")
                         + f"M 100644 inline gnu/packages/p{i % 400}.scm\n"
                         f"data {len(body.encode())}\n{body}\n")
        subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], check=True,
                       input="".join(lines).encode())
    rev = subprocess.run(["git", "-C", str(repo), "rev-list", "--reverse", "master"],
                         check=True, capture_output=True, text=True).stdout.split()
    return repo, rev[0], rev[-1]


def attribution(a: str, b: str, tmp: Path, guix_source: Path | None, runs: int) -> dict:
    """--why's attribution (vmfleet.diff.why.explain, in-process, on the two images' package
    rows) over a ~10,000-commit range, against `git log` of the same range."""
    import dataclasses

    from vmfleet.diff import compare, operands, why
    from vmfleet.guix.store import ChannelPin

    if guix_source:
        repo, pin_a, pin_b = Path(guix_source), *REAL_RANGE
        source = f"guix {pin_a[:12]}..{pin_b[:12]}"
    else:
        repo, pin_a, pin_b = synthetic_channel(tmp)
        source = "synthetic channel"
    side_a = operands.load_side(a, files=False)
    side_b = operands.load_side(b, files=False)
    side_a = dataclasses.replace(side_a, channels=(ChannelPin("guix", "x", None, pin_a),))
    side_b = dataclasses.replace(side_b, channels=(ChannelPin("guix", "x", None, pin_b),))
    d = compare.compare(side_a, side_b, layers=("packages",))
    explain_runs, log_runs, count = [], [], 0
    for _ in range(runs):
        t = time.perf_counter()
        w = why.explain(side_a, side_b, d.packages, repos={"guix": repo}, discover=False)
        explain_runs.append(time.perf_counter() - t)
        count = w.channels[0].commits
        t = time.perf_counter()
        subprocess.run(["git", "-C", str(repo), "log", "--format=%H %cs %s", f"{pin_a}..{pin_b}"],
                       check=True, stdout=subprocess.DEVNULL)
        log_runs.append(time.perf_counter() - t)
    e, g = statistics.median(explain_runs), statistics.median(log_runs)
    return {"range": source, "commits": count, "rows": len(d.packages.changes),
            "explain_median_s": round(e, 3), "git_log_median_s": round(g, 3),
            "ratio_to_git_log": round(e / g, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--limit", type=float, default=300.0,
                    help="seconds any one tool may take (diffoscope is stopped there)")
    ap.add_argument("--diffoscope-memory", type=int, default=4096, metavar="MIB",
                    help="address-space limit for diffoscope (it is killed by the OOM killer "
                         "otherwise)")
    ap.add_argument("--keep", type=Path, help="build in this directory and keep it (reused)")
    ap.add_argument("--guix-source", type=Path, default=os.environ.get("VMFLEET_GUIX_SOURCE") or None,
                    help="a guix clone for the --why benchmark (default $VMFLEET_GUIX_SOURCE)")
    ap.add_argument("--no-diffoscope", action="store_true", help="skip diffoscope")
    args = ap.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        tmp_ctx = None
        tmp = args.keep
    else:
        tmp_ctx = tempfile.TemporaryDirectory(prefix="vmfleet-bench-diff-")
        tmp = Path(tmp_ctx.name)
    try:
        env = {**os.environ, "VMFLEET_HOME": str(tmp / "home"),
               "VMFLEET_STANDIN_BIG": f"{args.items}:{args.size}",
               "XDG_CACHE_HOME": str(tmp / "xdg"),
               "TMPDIR": str(tmp)}  # a diffoscope killed at its limit leaves its temp dir there
        if not shutil.which("guix"):
            env["VMFLEET_GUIX"] = str(ROOT / "tests/standin/bin/guix")
            env["VMFLEET_STANDIN_STORE"] = str(tmp / "standin" / "store")
            env.setdefault("VMFLEET_STANDIN_CACHE", str(
                Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "vmfleet-standin"))
        if not (tmp / "home").exists():
            subprocess.run([VMFLEET, "init"], check=True, env=env, capture_output=True)
            make_generations(tmp, env)
        t = time.perf_counter()
        a, b = image_of("web@1", env), image_of("web@2", env)
        build_s = time.perf_counter() - t
        facts = json.loads(subprocess.run([VMFLEET, "inspect", a, "--json"], check=True,
                                          env=env, capture_output=True, text=True).stdout)
        sizes = {"a_bytes": os.path.getsize(a), "b_bytes": os.path.getsize(b),
                 "a_items": facts["closure"]["items"], "a_closure_bytes": facts["closure"]["size"]}

        def cold(argv, **kw):
            drop_caches()
            return timed(argv, env=env, **kw)

        # vmfleet diff: the two generations (all layers) and the two files, cold cache.
        spec_runs = [cold([VMFLEET, "diff", "web@1", "web@2"], ok=(1,), timeout=args.limit)[0]
                     for _ in range(args.runs)]
        file_runs = [cold([VMFLEET, "diff", a, b, "--json"], ok=(1,), timeout=args.limit)[0]
                     for _ in range(args.runs)]
        cat_runs = [cold(f"cat '{a}' '{b}' > /dev/null", shell=True, timeout=args.limit)[0]
                    for _ in range(max(1, args.runs // 2))]
        diffoscope_s, ended = (cold(["diffoscope", "--no-progress", "--text", "/dev/null",
                                     a, b], ok=(0, 1), timeout=args.limit,
                                    memory=args.diffoscope_memory << 20, may_fail=True)
                               if shutil.which("diffoscope") and not args.no_diffoscope
                               else (None, "not run"))
        content_runs = [cold([VMFLEET, "diff", a, b, "--content", "--layers", "packages"],
                             ok=(1,), timeout=args.limit)[0] for _ in range(args.runs)]
        why = attribution(a, b, tmp, args.guix_source, args.runs)
        finished = ended == "finished"
        vm_s = statistics.median(spec_runs)
        vm_files_s = statistics.median(file_runs)
        cat_s = statistics.median(cat_runs)
        content_s = statistics.median(content_runs)
        # Unless it finished, diffoscope's time is a lower bound on what it would need: it had
        # produced nothing when the time limit or its memory limit (MemoryError) stopped it.
        ratio = (diffoscope_s / vm_files_s) if diffoscope_s else None
        results = {
            "images": sizes,
            "build_both_s": round(build_s, 1),
            "vmfleet_diff_specs_median_s": round(vm_s, 3),
            "vmfleet_diff_files_median_s": round(vm_files_s, 3),
            "cat_both_median_s": round(cat_s, 3),
            "diffoscope_s": round(diffoscope_s, 1) if diffoscope_s else None,
            "diffoscope_finished": finished,
            "diffoscope_ended": ended,
            "diffoscope_memory_limit_mib": args.diffoscope_memory,
            "time_limit_s": args.limit,
            "speedup_vs_diffoscope": (f"{'>=' if not finished else ''}{ratio:.0f}x"
                                      if ratio else None),
            "fraction_of_cat_time": round(vm_files_s / cat_s, 3),
            "vmfleet_diff_content_median_s": round(content_s, 3),
            "content_fraction_of_cat_time": round(content_s / cat_s, 3),
            "why": why,
            "goal_speedup": 20,
            "met": bool(ratio and ratio >= 20) if not args.no_diffoscope else None,
            "content_met": content_s < cat_s,
            "why_met": why["explain_median_s"] < 2.0,
        }
        print(json.dumps(results, indent=2))
        return 0 if results["met"] is not False and results["content_met"] and \
            results["why_met"] else 1
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()


if __name__ == "__main__":
    sys.exit(main())
