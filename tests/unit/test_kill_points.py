"""kill -9 at every recorded step of deploy, redeploy and rollback: the next command finishes
the same operation, ps names that command, and nothing is duplicated or left behind.

The kill is simulated in-process (tests/helpers/killsim.py: what a SIGKILL leaves is captured at
the kill point and put back after the unwinding), because libvirt's test driver lives in this
process; the finishing command then runs through the CLI, as the hint tells a user to.
"""

from __future__ import annotations

import re
import shlex

import pytest

from tests.helpers import killsim
from tests.helpers.deploy_env import make_fleet
from tests.unit import test_deploy
from tests.unit.test_deploy import ensure_image_stub, up
from vmfleet.cli import main
from vmfleet.deploy import lifecycle, rollout, status, vm_records
from vmfleet.deploy.vm_records import Options, VmState


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)


@pytest.fixture
def fake_ssh(monkeypatch):
    return test_deploy.fake_ssh.__wrapped__(monkeypatch)


def finish_hint(f) -> str:
    """The one command ps says finishes what was interrupted."""
    rows = [r for r in status.ps(f.reg, f.home) if r.state == "interrupted"]
    assert rows, [(r.name, r.state, r.note) for r in status.ps(f.reg, f.home)]
    commands = {m.group(1) for r in rows for m in [re.search(r"'(vmfleet [^']+)' finishes it",
                                                             r.note)] if m}
    assert len(commands) == 1, [r.note for r in rows]
    return commands.pop()


def cli(f, command: str, capsys) -> int:
    code = main(["--home", str(f.home.root), *shlex.split(command)[1:]])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert code == 0, err
    return code


def states(f) -> dict[str, VmState]:
    return {v.name: v.state for v in vm_records.list_vms(f.reg)}


def overlays(f) -> set[str]:
    return {p.name for p in f.home.overlays.iterdir()}


def running_domains(f) -> set[str]:
    return {d.name() for d in f.conn.listAllDomains() if d.isActive() and d.name() != "test"}


REDEPLOY_STEPS = ["redeploy:intent", "deploy:reserved", "deploy:overlay", "deploy:defined",
                  "deploy:ssh-wait", "redeploy:retire-old", "retire:powered-off"]


@pytest.mark.parametrize("step", REDEPLOY_STEPS)
def test_a_redeploy_killed_at_any_step_is_finished_by_the_command_ps_names(
        fleet, fake_ssh, monkeypatch, capsys, step):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    seen = killsim.arm(monkeypatch, fleet, step)
    with pytest.raises(killsim.Killed):
        rollout.redeploy(fleet.reg, fleet.home, "web@2")
    killsim.restore(monkeypatch, fleet, seen["left"])
    hint = finish_hint(fleet)
    assert hint == "vmfleet redeploy web@2"
    cli(fleet, hint, capsys)
    assert states(fleet) == {"web": VmState.RETIRED, "web-g2": VmState.RUNNING}  # no web-g2-2
    assert fleet.domains() == ["web", "web-g2"] and running_domains(fleet) == {"web-g2"}
    assert overlays(fleet) == {"web.qcow2", "web-g2.qcow2"}
    assert vm_records.open_rollouts(fleet.reg) == []
    assert all(r.state != "interrupted" for r in status.ps(fleet.reg, fleet.home))
    # 'vmfleet ssh web' follows web to its one running successor.
    web = vm_records.get_vm(fleet.reg, "web")
    assert [v.name for v in vm_records.lineage_of(fleet.reg, web)
            if v.state is VmState.RUNNING] == ["web-g2"]


@pytest.mark.parametrize("step", REDEPLOY_STEPS)
def test_a_downgrade_killed_at_any_step_is_finished_by_the_command_ps_names(
        fleet, fake_ssh, monkeypatch, capsys, step):
    """Issue 19: ps named 'vmfleet redeploy web@2' for a downgrade cut short, which was then
    refused for want of --allow-downgrade. Two VMs: the second still runs the newer one."""
    ensure_image_stub(monkeypatch, fleet)
    up(fleet, gen=fleet.new, name="web")
    up(fleet, gen=fleet.new, name="web-b")
    seen = killsim.arm(monkeypatch, fleet, step)
    with pytest.raises(killsim.Killed):
        rollout.redeploy(fleet.reg, fleet.home, "web@1", allow_downgrade=True)
    killsim.restore(monkeypatch, fleet, seen["left"])
    hint = finish_hint(fleet)
    assert hint == "vmfleet redeploy web@1 --allow-downgrade"
    cli(fleet, hint, capsys)
    assert states(fleet) == {"web": VmState.RETIRED, "web-g1": VmState.RUNNING,
                             "web-b": VmState.RETIRED, "web-b-g1": VmState.RUNNING}
    assert running_domains(fleet) == {"web-g1", "web-b-g1"}
    assert vm_records.open_rollouts(fleet.reg) == []
    assert all(r.state != "interrupted" for r in status.ps(fleet.reg, fleet.home, every=True))


