#!/usr/bin/env python3
"""Benchmark: plan over a large fleet, and what a parallel apply buys.

Goals (issue 11), each against a baseline measured in the same run:
- ``plan`` of 1,000 VMs over 10 hosts (libvirt's test:///default driver, VMs as registry rows
  and mock domains): under 1 s. Baseline: the same answers got one VM at a time, each with its
  own libvirt connection and domain lookup (what a loop of per-VM commands costs). Issue 19:
  ``--vms 10000 --hosts 100`` under 1 s as well (plan grows with the fleet, not with hosts x
  VMs: the bench's hosts are 100 names of one mock hypervisor, which plan reads once, in one
  call);
- ``apply`` of 4 replacements on 2 hosts (local qemu:///system and qemu+ssh:// through an sshd
  on 127.0.0.1, TCG boots of the guix stand-in's image) with ``--max-parallel 4
  --max-per-host 2``, vs the same 4 replacements one after another (``--max-parallel 1``):
  the ratio is reported (2 cores).

    .venv/bin/python bench/fleet.py [--vms 1000] [--hosts 10] [--skip-apply] [--json]

The apply part needs libvirtd (scripts/start-services.sh) and boots 12 guests (4 to start
from, 4 per measured apply); run it under the integration lock. Everything it makes (a home
under /tmp, domains vmfleet-test-*, an sshd, a storage pool) is removed at the end, also on
failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.helpers.deploy_env import record_web  # noqa: E402
from tests.helpers.fleet_env import add_test_hosts, fake_vm, fleet_text  # noqa: E402

from vmfleet.fleet import apply as fleet_apply  # noqa: E402
from vmfleet.fleet import file as fleet_file  # noqa: E402
from vmfleet.fleet import plan as plan_mod  # noqa: E402
from vmfleet.home import Home  # noqa: E402
from vmfleet.registry.db import Registry  # noqa: E402


def bench_plan(vms: int, host_count: int) -> dict:
    import libvirt

    from vmfleet.deploy import hosts
    from vmfleet.tools import virt

    root = Path(tempfile.mkdtemp(prefix="vmfleet-bench-plan-"))
    saved = os.environ.get("VMFLEET_LOCAL_URI")
    os.environ["VMFLEET_LOCAL_URI"] = "test:///default"
    conn = libvirt.open("test:///default")  # keeps the mock's domains while the bench runs
    try:
        home = Home(root)
        for d in home.dirs():
            d.mkdir(parents=True, exist_ok=True)
        reg = Registry.create(home.registry)
        old, new = record_web(reg)
        names = add_test_hosts(reg, host_count)
        rows = []
        for i in range(vms):
            host = names[i % host_count]
            name = f"vm-{i:04d}"
            rows.append({"name": name, "system": "web", "host": host})
            if i % 10 == 0:
                continue  # not deployed: create
            gen = old if i % 10 == 1 else new  # a tenth to replace, the rest kept
            fake_vm(reg, conn, home, name, gen, host)
        parsed = fleet_file.parse(fleet_text(rows), "fleet.toml")

        def plan_once():
            t0 = time.perf_counter()
            p = plan_mod.make_plan(reg, home, parsed, source={"path": "fleet.toml"})
            return time.perf_counter() - t0, p

        plan_once()  # warm: imports, sqlite page cache
        times, plan = [], None
        for _ in range(3):
            t, plan = plan_once()
            times.append(t)

        def baseline() -> float:
            t0 = time.perf_counter()
            for r in rows:
                h = hosts.get(reg, r["host"])
                with virt.connect(h.uri) as c:
                    c.domain(r["name"])
            return time.perf_counter() - t0

        base = baseline()
        counts = plan.counts()
        return {"vms": vms, "hosts": host_count, "plan_s": min(times),
                "plan_runs_s": [round(t, 3) for t in times], "baseline_s": base,
                "ratio": base / min(times), "counts": counts}
    finally:
        conn.close()
        if saved is None:
            os.environ.pop("VMFLEET_LOCAL_URI", None)
        else:
            os.environ["VMFLEET_LOCAL_URI"] = saved
        shutil.rmtree(root, ignore_errors=True)


def bench_apply() -> dict:
    from tests.helpers.deploy_env import boot_home, unique_vm_name
    from tests.helpers.fleet_env import record_site
    from tests.helpers.remote_host import remote_host

    from vmfleet.build import builds
    from vmfleet.tools import ssh

    with boot_home("vmfleet-bench-fleet-") as (home, reg, _web1, _web2):
        old, _new, _db = record_site(reg, ssh.public_key(home.keys))
        builds.ensure_image(reg, home, old)
        with remote_host(reg, home) as hv:
            prefix = unique_vm_name()
            base = [{"name": f"{prefix}-{i}", "system": "site@1",
                     "host": "local" if i % 2 else hv.name, "health": "test -s /etc/hostname"}
                    for i in range(4)]

            def run(memory: str, parallel: int) -> tuple[float, fleet_apply.ApplyResult]:
                rows = [{**r, "memory": memory} for r in base]
                parsed = fleet_file.parse(fleet_text(rows), "fleet.toml")
                plan = plan_mod.make_plan(reg, home, parsed, source={}, packages=False)
                t0 = time.monotonic()
                result = fleet_apply.apply(reg, home, plan, max_parallel=parallel, per_host=2,
                                           timeout=600, health_timeout=30)
                if not result.ok:
                    raise RuntimeError(f"apply failed: {result.outcomes}")
                return time.monotonic() - t0, result

            setup_s, _ = run("256M", 4)
            sequential_s, _ = run("272M", 1)
            parallel_s, _ = run("288M", 4)
            return {"vms": 4, "hosts": 2, "setup_create_s": setup_s,
                    "sequential_s": sequential_s, "parallel_s": parallel_s,
                    "ratio": sequential_s / parallel_s, "cores": os.cpu_count(),
                    "accel": os.environ.get("VMFLEET_ACCEL", "tcg")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--skip-apply", action="store_true", help="Only the plan part (no boots).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load0 = os.getloadavg()[0]
    result = {"plan": bench_plan(args.vms, args.hosts)}
    if not args.skip_apply:
        result["apply"] = bench_apply()
    result["load_average"] = [load0, os.getloadavg()[0]]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    p = result["plan"]
    print(f"plan of {p['vms']} VMs over {p['hosts']} hosts (test:///default): "
          f"{p['plan_s']:.3f} s (best of {len(p['plan_runs_s'])}: {p['plan_runs_s']}; goal < 1 s)")
    print(f"  baseline, one VM at a time (own connection and lookup each): "
          f"{p['baseline_s']:.3f} s, ratio {p['ratio']:.1f}x")
    print(f"  actions: {', '.join(f'{n} {a}' for a, n in p['counts'].items() if n)}")
    if "apply" in result:
        a = result["apply"]
        print(f"apply of {a['vms']} replacements on {a['hosts']} hosts ({a['cores']} cores, "
              f"{a['accel']}):")
        print(f"  one after another (--max-parallel 1)   {a['sequential_s']:7.1f} s")
        print(f"  in parallel (--max-parallel 4, 2/host)  {a['parallel_s']:7.1f} s")
        print(f"  ratio                                   {a['ratio']:7.2f}x")
        print(f"  (creating the 4 VMs first took {a['setup_create_s']:.1f} s)")
    print(f"load average at start {load0:.2f}, at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
