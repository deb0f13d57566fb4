"""Deploy, ps, stop/start, destroy, redeploy and rollback against libvirt's test:///default driver.

No VM boots here: SSH waiting is either off (``wait=False``) or replaced by a stand-in that
answers like a VM that came up (or one that never does), so the orchestration is tested in
milliseconds; tests/integration/test_deploy_boot.py boots real guests.
"""

from __future__ import annotations

import contextlib
import os
import socket
import types

import pytest

from tests.helpers.deploy_env import Fleet, make_fleet
from vmfleet.deploy import hosts, lifecycle, ports, rollout, status, vm_access, vm_records
from vmfleet.deploy.vm_records import Options, VmState
from vmfleet.errors import Busy, DeployError, NotFound, UsageError
from vmfleet.tools import domain_xml, qemu_img


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)

NO_WAIT = Options(wait=False)


def up(f: Fleet, gen=None, name="web", **kw):
    return lifecycle.deploy_image(f.reg, f.home, gen or f.old, f.image, name=name, options=NO_WAIT,
                               **kw)


@pytest.fixture
def fake_ssh(monkeypatch):
    """Replace the SSH wait: VMs 'come up' and pin a host key, unless their name is in .down."""
    state = types.SimpleNamespace(down=set(), waited=[])

    def wait(reg, home, vm, host, conn, place, timeout, notify):
        state.waited.append(vm.name)
        if vm.name in state.down:
            raise DeployError(f"VM {vm.name} did not come up: timeout", "console tail")
        if vm.host_key is None:
            vm = vm_records.update_vm(reg, vm.name, host_key=f"ssh-ed25519 KEY-{vm.name}")
        return vm

    monkeypatch.setattr(vm_access, "wait_ssh", wait)
    return state


def ensure_image_stub(monkeypatch, f: Fleet):
    import vmfleet.build.builds

    built = types.SimpleNamespace(image_sha256=f.image.sha256, image_path=str(f.image.path))
    monkeypatch.setattr(vmfleet.build.builds, "ensure_image", lambda *a, **k: built)


# --- deploy ------------------------------------------------------------------------------------

def test_deploy_defines_a_running_domain_on_an_overlay(fleet):
    vm = up(fleet)
    assert vm.state is VmState.RUNNING and vm.label == "web@1"
    assert fleet.domains() == ["web"]
    dom = fleet.conn.lookupByName("web")
    assert dom.isActive()
    meta = domain_xml.read_metadata(dom.XMLDesc(0))
    assert (meta.system, meta.generation, meta.image_sha256) == ("web", 1, fleet.image.sha256)
    assert meta.controller == vm_access.controller_id(fleet.home)
    info = qemu_img.info(vm.overlay)
    assert info.backing_file == str(fleet.image.path) and info.format == "qcow2"
    assert vm.overlay == str(fleet.home.overlays / "web.qcow2")
    low, high = ports.port_range()
    assert vm.ssh_host == "127.0.0.1" and low <= vm.ssh_port <= high
    assert [(e.action, e.vm, e.to_generation) for e in vm_records.audit_log(fleet.reg)] == [
        ("deploy", "web", "web@1")]


def test_deploy_refuses_an_existing_name_and_leaves_it_alone(fleet):
    first = up(fleet)
    with pytest.raises(UsageError, match="already exists"):
        up(fleet, fleet.new)
    assert vm_records.get_vm(fleet.reg, "web") == first


def test_each_vm_gets_its_own_port_and_busy_ports_are_skipped(fleet, monkeypatch):
    low = 22800
    monkeypatch.setenv("VMFLEET_PORT_RANGE", f"{low}-{low + 20}")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", low))  # something outside vmfleet has the first port
        a, b = up(fleet, name="a"), up(fleet, name="b")
    assert low not in (a.ssh_port, b.ssh_port)
    assert a.ssh_port != b.ssh_port


