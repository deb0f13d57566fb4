"""plan against libvirt's test:///default driver: many VMs on several hosts, every action,
leftovers of interrupted applies, unreachable hosts, saved plans going stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.deploy_env import make_fleet
from tests.helpers.fleet_env import add_test_hosts, fake_vm, fleet_text
from vmfleet.deploy import hosts
from vmfleet.errors import UsageError
from vmfleet.fleet import apply as fleet_apply
from vmfleet.fleet import file as fleet_file
from vmfleet.fleet import plan as plan_mod
from vmfleet.fleet.plan import Action


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)


def make(f, rows, **kw):
    parsed = fleet_file.parse(fleet_text(rows), "fleet.toml")
    return plan_mod.make_plan(f.reg, f.home, parsed, source={"path": "fleet.toml"}, **kw)


def by_name(plan):
    return {s.name: s for s in plan.steps}


def test_many_vms_on_many_hosts_each_get_the_right_action(fleet):
    names = add_test_hosts(fleet.reg, 5)
    rows = []
    for i in range(60):
        host = names[i % 5]
        name = f"vm-{i:02d}"
        kind = i % 6
        rows.append({"name": name, "system": "web", "host": host})
        if kind == 0:
            continue  # not deployed: create
        if kind == 1:
            fake_vm(fleet.reg, fleet.conn, fleet.home, name, fleet.new, host)  # keep
        elif kind == 2:
            fake_vm(fleet.reg, fleet.conn, fleet.home, name, fleet.old, host)  # replace
        elif kind == 3:
            fake_vm(fleet.reg, fleet.conn, fleet.home, name, fleet.new, host, domain="shut off")
        elif kind == 4:  # moves to another host
            fake_vm(fleet.reg, fleet.conn, fleet.home, name, fleet.new, names[(i + 1) % 5])
        else:
            fake_vm(fleet.reg, fleet.conn, fleet.home, name, fleet.new, host, memory_mib=256)
    fake_vm(fleet.reg, fleet.conn, fleet.home, "stray", fleet.new, "hv1")
    plan = make(fleet, rows)
    steps = by_name(plan)
    expected = {0: Action.CREATE, 1: Action.KEEP, 2: Action.REPLACE, 3: Action.START,
                4: Action.REPLACE, 5: Action.REPLACE}
    assert {n: s.action for n, s in steps.items()} == {
        f"vm-{i:02d}": expected[i % 6] for i in range(60)}
    assert steps["vm-02"].reasons == ("generation web@1 → web@2",)
    assert steps["vm-02"].target == "web@2" and steps["vm-02"].current == "web@1"
    assert steps["vm-02"].packages == "+git (config only: web@1 and web@2 not built)"
    assert steps["vm-04"].reasons == ("host hv1 → hv5",)
    assert steps["vm-05"].reasons == ("memory 256M → 512M",)
    assert plan.unmanaged == ("stray",) and plan.exit_code == 1
    assert plan.counts()["create"] == 10 and plan.counts()["keep"] == 10

    pruned = make(fleet, rows, prune=True)
    assert by_name(pruned)["stray"].action is Action.REMOVE and pruned.unmanaged == ()


def test_nothing_to_do_exits_0_and_a_downgrade_is_flagged(fleet):
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1", fleet.new, "local")
    plan = make(fleet, [{"name": "web-1", "system": "web"}])
    assert [s.action for s in plan.steps] == [Action.KEEP] and plan.exit_code == 0
    old = make(fleet, [{"name": "web-1", "system": "web@2023-10"}])
    step = old.steps[0]
    assert (step.action, step.downgrade, step.target) == (Action.REPLACE, True, "web@1")


def test_replaced_vms_are_followed_through_their_lineage(fleet):
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1", fleet.old, "local", state="retired",
            domain="shut off", created="2024-01-01T00:00:00Z")
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1-g2", fleet.new, "local",
            replaces="web-1", created="2024-01-02T00:00:00Z")
    step = make(fleet, [{"name": "web-1", "system": "web"}]).steps[0]
    assert (step.action, step.vm, step.current) == (Action.KEEP, "web-1-g2", "web@2")


def test_going_back_brings_back_the_retired_vm_that_is_what_the_file_declares(fleet):
    """The fleet of an earlier date: web-1 (web@1, retired by the redeploy to web@2) is what the
    file declares again, so apply brings it back rather than making another VM; with another
    memory it would not be, and a new VM is planned."""
    import json

    import jsonschema

    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1", fleet.old, "local", state="retired",
            domain="shut off", created="2024-01-01T00:00:00Z")
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1-g2", fleet.new, "local",
            replaces="web-1", created="2024-01-02T00:00:00Z")
    plan = make(fleet, [{"name": "web-1", "system": "web@1"}])
    step = plan.steps[0]
    assert (step.action, step.vm, step.reuse, step.downgrade) == (Action.REPLACE, "web-1-g2", "web-1", True)
    assert "brings back web-1 (retired), no new VM" in step.reasons
    data = plan_mod.to_json(plan)
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "plan.schema.json").read_text())
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    assert plan_mod.from_json(data).steps[0].reuse == "web-1"
    other = make(fleet, [{"name": "web-1", "system": "web@1", "memory": "1G"}]).steps[0]
    assert (other.action, other.reuse) == (Action.REPLACE, None)
    fleet.conn.lookupByName("web-1").undefine()      # its domain is gone: nothing to bring back
    assert make(fleet, [{"name": "web-1", "system": "web@1"}]).steps[0].reuse is None


def test_an_interrupted_rollback_is_finished_first_by_its_own_command(fleet):
    """A bring-back (a rollback) killed after the retired VM booted and before the other one
    retired: both run, and which should is the rollback's to say, so plan names the command
    that finishes it instead of retiring one of them itself."""
    from vmfleet.deploy import vm_records

    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1", fleet.old, "local",
            created="2024-01-01T00:00:00Z")
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1-g2", fleet.new, "local",
            replaces="web-1", created="2024-01-02T00:00:00Z")
    vm_records.begin_rollout(fleet.reg, "rollback", "web-1", "web", fleet.old.id,
                             vm_records.RolloutStep.RETIRE_OLD, retiring=("web-1-g2",))
    step = make(fleet, [{"name": "web-1", "system": "web@1"}]).steps[0]
    assert step.action is Action.UNKNOWN and step.retire == ()
    assert "the rollback of web-1 to web@1 was interrupted" in step.note
    assert "vmfleet rollback web-1" in step.note


def test_leftovers_of_an_interrupted_apply_are_planned_for(fleet):
    # web-1: the replacement's deploy was cut short (row 'deploying', nobody holds its lock).
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1", fleet.old, "local",
            created="2024-01-01T00:00:00Z")
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1-g2", fleet.new, "local", state="deploying",
            replaces="web-1", domain="shut off", created="2024-01-02T00:00:00Z")
    # web-2: the replacement is up, the old one was not retired yet.
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-2", fleet.old, "local",
            created="2024-01-01T00:00:00Z")
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-2-g2", fleet.new, "local",
            replaces="web-2", created="2024-01-02T00:00:00Z")
    with fleet.reg.write():
        fleet.reg.execute("INSERT INTO fleet_applies (id, started, status, user, fleet, "
                          "fingerprint, plan) VALUES ('a1', '2024-01-02T00:00:00Z', 'running',"
                          " 'root', 'fleet.toml', '', '{}')")
    plan = make(fleet, [{"name": "web-1", "system": "web"}, {"name": "web-2", "system": "web"}])
    s1, s2 = plan.steps
    assert (s1.action, s1.vm, s1.discard) == (Action.REPLACE, "web-1", ("web-1-g2",))
    assert (s2.action, s2.vm, s2.retire) == (Action.FINISH, "web-2-g2", ("web-2",))
    assert plan.interrupted_apply == "a1"
    assert [a.status for a in fleet_apply.list_applies(fleet.reg, fleet.home)] == ["interrupted"]


def test_an_unreachable_host_is_reported_and_the_others_planned(fleet):
    add_test_hosts(fleet.reg, 1)
    hosts.add(fleet.reg, "dead", "qemu+unix:///system?socket=/nonexistent/sock", verify=False)
    fake_vm(fleet.reg, fleet.conn, fleet.home, "a", fleet.new, "hv1")
    plan = make(fleet, [{"name": "a", "system": "web", "host": "hv1"},
                        {"name": "b", "system": "web", "host": "dead"},
                        {"name": "c", "system": "web", "host": "hv1"}])
    assert [s.action for s in plan.steps] == [Action.KEEP, Action.UNKNOWN, Action.CREATE]
    assert "dead" in plan.unreachable and "host dead did not answer" in plan.steps[1].note
    assert plan.exit_code == 2


def test_on_selects_by_tag_or_name(fleet):
    rows = [{"name": "a", "system": "web", "tags": ["front"]},
            {"name": "b", "system": "web", "tags": ["front", "eu"]},
            {"name": "c", "system": "web"}]
    assert [s.name for s in make(fleet, rows, on=["@front"]).steps] == ["a", "b"]
    assert [s.name for s in make(fleet, rows, on=["c,@eu"]).steps] == ["b", "c"]
    with pytest.raises(UsageError, match="no such VM"):
        make(fleet, rows, on=["zz"])


def test_unknown_host_or_system_fails_before_anything_runs(fleet):
    with pytest.raises(UsageError, match="unknown host 'hv7'"):
        make(fleet, [{"name": "a", "system": "web", "host": "hv7"}])


def test_a_saved_plan_goes_stale_when_state_or_fleet_changes(fleet):
    rows = [{"name": "a", "system": "web"}]
    saved = plan_mod.from_json(plan_mod.to_json(make(fleet, rows)))
    fleet_apply.check_fresh(saved, make(fleet, rows))  # nothing changed: fine
    fake_vm(fleet.reg, fleet.conn, fleet.home, "a", fleet.old, "local")
    with pytest.raises(UsageError, match="what runs changed since this plan was made"):
        fleet_apply.check_fresh(saved, make(fleet, rows))
    with pytest.raises(UsageError, match="the fleet file changed"):
        fleet_apply.check_fresh(saved, make(fleet, rows + [{"name": "b", "system": "web"}]))
    with pytest.raises(UsageError, match="not a vmfleet plan"):
        plan_mod.from_json({"format": 1})


def test_package_summary_of_two_built_images_counts_and_names_requested_packages():
    from vmfleet.diff.package_diff import PackageChange

    def change(name, kind, requested=False):
        return PackageChange(name, kind, (), (), None, None, requested)

    changes = [change(f"lib{i}", "upgraded") for i in range(12)] + [
        change("openssl", "downgraded"), change("curl", "added", requested=True),
        change("libfoo", "added"), change("vim", "removed", requested=True),
        change("glibc", "rebuilt")]
    assert plan_mod.summarize_changes(changes) == (
        "12 upgraded, 1 downgraded, 1 added, 1 rebuilt, +curl, -vim")
    assert plan_mod.summarize_changes([]) == "same packages"


def test_plan_reads_each_hypervisor_once_whatever_the_number_of_hosts_on_it(fleet, monkeypatch):
    """Issue 19: 10,000 VMs on 100 hosts took 62x the time of 1,000 on 10: the 100 hosts
    (one hypervisor under 100 names) were each read in full, one domain state at a time."""
    from vmfleet.tools import virt

    names = add_test_hosts(fleet.reg, 8)
    rows = [{"name": f"vm-{i}", "system": "web", "host": names[i % 8]} for i in range(24)]
    for r in rows:
        fake_vm(fleet.reg, fleet.conn, fleet.home, r["name"], fleet.new, r["host"])
    reads = []
    real = virt.Conn.domain_states
    monkeypatch.setattr(virt.Conn, "domain_states",
                        lambda self: reads.append(self) or real(self))
    per_domain = []
    real_state = type(fleet.conn.lookupByName("vm-0")).state
    monkeypatch.setattr(type(fleet.conn.lookupByName("vm-0")), "state",
                        lambda self, *a: per_domain.append(1) or real_state(self, *a))
    plan = make(fleet, rows)
    assert [s.action for s in plan.steps] == [Action.KEEP] * 24
    assert len(reads) == 1, "8 hosts on one libvirt URI are one hypervisor: read once"
    assert per_domain == [], "domain states come in one call (getAllDomainStats), not one each"
