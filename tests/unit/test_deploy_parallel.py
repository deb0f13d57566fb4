"""Two or more vmfleet processes deploying to one host at once: no shared port, no lost VM.

Each child is a separate Python process (as two users running ``vmfleet deploy`` would be),
waiting at a start line so they really run together; the port allocation is slowed down in the
children so that without the host lock every one of them would pick the same port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers.deploy_env import make_fleet
from vmfleet.deploy import vm_records


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)

CHILD = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from vmfleet.deploy import lifecycle, ports, vm_records
    from vmfleet.registry import generations
    from vmfleet.home import Home
    from vmfleet.deploy.placement import Image
    from vmfleet.registry.db import Registry

    home, name, go = Home(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3])
    ready = go.with_name(f"ready-{name}-{os.getpid()}")
    real = ports.allocate_port
    def slow(*a, **k):
        port = real(*a, **k)
        time.sleep(0.3)          # widen the window between choosing and recording a port
        return port
    ports.allocate_port = slow
    reg = Registry.open(home.registry)
    gen = generations.get(reg, int(sys.argv[4]))
    image = Image(sys.argv[5], Path(sys.argv[6]))
    ready.touch()  # imported and set up: at the start line
    while not go.exists():
        time.sleep(0.005)
    try:
        vm = lifecycle.deploy_image(reg, home, gen, image, name=name,
                                 options=vm_records.Options(wait=False))
        print(json.dumps({"ok": True, "port": vm.ssh_port}))
    except Exception as e:
        print(json.dumps({"ok": False, "error": str(e)}))
""")


def run_children(fleet, names, tmp_path: Path) -> list[dict]:
    go = tmp_path / "go"
    env = {**os.environ}
    procs = [subprocess.Popen(
        [sys.executable, "-c", CHILD, str(fleet.home.root), name, str(go), str(fleet.old.id),
         fleet.image.sha256, str(fleet.image.path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for name in names]
    try:
        deadline = time.monotonic() + 60  # every child at the start line, then all go at once
        while len(list(tmp_path.glob("ready-*"))) < len(procs):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
                [p.communicate() for p in procs if p.poll() is not None]
            time.sleep(0.01)
        go.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_parallel_deploys_to_one_host_get_distinct_ports(fleet, tmp_path):
    names = ["web-a", "web-b", "web-c", "web-d"]
    results = run_children(fleet, names, tmp_path)
    assert all(r["ok"] for r in results), results
    ports = [r["port"] for r in results]
    assert len(set(ports)) == len(ports), f"two VMs share a port: {ports}"
    vms = vm_records.list_vms(fleet.reg)
    assert sorted(v.name for v in vms) == names
    assert {v.ssh_port for v in vms} == set(ports)
    assert all((fleet.home.overlays / f"{n}.qcow2").exists() for n in names)


def test_parallel_deploys_of_one_name_let_exactly_one_win(fleet, tmp_path):
    results = run_children(fleet, ["web", "web"], tmp_path)
    assert sorted(r["ok"] for r in results) == [False, True], results
    loser = next(r for r in results if not r["ok"])
    assert "already exists" in loser["error"] or "another vmfleet" in loser["error"]
    assert [v.name for v in vm_records.list_vms(fleet.reg)] == ["web"]