def test_bad_options_are_refused_before_anything_is_created(fleet):
    with pytest.raises(UsageError, match="too small"):
        lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image,
                            options=Options(memory_mib=16, wait=False))
    with pytest.raises(UsageError, match="accelerator"):
        lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image,
                            options=Options(accel="warp", wait=False))
    with pytest.raises(UsageError, match="invalid VM name"):
        up(fleet, name="../etc")
    assert vm_records.list_vms(fleet.reg) == [] and fleet.domains() == []


def test_a_vm_that_never_answers_is_marked_failed_with_disk_kept(fleet, fake_ssh):
    fake_ssh.down.add("web")
    with pytest.raises(DeployError, match="did not come up"):
        lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, options=Options())
    vm = vm_records.get_vm(fleet.reg, "web")
    assert vm.state is VmState.FAILED
    assert not fleet.conn.lookupByName("web").isActive()
    assert (fleet.home.overlays / "web.qcow2").exists()
    assert vm_records.audit_log(fleet.reg)[-1].detail.startswith("failed")
    fake_ssh.down.clear()
    assert lifecycle.start(fleet.reg, fleet.home, "web").state is VmState.RUNNING


# --- ps ----------------------------------------------------------------------------------------

def by_name(rows):
    return {r.name: r for r in rows}


def test_ps_shows_running_vms_with_endpoint_and_uptime(fleet):
    vm = up(fleet)
    row = by_name(status.ps(fleet.reg, fleet.home))["web"]
    assert (row.state, row.generation, row.host, row.domain_state) == (
        "running", "web@1", "local", "running")
    assert row.ssh == f"root@127.0.0.1:{vm.ssh_port}"
    assert row.uptime is not None and row.uptime >= 0


def test_ps_reports_a_domain_that_vanished_and_destroy_cleans_up(fleet):
    up(fleet)
    dom = fleet.conn.lookupByName("web")
    dom.destroy()
    dom.undefine()  # removed behind vmfleet's back
    row = by_name(status.ps(fleet.reg, fleet.home))["web"]
    assert row.state == "missing" and "vmfleet destroy web" in row.note
    lifecycle.destroy(fleet.reg, fleet.home, "web")
    assert status.ps(fleet.reg, fleet.home) == []
    assert not (fleet.home.overlays / "web.qcow2").exists()


def test_ps_reports_domains_the_registry_lost_and_destroy_removes_them(fleet):
    up(fleet)
    with fleet.reg.write():
        fleet.reg.execute("DELETE FROM vms WHERE name = 'web'")
    row = by_name(status.ps(fleet.reg, fleet.home))["web"]
    assert (row.state, row.registry_state, row.generation) == ("orphan", None, "web@1")
    what = lifecycle.destroy(fleet.reg, fleet.home, "web")
    assert "orphan" in what
    assert fleet.domains() == [] and not (fleet.home.overlays / "web.qcow2").exists()
    assert vm_records.audit_log(fleet.reg)[-1].action == "destroy"


def test_ps_ignores_domains_of_other_vmfleet_homes_and_foreign_domains(fleet, tmp_path):
    from vmfleet.home import Home

    up(fleet)
    other = Home(tmp_path / "other")
    xml = fleet.conn.lookupByName("web").XMLDesc(0).replace(
        vm_access.controller_id(fleet.home), vm_access.controller_id(other)).replace(
        "<name>web</name>", "<name>theirs</name>")
    xml = "\n".join(line for line in xml.splitlines() if "<uuid>" not in line)
    fleet.conn.defineXML(xml)
    names = {r.name for r in status.ps(fleet.reg, fleet.home)}
    assert names == {"web"}  # neither 'theirs' nor libvirt's own 'test' domain
    with pytest.raises(NotFound):
        lifecycle.destroy(fleet.reg, fleet.home, "theirs")
    assert "theirs" in fleet.domains()


def test_ps_explains_an_interrupted_deploy(fleet):
    # What a vmfleet killed right after reserving the name leaves behind.
    lifecycle._reserve(fleet.reg, "web", fleet.old, hosts.local_host(), fleet.image, NO_WAIT, None)
    row = by_name(status.ps(fleet.reg, fleet.home))["web"]
    assert row.state == "interrupted" and "vmfleet destroy web" in row.note
    lifecycle.destroy(fleet.reg, fleet.home, "web")
    assert vm_records.list_vms(fleet.reg) == []


