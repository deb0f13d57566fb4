"""apply for real: TCG boots of the guix stand-in's image on the local libvirtd and on a
'remote' host (qemu+ssh:// through an sshd on 127.0.0.1), with health checks over SSH.

Boots are kept few (each costs ~8 CPU-seconds on two shared cores): one image serves every VM
(db@1 is recorded with site@1's inputs, and builds are cached by inputs, so both systems share
it), and each test boots only what it asserts on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.deploy_env import (
    boot_home,
    cleanup_fleet,
    unique_vm_name,
)
from tests.helpers.fleet import commit_files, new_repo
from tests.helpers.fleet_env import fleet_text, record_site
from tests.helpers.remote_host import remote_host
from vmfleet.build import builds as build
from vmfleet.deploy import vm_records
from vmfleet.deploy.vm_records import VmState
from vmfleet.fleet import apply as fleet_apply
from vmfleet.fleet import file as fleet_file
from vmfleet.fleet import history
from vmfleet.fleet import plan as plan_mod
from vmfleet.fleet.plan import Action
from vmfleet.tools import ssh

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standin" / "bin" / "guix"
BOOT_TIMEOUT = 240.0
HEALTHY = "test -s /etc/hostname"
SICK = "test -e /run/no-such-service"


@pytest.fixture(scope="module")
def world():
    """site@1, site@2 and db@1 (site@1's inputs) recorded, their images built; a remote host."""
    if not STANDIN.exists():
        pytest.skip("the guix stand-in (tests/standin/bin/guix) is not there")
    with boot_home("vmfleet-test-fleet-") as (home, reg, _web1, _web2):
        old, new, db = record_site(reg, ssh.public_key(home.keys))
        build.ensure_image(reg, home, old)
        build.ensure_image(reg, home, new)  # never booted: for plan's package summary
        with remote_host(reg, home):
            yield type("World", (), {"home": home, "reg": reg, "old": old, "new": new, "db": db,
                                     "prefix": unique_vm_name()})()


@pytest.fixture
def w(world):
    try:
        yield world
    finally:
        cleanup_fleet(world.reg, world.home)
        with world.reg.write():
            world.reg.execute("DELETE FROM fleet_applies")


def plan_of(w, rows, **kw):
    parsed = fleet_file.parse(fleet_text(rows), "fleet.toml")
    return plan_mod.make_plan(w.reg, w.home, parsed, source={"path": "fleet.toml"}, **kw)


def apply(w, rows, **kw):
    return fleet_apply.apply(w.reg, w.home, plan_of(w, rows), timeout=BOOT_TIMEOUT,
                             health_timeout=10, **kw)


def hostname(w, vm: str) -> str:
    from vmfleet.deploy import vm_access

    with vm_access.connect_ssh(w.reg, w.home, vm) as conn:
        return conn.check_output("cat /etc/hostname").strip()


def test_apply_two_systems_three_vms_two_hosts_then_a_failed_health_check_rolls_back(w):
    p = w.prefix
    rows = [{"name": f"{p}-web-1", "system": "site@2023-07", "health": HEALTHY},
            {"name": f"{p}-web-2", "system": "site@1", "host": "hv", "health": HEALTHY},
            {"name": f"{p}-db", "system": "db", "memory": "384M", "health": HEALTHY}]
    result = apply(w, rows)
    assert result.status == "succeeded", [(o.name, o.result, o.detail) for o in result.outcomes]
    assert [(o.result, o.generation, o.host) for o in result.outcomes] == [
        ("done", "site@1", "local"), ("done", "site@1", "hv"), ("done", "db@1", "local")]
    assert hostname(w, f"{p}-web-2") == "site"  # through the remote host's sshd
    vms = {v.name: v for v in vm_records.list_vms(w.reg)}
    assert (vms[f"{p}-db"].memory_mib, vms[f"{p}-web-2"].host) == (384, "hv")
    assert plan_of(w, rows).exit_code == 0
    newer = plan_of(w, [{**rows[0], "system": "site"}, *rows[1:]]).steps[0]
    assert (newer.action, newer.current, newer.target) == (Action.REPLACE, "site@1", "site@2")
    assert "git" in newer.packages and "config only" not in newer.packages  # from both images
    entries = fleet_apply.apply_log(w.reg, result.apply_id)
    placed = sorted(e.detail.split(":")[0] for e in entries if e.action == "apply-place")
    assert placed == ["on hv", "on local"]  # once per host and image (db@1 has site@1's)
    assert sum(e.action == "apply-image" for e in entries) == 2  # site@1 and db@1: one image

    # More memory for both web VMs; web-2 (on hv, first in line) is replaced fine, then web-1's
    # replacement fails its health check: the rollout stops and web-2 is rolled back.
    changed = [{**rows[0], "memory": "320M", "health": SICK}, {**rows[1], "memory": "320M"},
               rows[2]]
    result = apply(w, changed, max_parallel=1)
    out = {o.name: o for o in result.outcomes}
    assert result.status == "rolled-back"
    assert out[f"{p}-web-2"].result == "rolled back" and out[f"{p}-web-2"].vm == f"{p}-web-2"
    assert out[f"{p}-web-1"].result == "failed" and "health check" in out[f"{p}-web-1"].detail
    states = {v.name: v.state for v in vm_records.list_vms(w.reg)}
    assert states == {f"{p}-web-1": VmState.RUNNING, f"{p}-web-2": VmState.RUNNING,
                      f"{p}-web-2-g1": VmState.RETIRED, f"{p}-db": VmState.RUNNING}
    assert hostname(w, f"{p}-web-2") == "site"  # the old VM answers again, same pinned key
    assert plan_of(w, rows).exit_code == 0     # back where the first apply left it

    # web-2 with 320M again: its retired replacement is exactly that, so apply boots it from
    # its kept overlay (on hv) instead of making a third VM.
    again = [rows[0], {**rows[1], "memory": "320M"}, rows[2]]
    assert plan_of(w, again).steps[1].reuse == f"{p}-web-2-g1"
    result = apply(w, again)
    assert result.status == "succeeded", [(o.name, o.result, o.detail) for o in result.outcomes]
    assert {o.name: o.detail for o in result.outcomes}[f"{p}-web-2"].endswith(
        f"(brought back {p}-web-2-g1)")
    states = {v.name: v.state for v in vm_records.list_vms(w.reg)}
    assert states == {f"{p}-web-1": VmState.RUNNING, f"{p}-web-2": VmState.RETIRED,
                      f"{p}-web-2-g1": VmState.RUNNING, f"{p}-db": VmState.RUNNING}
    assert hostname(w, f"{p}-web-2-g1") == "site"


def test_kill_9_during_apply_then_apply_again_converges_to_the_fleet_of_a_past_date(w, tmp_path):
    p = w.prefix
    repo = new_repo(tmp_path / "repo")
    then = [{"name": f"{p}-web", "system": "site", "health": HEALTHY}]
    commit_files(repo, {"fleet.toml": fleet_text(then)}, "fleet", "2023-07-01T00:00:00Z")
    commit_files(repo, {"fleet.toml": fleet_text(then + [{"name": f"{p}-x", "system": "site"}])},
                 "a second VM", "2024-06-01T00:00:00Z")
    history.import_fleet(w.reg, repo)
    now = plan_mod.make_plan(w.reg, w.home, history.fleet_at(w.reg, "@latest")[0], source={})
    assert [s.target for s in now.steps] == ["site@2", "site@2"]
    fleet, _version, _pin = history.fleet_at(w.reg, "@2023-10")
    past = plan_mod.make_plan(w.reg, w.home, fleet, source={"ref": "@2023-10"})
    assert [(s.name, s.action, s.target) for s in past.steps] == [
        (f"{p}-web", Action.CREATE, "site@1")]  # site@2 came in 2024-06

    env = {**os.environ, "VMFLEET_HOME": str(w.home.root)}
    proc = subprocess.Popen([sys.executable, "-m", "vmfleet", "apply", "--fleet", "@2023-10",
                             "--yes", "--timeout", "240s"], env=env, stdout=subprocess.DEVNULL,
                            stderr=(tmp_path / "apply.log").open("w"), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and vm_records.find_vm(w.reg, f"{p}-web") is None:
            time.sleep(0.2)
        time.sleep(1.0)  # inside the deploy: the domain is being defined or booting
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert vm_records.find_vm(w.reg, f"{p}-web").state is VmState.DEPLOYING
    interrupted = plan_mod.make_plan(w.reg, w.home, fleet, source={"ref": "@2023-10"})
    assert interrupted.interrupted_apply is not None
    step = interrupted.steps[0]
    assert (step.action, step.discard) == (Action.CREATE, (f"{p}-web",))
    assert [a.status for a in fleet_apply.list_applies(w.reg, w.home)] == ["interrupted"]

    result = fleet_apply.apply(w.reg, w.home, interrupted, timeout=BOOT_TIMEOUT,
                               health_timeout=10)
    assert result.status == "succeeded", [(o.name, o.result, o.detail) for o in result.outcomes]
    vm = vm_records.get_vm(w.reg, f"{p}-web")
    assert (vm.state, vm.label) == (VmState.RUNNING, "site@1")
    assert hostname(w, f"{p}-web") == "site"
    final = plan_mod.make_plan(w.reg, w.home, fleet, source={"ref": "@2023-10"})
    assert final.exit_code == 0 and final.interrupted_apply is None
