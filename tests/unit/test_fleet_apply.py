"""apply against libvirt's test:///default driver, with SSH and health checks stood in for (the
orchestration: phases, parallelism limits, health gates, rollback, leftovers, audit).
tests/integration/test_fleet_apply.py applies for real, with TCG boots."""

from __future__ import annotations

import threading
import time
import types

import pytest

from tests.helpers.deploy_env import make_fleet
from tests.helpers.fleet_env import add_test_hosts, fake_vm, fleet_text
from vmfleet.deploy import lifecycle, vm_access, vm_records
from vmfleet.deploy.vm_records import Options, VmState
from vmfleet.errors import Busy, DeployError
from vmfleet.fleet import apply as fleet_apply
from vmfleet.fleet import file as fleet_file
from vmfleet.fleet import plan as plan_mod
from vmfleet.fleet.plan import Action
from vmfleet.tools import locks, ssh


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)


@pytest.fixture
def vms(monkeypatch, fleet):
    """VMs 'come up' (SSH wait stood in for) and answer health commands: exit 1 for those in
    .sick; .boots counts concurrent boots overall and per host."""
    import vmfleet.build.builds

    state = types.SimpleNamespace(sick=set(), down=set(), running=0, peak=0, per_host={},
                                  peak_host={}, lock=threading.Lock(), delay=0.0, interrupt=set(),
                                  codes={}, health_runs=[])

    def wait(reg, home, vm, host, conn, place, timeout, notify):
        with state.lock:
            state.running += 1
            state.per_host[host.name] = state.per_host.get(host.name, 0) + 1
            state.peak = max(state.peak, state.running)
            state.peak_host[host.name] = max(state.peak_host.get(host.name, 0),
                                             state.per_host[host.name])
        try:
            time.sleep(state.delay)
            if vm.name in state.interrupt:
                raise KeyboardInterrupt
            if vm.name in state.down:
                raise DeployError(f"VM {vm.name} did not come up: timeout", "console")
        finally:
            with state.lock:
                state.running -= 1
                state.per_host[host.name] -= 1
        return vm_records.update_vm(reg, vm.name, host_key=f"ssh-ed25519 KEY-{vm.name}")

    class Conn:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def run(self, command, timeout=None):
            state.health_runs.append(self.name)
            if self.name in state.codes:
                return ssh.RemoteResult(*state.codes[self.name])
            bad = self.name in state.sick
            return ssh.RemoteResult(1 if bad else 0, "", "postgres is stopped" if bad else "")

    monkeypatch.setattr(vm_access, "wait_ssh", wait)
    monkeypatch.setattr(vm_access, "connect_ssh", lambda reg, home, name, **kw: Conn(name))
    built = types.SimpleNamespace(image_sha256=fleet.image.sha256, image_path=str(fleet.image.path))
    monkeypatch.setattr(vmfleet.build.builds, "ensure_image", lambda *a, **k: built)
    return state


def plan_of(f, rows, **kw):
    parsed = fleet_file.parse(fleet_text(rows), "fleet.toml")
    return plan_mod.make_plan(f.reg, f.home, parsed, source={"path": "fleet.toml"},
                              packages=False, **kw)


def run(f, rows, **kw):
    plan = plan_of(f, rows)
    return fleet_apply.apply(f.reg, f.home, plan, health_timeout=0.2, **kw)


def deployed(f, name, gen):
    return lifecycle.deploy_image(f.reg, f.home, gen, f.image, name=name, host="local",
                                  options=Options(wait=False))


def test_apply_creates_replaces_and_converges(fleet, vms):
    deployed(fleet, "web-1", fleet.old)
    rows = [{"name": "web-1", "system": "web", "health": "herd status nginx"},
            {"name": "web-2", "system": "web@1"}]
    seen = []
    result = run(fleet, rows, progress=lambda n, t: seen.append((n, t)))
    assert result.status == "succeeded"
    assert [(o.name, o.result, o.vm, o.generation) for o in result.outcomes] == [
        ("web-1", "done", "web-1-g2", "web@2"), ("web-2", "done", "web-2", "web@1")]
    assert vm_records.get_vm(fleet.reg, "web-1").state is VmState.RETIRED
    assert vm_records.get_vm(fleet.reg, "web-1-g2").replaces == "web-1"
    assert ("web-1", "health check: herd status nginx") in seen
    again = plan_of(fleet, rows)
    assert [s.action for s in again.steps] == [Action.KEEP, Action.KEEP] and again.exit_code == 0
    actions = [e.action for e in fleet_apply.apply_log(fleet.reg, result.apply_id)]
    assert actions[0] == "apply-start" and actions[-1] == "apply-end"
    assert {"apply-image", "apply-place", "apply-create", "apply-replace",
            "apply-health"} <= set(actions)
    assert fleet_apply.apply(fleet.reg, fleet.home, again).status == "nothing to do"