def test_ps_while_a_deploy_holds_its_lock_says_in_progress(fleet):
    lifecycle._reserve(fleet.reg, "web", fleet.old, hosts.local_host(), fleet.image, NO_WAIT, None)
    with vm_records.vm_lock(fleet.home, "web"):
        # (flock is per open file: ps opens its own, so it sees the lock as taken)
        row = by_name(status.ps(fleet.reg, fleet.home))["web"]
    assert row.state == "deploying" and row.note == f"in progress: 'vmfleet' (pid {os.getpid()})"


def test_ps_while_a_redeploy_retires_a_vm_names_that_redeploy_not_a_crash(fleet, monkeypatch):
    """Issue 19: while a redeploy powered the old VM off, ps said 'the domain went down
    outside vmfleet (guest shut down or crashed)'."""
    from vmfleet.tools import locks

    up(fleet)
    monkeypatch.setattr(locks, "operation", "vmfleet redeploy web@2")
    with vm_records.vm_lock(fleet.home, "web"):
        fleet.conn.lookupByName("web").destroy()  # the redeploy's power-off, half way
        row = by_name(status.ps(fleet.reg, fleet.home))["web"]
    assert row.state == "running" and "outside vmfleet" not in row.note
    assert row.busy == f"'vmfleet redeploy web@2' (pid {os.getpid()})"
    assert row.note == f"in progress: 'vmfleet redeploy web@2' (pid {os.getpid()})"
    row = by_name(status.ps(fleet.reg, fleet.home))["web"]  # lock released: now it is news
    assert row.state == "stopped" and "outside vmfleet" in row.note


def test_ps_reports_an_unreachable_host(fleet):
    up(fleet)
    hosts.add(fleet.reg, "gone", "qemu+unix:///system?socket=/nonexistent/sock", verify=False)
    with fleet.reg.write():
        fleet.reg.execute("UPDATE vms SET host = 'gone'")
    row = by_name(status.ps(fleet.reg, fleet.home))["web"]
    assert row.state == "unknown" and "libvirtd is not running" in row.note


# --- stop, start, destroy ----------------------------------------------------------------------

def test_stop_and_start(fleet):
    up(fleet)
    vm = lifecycle.stop(fleet.reg, fleet.home, "web")
    assert vm.state is VmState.STOPPED and not fleet.conn.lookupByName("web").isActive()
    assert by_name(status.ps(fleet.reg, fleet.home))["web"].uptime is None
    vm = lifecycle.start(fleet.reg, fleet.home, "web", wait=False)
    assert vm.state is VmState.RUNNING and fleet.conn.lookupByName("web").isActive()
    assert [e.action for e in vm_records.audit_log(fleet.reg, "web")] == ["deploy", "stop", "start"]


def test_destroy_removes_domain_overlay_console_and_row(fleet):
    up(fleet)
    (fleet.home.logs / "web.console").write_text("boot\n")
    what = lifecycle.destroy(fleet.reg, fleet.home, "web")
    assert "web@1" in what
    assert fleet.domains() == [] and vm_records.list_vms(fleet.reg) == []
    assert not (fleet.home.overlays / "web.qcow2").exists()
    assert not (fleet.home.logs / "web.console").exists()
    assert fleet.image.path.exists()  # the stored image stays
    assert vm_records.audit_log(fleet.reg, "web")[-1].action == "destroy"
    with pytest.raises(NotFound):
        lifecycle.destroy(fleet.reg, fleet.home, "web")


def test_another_command_on_a_vm_being_deployed_is_refused(fleet):
    up(fleet)
    with vm_records.vm_lock(fleet.home, "web"), pytest.raises(Busy, match="another vmfleet"):
        lifecycle.destroy(fleet.reg, fleet.home, "web")
    assert fleet.domains() == ["web"]