ROLLBACK_STEPS = ["rollback:intent", "deploy:ssh-wait", "rollback:retire-old",
                  "retire:powered-off"]


@pytest.mark.parametrize("by", ["web", "web-g2"])
@pytest.mark.parametrize("step", ROLLBACK_STEPS)
def test_a_rollback_killed_at_any_step_is_finished_by_a_rollback_of_either_vm(
        fleet, fake_ssh, monkeypatch, capsys, step, by):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    rollout.redeploy(fleet.reg, fleet.home, "web@2")
    seen = killsim.arm(monkeypatch, fleet, step)
    with pytest.raises(killsim.Killed):
        rollout.rollback(fleet.reg, fleet.home, "web-g2", allow_downgrade=True)
    killsim.restore(monkeypatch, fleet, seen["left"])
    # web@1 replaces web@2: a downgrade, so the command ps names carries the flag it needs.
    assert finish_hint(fleet) == "vmfleet rollback web --allow-downgrade"
    cli(fleet, f"vmfleet rollback {by} --allow-downgrade", capsys)
    assert states(fleet) == {"web": VmState.RUNNING, "web-g2": VmState.RETIRED}
    assert running_domains(fleet) == {"web"}
    assert vm_records.open_rollouts(fleet.reg) == []
    rollbacks = [e for e in vm_records.audit_log(fleet.reg) if e.action == "rollback"]
    assert [(e.vm, e.detail) for e in rollbacks] == [("web", "retired web-g2")]


DEPLOY_STEPS = ["deploy:reserved", "deploy:overlay", "deploy:defined", "deploy:ssh-wait"]


@pytest.mark.parametrize("step", DEPLOY_STEPS)
def test_a_deploy_killed_at_any_step_is_recorded_and_the_hint_of_ps_works(
        fleet, fake_ssh, monkeypatch, capsys, step):
    ensure_image_stub(monkeypatch, fleet)
    seen = killsim.arm(monkeypatch, fleet, step)
    with pytest.raises(killsim.Killed):
        lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, name="web",
                               options=Options(wait=True, timeout=5))
    killsim.restore(monkeypatch, fleet, seen["left"])
    entries = vm_records.audit_log(fleet.reg)
    assert [(e.action, e.vm) for e in entries] == [("deploy", "web")]
    assert "not finished" in entries[0].detail
    (row,) = status.ps(fleet.reg, fleet.home)
    assert row.state == "interrupted"
    if fleet.domains():  # defined: start finishes it
        assert "'vmfleet start web' finishes it" in row.note
        cli(fleet, "vmfleet start web", capsys)
        # Issue 22 #13: the deploy's entry is closed by the start that finished it.
        deploy, start = vm_records.audit_log(fleet.reg)
        assert (deploy.action, start.action) == ("deploy", "start")
        assert deploy.detail == "on local: finished by vmfleet start", deploy.detail
    else:  # never defined: start cannot finish it, and ps does not say it would
        assert "vmfleet start" not in row.note
        commands = re.findall(r"'(vmfleet [^']+)'", row.note)
        assert commands == ["vmfleet destroy web", "vmfleet deploy web@1 --name web"]
        for command in commands:  # (destroy asks first on a terminal)
            cli(fleet, command + (" --yes" if "destroy" in command else ""), capsys)
    assert states(fleet) == {"web": VmState.RUNNING}
    assert running_domains(fleet) == {"web"} and overlays(fleet) == {"web.qcow2"}


@pytest.mark.parametrize("target,expected", [("web@2", "vmfleet rollback web --allow-downgrade"),
                                             ("web@1", "vmfleet rollback web-g2")])
def test_the_rollback_ps_names_for_a_retired_vm_brings_it_back(
        fleet, fake_ssh, monkeypatch, capsys, target, expected):
    """Every command ps suggests finishes what it names: for a retired VM, the rollback that
    brings it back, with --allow-downgrade exactly when it goes to an older generation."""
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    rollout.redeploy(fleet.reg, fleet.home, "web@2")
    if target == "web@1":  # back on web@1: now the retired web-g2 is the newer one
        rollout.rollback(fleet.reg, fleet.home, "web", allow_downgrade=True)
    (retired,) = [r for r in status.ps(fleet.reg, fleet.home, every=True)
                  if r.state == "retired"]
    command = re.search(r"kept for '(vmfleet [^']+)'", retired.note).group(1)
    assert command == expected
    cli(fleet, command, capsys)
    assert states(fleet)[retired.name] is VmState.RUNNING
    assert [r.name for r in status.ps(fleet.reg, fleet.home, every=True)
            if r.state == "running"] == [retired.name]