def test_going_back_brings_back_the_retired_vm_and_makes_none(fleet, vms):
    deployed(fleet, "web-1", fleet.old)
    assert run(fleet, [{"name": "web-1", "system": "web"}]).status == "succeeded"   # web-1-g2
    rows = [{"name": "web-1", "system": "web@1", "health": "herd status nginx"}]
    result = run(fleet, rows, allow_downgrade=True)
    assert result.status == "succeeded"
    [o] = result.outcomes
    assert (o.result, o.vm, o.generation) == ("done", "web-1", "web@1")
    assert o.detail == "web@2 → web@1 (brought back web-1)"
    states = {v.name: v.state for v in vm_records.list_vms(fleet.reg)}
    assert states == {"web-1": VmState.RUNNING, "web-1-g2": VmState.RETIRED}   # no new VM
    assert fleet.domains() == ["web-1", "web-1-g2"]
    assert [s.action for s in plan_of(fleet, rows).steps] == [Action.KEEP]


def test_a_retired_vm_that_fails_to_come_back_is_not_offered_again(fleet, vms):
    """Its health check fails: the running VM stays, and the next plan makes a new VM rather
    than trying the broken one on every apply."""
    deployed(fleet, "web-1", fleet.old)
    assert run(fleet, [{"name": "web-1", "system": "web"}]).status == "succeeded"   # web-1-g2
    vms.sick.add("web-1")
    rows = [{"name": "web-1", "system": "web@1", "health": "herd status nginx"}]
    assert plan_of(fleet, rows).steps[0].reuse == "web-1"
    failed = run(fleet, rows, allow_downgrade=True)
    assert failed.status == "rolled-back" and failed.outcomes[0].result == "failed"
    assert "health check of web-1 failed" in failed.outcomes[0].detail
    states = {v.name: v.state for v in vm_records.list_vms(fleet.reg)}
    assert states == {"web-1": VmState.RETIRED, "web-1-g2": VmState.RUNNING}
    step = plan_of(fleet, rows).steps[0]
    assert (step.action, step.reuse) == (Action.REPLACE, None)
    result = run(fleet, rows, allow_downgrade=True)
    assert result.status == "succeeded" and result.outcomes[0].vm not in ("web-1", "web-1-g2")


def test_a_failing_health_check_stops_and_rolls_back_this_applys_replacements(fleet, vms):
    for name in ("a", "b", "c"):
        deployed(fleet, name, fleet.old)
    vms.sick.add("b-g2")
    rows = [{"name": n, "system": "web", "health": "herd status postgres"} for n in "abc"]
    result = run(fleet, rows, max_parallel=1)
    assert result.status == "rolled-back"
    out = {o.name: (o.result, o.vm) for o in result.outcomes}
    assert out["a"] == ("rolled back", "a")
    assert out["b"][0] == "failed" and out["c"] == ("skipped", "c")
    assert "health check of b-g2 failed: 'herd status postgres': exit 1: postgres is stopped" in \
        next(o.detail for o in result.outcomes if o.name == "b")
    states = {v.name: v.state for v in vm_records.list_vms(fleet.reg)}
    assert states == {"a": VmState.RUNNING, "a-g2": VmState.RETIRED, "b": VmState.RUNNING,
                      "c": VmState.RUNNING}
    assert fleet.domains() == ["a", "a-g2", "b", "c"]  # b-g2 removed


@pytest.mark.parametrize("rc,err", [(127, "sh: herd: not found"),
                                    (126, "sh: /usr/bin/check: Permission denied")])
def test_a_health_command_that_cannot_run_fails_at_once(fleet, vms, rc, err):
    """Issue 19: 'exit 127: sh: herd: not found' was retried for the whole --health-timeout
    (81-87 s per VM)."""
    deployed(fleet, "a", fleet.old)
    vms.codes["a-g2"] = (rc, "", err)
    plan = plan_of(fleet, [{"name": "a", "system": "web", "health": "herd status"}])
    t0 = time.monotonic()
    result = fleet_apply.apply(fleet.reg, fleet.home, plan, health_timeout=30)
    assert time.monotonic() - t0 < 10 and vms.health_runs == ["a-g2"]  # once, not for 30 s
    (o,) = result.outcomes
    assert o.result == "failed" and f"cannot run: 'herd status': exit {rc}: {err}" in o.detail
    assert vm_records.get_vm(fleet.reg, "a").state is VmState.RUNNING


def test_the_summary_time_of_a_rolled_back_vm_is_the_vms_own(fleet, vms):
    """Issue 19: the summary showed the rollback's 2.1 s as the VM's time."""
    for name in ("a", "b"):
        deployed(fleet, name, fleet.old)
    vms.sick.add("b-g2")
    vms.delay = 0.4  # each boot (the replacement's, then the rollback's) takes this long
    result = run(fleet, [{"name": n, "system": "web", "health": "true"} for n in "ab"],
                 max_parallel=1)
    out = {o.name: o for o in result.outcomes}
    assert out["a"].result == "rolled back"
    # a's replacement booted (0.4 s), passed, then was rolled back (another boot, 0.4 s).
    assert out["a"].seconds >= 0.8, out["a"]