def test_images_in_use_include_retired_vms(fleet, fake_ssh, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    rollout.redeploy(fleet.reg, fleet.home, "web@2")
    assert vm_records.images_in_use(fleet.reg) == {fleet.image.sha256}


# --- redeploy and rollback ---------------------------------------------------------------------

def test_redeploy_starts_the_new_vm_then_retires_the_old_one(fleet, fake_ssh, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    results = rollout.redeploy(fleet.reg, fleet.home, "web@2")
    assert [(r.old, r.new, r.outcome) for r in results] == [("web", "web-g2", "replaced")]
    new, old = vm_records.get_vm(fleet.reg, "web-g2"), vm_records.get_vm(fleet.reg, "web")
    assert (new.state, new.label, new.replaces) == (VmState.RUNNING, "web@2", "web")
    assert old.state is VmState.RETIRED
    assert not fleet.conn.lookupByName("web").isActive()  # defined, off, overlay kept
    assert (fleet.home.overlays / "web.qcow2").exists()
    entry = vm_records.audit_log(fleet.reg)[-1]
    assert (entry.action, entry.vm, entry.from_generation, entry.to_generation) == (
        "redeploy", "web-g2", "web@1", "web@2")
    # Nothing to do the second time.
    assert [r.outcome for r in rollout.redeploy(fleet.reg, fleet.home, "web@2")] == ["unchanged"]


def test_redeploy_to_an_older_generation_needs_allow_downgrade(fleet, fake_ssh, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet, fleet.new)
    with pytest.raises(UsageError, match="older than what runs on web") as exc:
        rollout.redeploy(fleet.reg, fleet.home, "web@1")
    assert "--allow-downgrade" in exc.value.hint
    assert [v.name for v in vm_records.list_vms(fleet.reg)] == ["web"]
    rollout.redeploy(fleet.reg, fleet.home, "web@1", allow_downgrade=True)
    assert vm_records.get_vm(fleet.reg, "web-g1").label == "web@1"


def test_failed_redeploy_keeps_the_old_vm_running(fleet, fake_ssh, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    fake_ssh.down.add("web-g2")
    with pytest.raises(DeployError, match="web keeps running"):
        rollout.redeploy(fleet.reg, fleet.home, "web@2")
    assert [v.name for v in vm_records.list_vms(fleet.reg)] == ["web"]
    assert vm_records.get_vm(fleet.reg, "web").state is VmState.RUNNING
    assert fleet.conn.lookupByName("web").isActive()
    assert fleet.domains() == ["web"]
    assert not (fleet.home.overlays / "web-g2.qcow2").exists()
    assert "failed" in vm_records.audit_log(fleet.reg)[-1].detail


def test_redeploy_of_a_system_without_vms_says_so(fleet, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    with pytest.raises(NotFound, match="no VM of system web"):
        rollout.redeploy(fleet.reg, fleet.home, "web@2")


def test_rollback_by_either_name_and_forward_again(fleet, fake_ssh, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet, name="web-old")
    rollout.redeploy(fleet.reg, fleet.home, "web@2")
    # By the name of the running VM: its predecessor comes back (web@1 < web@2: a downgrade).
    with pytest.raises(UsageError, match="web@1 is older than what runs on web-old-g2") as e:
        rollout.rollback(fleet.reg, fleet.home, "web-old-g2")
    assert "--allow-downgrade" in e.value.hint
    back = rollout.rollback(fleet.reg, fleet.home, "web-old-g2", allow_downgrade=True)
    assert (back.name, back.state, back.label) == ("web-old", VmState.RUNNING, "web@1")
    assert vm_records.get_vm(fleet.reg, "web-old-g2").state is VmState.RETIRED
    assert back.host_key == "ssh-ed25519 KEY-web-old"  # same disk, same pin
    # By the name of the retired VM: it comes back in place of the running one.
    again = rollout.rollback(fleet.reg, fleet.home, "web-old-g2")
    assert again.state is VmState.RUNNING
    assert vm_records.get_vm(fleet.reg, "web-old").state is VmState.RETIRED
    actions = [(e.action, e.vm, e.from_generation, e.to_generation)
               for e in vm_records.audit_log(fleet.reg)]
    assert actions[-2:] == [("rollback", "web-old", "web@2", "web@1"),
                            ("rollback", "web-old-g2", "web@1", "web@2")]


def test_failed_rollback_changes_nothing(fleet, fake_ssh, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    rollout.redeploy(fleet.reg, fleet.home, "web@2")
    fake_ssh.down.add("web")
    with pytest.raises(DeployError, match="rollback to web failed"):
        rollout.rollback(fleet.reg, fleet.home, "web-g2", allow_downgrade=True)
    assert vm_records.get_vm(fleet.reg, "web").state is VmState.RETIRED
    assert vm_records.get_vm(fleet.reg, "web-g2").state is VmState.RUNNING
    assert not fleet.conn.lookupByName("web").isActive()


def test_rollback_of_a_first_deploy_has_nothing_to_go_back_to(fleet):
    up(fleet)
    with pytest.raises(UsageError, match="nothing to roll back to"):
        rollout.rollback(fleet.reg, fleet.home, "web")


def test_start_of_a_retired_vm_points_to_rollback(fleet, fake_ssh, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    rollout.redeploy(fleet.reg, fleet.home, "web@2")
    with pytest.raises(UsageError, match="retired") as exc:
        lifecycle.start(fleet.reg, fleet.home, "web")
    assert "vmfleet rollback web --allow-downgrade" in exc.value.hint  # web@1 < web@2


def test_redeploy_restarts_the_retired_vm_of_that_generation_instead_of_making_another(
        fleet, fake_ssh, monkeypatch):
    """Issue 19: each redeploy made a new domain (web-g2-2, web-g2-3, ...) although a retired
    VM of the same lineage ran that generation."""
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    rollout.redeploy(fleet.reg, fleet.home, "web@2")
    rollout.rollback(fleet.reg, fleet.home, "web", allow_downgrade=True)
    (result,) = rollout.redeploy(fleet.reg, fleet.home, "web@2")  # web-g2 exists (retired)
    assert (result.old, result.new, result.outcome) == ("web", "web-g2", "restarted")
    assert {v.name: v.state for v in vm_records.list_vms(fleet.reg)} == {
        "web": VmState.RETIRED, "web-g2": VmState.RUNNING}
    assert fleet.domains() == ["web", "web-g2"] and fleet.conn.lookupByName("web-g2").isActive()
    assert vm_records.get_vm(fleet.reg, "web-g2").host_key == "ssh-ed25519 KEY-web-g2"
    last = vm_records.audit_log(fleet.reg)[-1]
    assert (last.action, last.vm, last.detail) == ("redeploy", "web-g2", "restarted, retired web")
    # And going back the same way (a downgrade, so it needs the flag) restarts web.
    rollout.redeploy(fleet.reg, fleet.home, "web@1", allow_downgrade=True)
    assert {v.name: v.state for v in vm_records.list_vms(fleet.reg)} == {
        "web": VmState.RUNNING, "web-g2": VmState.RETIRED}


def test_deploy_from_a_spec_builds_then_boots(fleet, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    vm = lifecycle.deploy(fleet.reg, fleet.home, "web@2023-06", name="web-old", options=NO_WAIT)
    assert (vm.name, vm.label) == ("web-old", "web@1")


def test_ssh_to_a_retired_name_leads_to_its_successor(fleet, fake_ssh, monkeypatch):
    from vmfleet.errors import SshError

    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    rollout.redeploy(fleet.reg, fleet.home, "web@2")
    said = []
    new = vm_records.get_vm(fleet.reg, "web-g2")
    with pytest.raises(SshError, match=f"127.0.0.1:{new.ssh_port}"):  # nothing listens here
        vm_access.connect_ssh(fleet.reg, fleet.home, "web", timeout=1, notify=said.append)
    assert said == ["web was replaced by web-g2 (web@2): connecting to web-g2"]


def test_images_gc_keeps_images_that_vms_use_even_retired_ones(fleet, fake_ssh, monkeypatch):
    from vmfleet.build import store as images

    ensure_image_stub(monkeypatch, fleet)
    images.register(fleet.reg, images.StoredImage(fleet.image.sha256,
                                                  fleet.image.path.stat().st_size,
                                                  fleet.image.path))
    up(fleet)
    rollout.redeploy(fleet.reg, fleet.home, "web@2")  # web (retired) and web-g2 use the image
    lifecycle.destroy(fleet.reg, fleet.home, "web-g2")
    assert images.gc(fleet.reg, fleet.home) == []
    assert fleet.image.path.exists()
    lifecycle.destroy(fleet.reg, fleet.home, "web")
    assert [i.sha256 for i in images.gc(fleet.reg, fleet.home)] == [fleet.image.sha256]
    assert not fleet.image.path.exists()


def test_a_rollback_whose_power_off_fails_still_records_the_vm_as_retired(fleet, fake_ssh,
                                                                          monkeypatch):
    from vmfleet.errors import LibvirtError
    from vmfleet.tools import virt

    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    rollout.redeploy(fleet.reg, fleet.home, "web@2")
    fake_ssh.down.add("web")

    def broken_destroy(self, name):
        raise LibvirtError(f"cannot destroy {name}: host went away", "retry")

    monkeypatch.setattr(virt.Conn, "destroy", broken_destroy)
    with pytest.raises(DeployError, match="rollback to web failed"):
        rollout.rollback(fleet.reg, fleet.home, "web-g2", allow_downgrade=True)
    # The registry must not say 'running' for a VM whose rollback failed.
    assert vm_records.get_vm(fleet.reg, "web").state is VmState.RETIRED
    assert vm_records.get_vm(fleet.reg, "web-g2").state is VmState.RUNNING


class _FakeJump:
    """Stands in for the SSH session to a remote host; remembers being closed."""

    def __init__(self):
        self.closed = 0
        self.host, self.port = "hv", 22

    def close(self):
        self.closed += 1


def test_connect_ssh_closes_the_jump_session_on_a_host_key_mismatch(fleet, monkeypatch):
    from vmfleet.errors import HostKeyMismatch
    from vmfleet.tools import ssh

    up(fleet)
    jump = _FakeJump()
    monkeypatch.setattr(vm_access, "_jump", lambda home, host: jump)

    def mismatch(*a, **k):
        raise HostKeyMismatch("host key of 127.0.0.1:22200 changed", "someone may be ...")

    monkeypatch.setattr(ssh, "connect", mismatch)
    with pytest.raises(HostKeyMismatch, match="VM web"):
        vm_access.connect_ssh(fleet.reg, fleet.home, "web")
    assert jump.closed == 1


def test_failed_redeploy_leaves_alone_a_vm_another_command_took_the_new_name_for(
        fleet, fake_ssh, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    # Between choosing 'web-g2' and reserving it, another vmfleet deploys a VM of that name.
    real_next = rollout._next_name

    def racing_next_name(reg, old, number):
        name = real_next(reg, old, number)
        up(fleet, fleet.new, name=name)
        return name

    monkeypatch.setattr(rollout, "_next_name", racing_next_name)
    with pytest.raises(DeployError, match="web keeps running"):
        rollout.redeploy(fleet.reg, fleet.home, "web@2")
    theirs = vm_records.get_vm(fleet.reg, "web-g2")
    assert theirs.state is VmState.RUNNING and theirs.replaces is None
    assert fleet.conn.lookupByName("web-g2").isActive()
    assert (fleet.home.overlays / "web-g2.qcow2").exists()
    assert vm_records.get_vm(fleet.reg, "web").state is VmState.RUNNING


def test_failed_redeploy_leaves_alone_a_deploy_in_progress_under_the_new_name(
        fleet, fake_ssh, monkeypatch):
    ensure_image_stub(monkeypatch, fleet)
    up(fleet)
    real_next = rollout._next_name
    held = contextlib.ExitStack()

    def racing_next_name(reg, old, number):
        name = real_next(reg, old, number)
        # Another vmfleet has just reserved the name and holds its lock.
        lifecycle._reserve(reg, name, fleet.new, hosts.local_host(), fleet.image, NO_WAIT, None)
        held.enter_context(vm_records.vm_lock(fleet.home, name))
        return name

    monkeypatch.setattr(rollout, "_next_name", racing_next_name)
    with held, pytest.raises(DeployError, match="another vmfleet command is working on VM web-g2"):
        rollout.redeploy(fleet.reg, fleet.home, "web@2")
    assert vm_records.get_vm(fleet.reg, "web-g2").state is VmState.DEPLOYING
    assert vm_records.get_vm(fleet.reg, "web").state is VmState.RUNNING


def test_redeploy_skips_a_vm_another_redeploy_retired_while_it_built(fleet, fake_ssh,
                                                                     monkeypatch):
    import vmfleet.build.builds

    up(fleet)
    built = types.SimpleNamespace(image_sha256=fleet.image.sha256,
                                  image_path=str(fleet.image.path))
    calls = []

    def slow_build(*a, **k):
        calls.append(1)
        if len(calls) == 1:  # while this redeploy builds, another one finishes first
            rollout.redeploy(fleet.reg, fleet.home, "web@2")
        return built

    monkeypatch.setattr(vmfleet.build.builds, "ensure_image", slow_build)
    results = rollout.redeploy(fleet.reg, fleet.home, "web@2")
    assert [(r.old, r.new, r.outcome) for r in results] == [("web", None, "skipped")]
    assert sorted(v.name for v in vm_records.list_vms(fleet.reg)) == ["web", "web-g2"]
    assert vm_records.get_vm(fleet.reg, "web").state is VmState.RETIRED
    assert vm_records.get_vm(fleet.reg, "web-g2").state is VmState.RUNNING


@pytest.mark.parametrize("text", ["22200:22999", "22999-22200", "80-90", "22200-"])
def test_a_malformed_port_range_says_how_to_write_it(monkeypatch, text):
    monkeypatch.setenv("VMFLEET_PORT_RANGE", text)
    with pytest.raises(UsageError, match="VMFLEET_PORT_RANGE must look like") as exc:
        ports.port_range()
    assert "VMFLEET_PORT_RANGE=22200-22999" in exc.value.hint


# --- UEFI: EFI images boot with OVMF; the VM's NVRAM goes with its overlay -----------------------

def test_an_efi_image_gets_ovmf_and_its_nvram_goes_with_the_vm(fleet: Fleet):
    f = fleet
    f.reg.execute("INSERT OR IGNORE INTO images (sha256, size, path, created) VALUES (?,?,?,?)",
                  (f.image.sha256, 1, str(f.image.path), "2024-01-01T00:00:00Z"))
    f.reg.execute("INSERT INTO builds (generation_id, inputs_key, options, builder, command, "
                  "status, started, image_sha256, image_type) VALUES (?,?,?,?,?,?,?,?,?)",
                  (f.old.id, "k", '{"image_type": "efi-raw"}', "local", "[]", "succeeded",
                   "2024-01-01T00:00:00Z", f.image.sha256, "efi-raw"))
    vm = up(f)
    xml = f.conn.lookupByName(vm.name).XMLDesc(0)
    nvram = f.home.overlays / f"{vm.name}.nvram.fd"
    assert domain_xml.OVMF_CODE in xml and f">{nvram}</nvram>" in xml
    nvram.write_bytes(b"vars")  # what libvirt makes from the template at first start
    lifecycle.destroy(f.reg, f.home, vm.name)
    assert not nvram.exists()


def test_a_bios_image_gets_no_firmware(fleet: Fleet):
    vm = up(fleet)
    assert "<loader" not in fleet.conn.lookupByName(vm.name).XMLDesc(0)