def test_keep_going_leaves_the_others_replaced(fleet, vms):
    for name in ("a", "b"):
        deployed(fleet, name, fleet.old)
    vms.sick.add("a-g2")
    result = run(fleet, [{"name": n, "system": "web", "health": "true"} for n in "ab"],
                 keep_going=True, max_parallel=1)
    assert result.status == "failed"
    assert {o.name: o.result for o in result.outcomes} == {"a": "failed", "b": "done"}
    assert vm_records.get_vm(fleet.reg, "a").state is VmState.RUNNING


def test_parallel_within_the_limits_in_total_and_per_host(fleet, vms):
    add_test_hosts(fleet.reg, 2)
    vms.delay = 0.3
    rows = [{"name": f"v{i}", "system": "web", "host": f"hv{i % 2 + 1}"} for i in range(6)]
    result = run(fleet, rows, max_parallel=3, per_host=1)
    assert result.status == "succeeded"
    assert vms.peak == 2 and vms.peak_host == {"hv1": 1, "hv2": 1}
    vms.peak, vms.peak_host = 0, {}
    result = run(fleet, [{**r, "memory": "1G"} for r in rows], max_parallel=3, per_host=2)
    assert result.status == "succeeded" and vms.peak == 3 and max(vms.peak_host.values()) == 2


def test_leftovers_of_an_interrupted_apply_are_cleaned_up_first(fleet, vms):
    deployed(fleet, "web-1", fleet.old)
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1-g2", fleet.new, "local",
            state="deploying", replaces="web-1", domain="shut off")
    result = run(fleet, [{"name": "web-1", "system": "web"}])
    assert result.status == "succeeded"
    vm = vm_records.get_vm(fleet.reg, "web-1-g2")
    assert vm.state is VmState.RUNNING and vm.overlay.startswith(str(fleet.home.overlays))
    assert any(e.action == "apply-discard" and e.vm == "web-1-g2"
               for e in fleet_apply.apply_log(fleet.reg, result.apply_id))


def test_one_apply_at_a_time(fleet, vms):
    with locks.lock(fleet.home, plan_mod.APPLY_LOCK):
        with pytest.raises(Busy, match="another 'vmfleet apply' is running"):
            run(fleet, [{"name": "a", "system": "web"}])


def test_an_interrupted_apply_is_reported_and_finished_by_the_next(fleet, vms):
    rows = [{"name": "a", "system": "web"}, {"name": "b", "system": "web"}]
    vms.interrupt.add("b")
    with pytest.raises(KeyboardInterrupt):
        run(fleet, rows, max_parallel=1)
    [record] = fleet_apply.list_applies(fleet.reg, fleet.home)
    assert record.status == "interrupted"
    plan = plan_of(fleet, rows)
    assert plan.interrupted_apply == record.id
    assert [(s.name, s.action, s.discard) for s in plan.steps] == [
        ("a", Action.KEEP, ()), ("b", Action.CREATE, ("b",))]
    vms.interrupt.clear()
    assert fleet_apply.apply(fleet.reg, fleet.home, plan).status == "succeeded"
    again = plan_of(fleet, rows)
    assert again.exit_code == 0 and again.interrupted_apply is None
    assert vm_records.get_vm(fleet.reg, "b").state is VmState.RUNNING


def test_a_stray_domain_left_by_a_killed_define_is_removed_and_the_deploy_retried(fleet, vms):
    # What a vmfleet killed during a slow define leaves: the domain appears after the record of
    # the half-made VM was cleaned up, so only the domain is there.
    fake_vm(fleet.reg, fleet.conn, fleet.home, "b", fleet.old, "local", domain="shut off")
    with fleet.reg.write():
        fleet.reg.execute("DELETE FROM vms WHERE name = 'b'")
    result = run(fleet, [{"name": "b", "system": "web"}])
    assert result.status == "succeeded", result.outcomes
    vm = vm_records.get_vm(fleet.reg, "b")
    assert (vm.state, vm.label) == (VmState.RUNNING, "web@2")
    assert any(e.action == "apply-discard" and "stray domain" in e.detail
               for e in fleet_apply.apply_log(fleet.reg, result.apply_id))


def test_an_apply_that_left_a_vm_unknown_is_partial_not_a_success(fleet, vms):
    # Issue 22 #12: another vmfleet command held web-1 (a concurrent redeploy); apply said
    # 'succeeded' and exited 0.
    deployed(fleet, "web-1", fleet.old)
    vm_records.update_vm(fleet.reg, "web-1", state=VmState.DEPLOYING)
    rows = [{"name": "web-1", "system": "web"}, {"name": "web-2", "system": "web"}]
    with locks.lock(fleet.home, "vm-web-1"):
        result = run(fleet, rows)
        assert [(o.name, o.result) for o in result.outcomes] == [("web-1", "unknown"),
                                                                 ("web-2", "done")]
        assert result.status == "partial" and not result.ok
        only_unknown = run(fleet, [{"name": "web-1", "system": "web"}])
        assert only_unknown.status == "partial" and not only_unknown.ok
    assert [a.status for a in fleet_apply.list_applies(fleet.reg, fleet.home)][-2:] == [
        "partial", "partial"]
