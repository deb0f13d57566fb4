"""Hosts, libvirt connection errors and the accelerator choice."""

from __future__ import annotations

import pytest

from tests.helpers.deploy_env import make_fleet
from tests.helpers.fake_host_sshd import HV_URI, FakeHostSshd
from vmfleet.deploy import accel, hosts, lifecycle, vm_access, vm_records
from vmfleet.deploy.vm_records import Options
from vmfleet.errors import DeployError, LibvirtError, NotFound, UsageError
from vmfleet.tools import virt
from vmfleet.tools.domain_xml import DomainType


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)


def test_local_exists_by_default(reg):
    local = hosts.get(reg, "local")
    assert (local.name, local.remote) == ("local", False)
    assert [h.name for h in hosts.list_hosts(reg)] == ["local"]


def test_local_points_at_qemu_system_unless_overridden(reg, monkeypatch):
    monkeypatch.delenv("VMFLEET_LOCAL_URI", raising=False)
    assert hosts.get(reg, "local").uri == "qemu:///system"


def test_host_add_checks_libvirt_answers_and_lists_it(reg):
    host = hosts.add(reg, "lab", "test:///default")
    assert (host.uri, host.remote, host.pool) == ("test:///default", False, None)
    assert [h.name for h in hosts.list_hosts(reg)] == ["local", "lab"]
    with pytest.raises(UsageError, match="already exists"):
        hosts.add(reg, "lab", "test:///default")


def test_remote_hosts_get_a_vmfleet_pool(reg):
    host = hosts.add(reg, "hv1", "qemu+ssh://admin@hv1.example:2222/system?keyfile=/k",
                     verify=False)
    assert host.remote and host.pool == "vmfleet" and host.pool_dir == "/var/lib/vmfleet/pool"
    assert host.ssh_address == ("hv1.example", 2222) and host.ssh_user == "admin"
    assert str(host.ssh_keyfile) == "/k"
    custom = hosts.add(reg, "hv2", "qemu+ssh://hv2/system", pool="mine", pool_dir="/srv/p",
                       verify=False)
    assert (custom.pool, custom.pool_dir) == ("mine", "/srv/p")


@pytest.mark.parametrize("name, uri, match", [
    ("lab", "hv1", "not a libvirt URI"),
    ("Lab!", "test:///default", "invalid host name"),
    ("local", "test:///default", "built in"),
])
def test_host_add_refuses_bad_input(reg, name, uri, match):
    with pytest.raises(UsageError, match=match):
        hosts.add(reg, name, uri, verify=False)


def test_unknown_host_lists_the_known_ones(reg):
    with pytest.raises(NotFound, match="known: local") as exc:
        hosts.get(reg, "hv9")
    assert "vmfleet host add hv9" in exc.value.hint


def test_host_remove_refused_while_vms_use_it(fleet):
    hosts.add(fleet.reg, "lab", "test:///default")
    lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, host="lab",
                        options=Options(wait=False))
    with pytest.raises(UsageError, match="still has VMs: web"):
        hosts.remove(fleet.reg, "lab")
    lifecycle.destroy(fleet.reg, fleet.home, "web")
    hosts.remove(fleet.reg, "lab")
    assert [h.name for h in hosts.list_hosts(fleet.reg)] == ["local"]


# --- connection errors a user meets ------------------------------------------------------------

def test_dead_libvirtd_is_named_with_how_to_start_it():
    with pytest.raises(LibvirtError, match="libvirtd is not running") as exc:
        virt.connect("qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    assert "start" in exc.value.hint


def test_unknown_uri_scheme():
    with pytest.raises(LibvirtError, match="unknown libvirt URI") as exc:
        virt.connect("nosuchdriver:///session")
    assert "qemu:///system" in exc.value.hint


def test_unreachable_remote_uri():
    # Port 9 on loopback: nothing listens, the ssh client fails at once.
    with pytest.raises(LibvirtError, match="cannot reach") as exc:
        virt.connect("qemu+ssh://root@127.0.0.1:9/system?no_verify=1")
    assert "127.0.0.1" in exc.value.hint


def test_unknown_remote_host_name():
    with pytest.raises(LibvirtError, match="unknown host nosuchhost.invalid"):
        virt.connect("qemu+ssh://root@nosuchhost.invalid/system?no_verify=1")


def test_deploy_to_a_host_without_libvirtd_fails_cleanly(fleet):
    hosts.add(fleet.reg, "dead", "qemu+unix:///system?socket=/nonexistent/sock", verify=False)
    with pytest.raises(LibvirtError, match="libvirtd is not running"):
        lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, host="dead",
                            options=Options(wait=False))
    # Found before anything is recorded (issue 12): no row, no audit entry, no overlay.
    assert vm_records.list_vms(fleet.reg) == []
    assert vm_records.audit_log(fleet.reg) == []
    assert list(fleet.home.overlays.iterdir()) == []
    # A VM whose host died later: destroy explains, --forget drops the record.
    lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, options=Options(wait=False))
    with fleet.reg.write():
        fleet.reg.execute("UPDATE vms SET host = 'dead'")
    with pytest.raises(LibvirtError) as exc:
        lifecycle.destroy(fleet.reg, fleet.home, "web")
    assert "--forget" in exc.value.hint
    lifecycle.destroy(fleet.reg, fleet.home, "web", forget=True)
    assert vm_records.list_vms(fleet.reg) == []


def test_unknown_libvirt_network_is_refused(fleet):
    with pytest.raises(UsageError, match="no libvirt network 'nosuchnet'"):
        lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image,
                            options=Options(network="nosuchnet", wait=False))


# --- accelerator -------------------------------------------------------------------------------

def test_accel_setting_comes_from_option_then_environment(monkeypatch):
    monkeypatch.setenv("VMFLEET_ACCEL", "tcg")
    assert accel.setting(None) is accel.Accel.TCG
    assert accel.setting("kvm") is accel.Accel.KVM
    monkeypatch.delenv("VMFLEET_ACCEL")
    assert accel.setting(None) is accel.Accel.AUTO
    with pytest.raises(UsageError):
        accel.setting("hvf")


def test_tcg_is_domain_type_qemu_and_kvm_needs_libvirt_to_offer_it(monkeypatch):
    monkeypatch.delenv("VMFLEET_ACCEL", raising=False)
    assert accel.resolve("tcg", remote=False, kvm_offered=True) is DomainType.QEMU
    assert accel.resolve("kvm", remote=True, kvm_offered=True) is DomainType.KVM
    with pytest.raises(DeployError, match="KVM is not available"):
        accel.resolve("kvm", remote=False, kvm_offered=False)


def test_auto_uses_kvm_only_when_the_probe_boots(monkeypatch):
    monkeypatch.delenv("VMFLEET_ACCEL", raising=False)
    monkeypatch.setattr(accel, "probe_kvm", lambda: (False, "hangs"))
    assert accel.resolve(None, remote=False, kvm_offered=True) is DomainType.QEMU
    monkeypatch.setattr(accel, "probe_kvm", lambda: (True, "ok"))
    assert accel.resolve(None, remote=False, kvm_offered=True) is DomainType.KVM
    assert accel.resolve(None, remote=True, kvm_offered=True) is DomainType.QEMU
    assert accel.resolve(None, remote=False, kvm_offered=False) is DomainType.QEMU


def test_a_remote_host_that_never_answers_is_given_up_on():
    import socket
    import time

    with socket.socket() as silent:  # accepts TCP, never says a word (like a hung host)
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(LibvirtError, match="no answer from .* within 1 s"):
            virt.connect(f"qemu+ssh://root@127.0.0.1:{port}/system?no_verify=1", timeout=1)
        assert time.monotonic() - t0 < 3


# --- the remote host's SSH host key -------------------------------------------------------------

@pytest.fixture
def sshd(monkeypatch):
    from vmfleet.tools import ssh

    fake = FakeHostSshd()
    monkeypatch.setattr(ssh, "connect", fake.connect)
    monkeypatch.setattr(virt, "connect", lambda uri, **kw: type("C", (), {"close": lambda self: None})())
    return fake


def test_host_add_pins_the_hosts_ssh_key_only_when_trusted_explicitly(fleet, sshd):
    from vmfleet.errors import UnknownHostKey
    from vmfleet.tools import ssh

    known = ssh.KnownHosts(fleet.home.keys / ssh.KNOWN_HOSTS_FILE)
    with pytest.raises(UnknownHostKey, match="hv1.example:2222") as exc:
        hosts.add(fleet.reg, "hv1", HV_URI, home=fleet.home)
    assert "--trust-new-host" in exc.value.hint
    assert [h.name for h in hosts.list_hosts(fleet.reg)] == ["local"]  # not recorded
    assert known.get("hv1.example", 2222) is None
    hosts.add(fleet.reg, "hv1", HV_URI, home=fleet.home, trust_new_host=True)
    assert known.get("hv1.example", 2222) == FakeHostSshd.KEY
    assert sshd.calls[-1] == ("hv1.example", 2222, True)


def test_later_connections_to_a_host_never_trust_a_new_key(fleet, sshd):
    from vmfleet.errors import UnknownHostKey

    host = hosts.add(fleet.reg, "hv1", HV_URI, verify=False)  # nothing pinned
    with pytest.raises(UnknownHostKey, match="hv1.example:2222") as exc:
        vm_access._jump(fleet.home, host)
    assert "--trust-new-host" in exc.value.hint
    assert sshd.calls == [("hv1.example", 2222, False)]


def test_parallel_deploys_probe_kvm_once(monkeypatch):
    """apply deploys from worker threads: they share one probe instead of each booting one."""
    import threading
    import time

    calls = []

    def slow_probe():
        calls.append(1)
        time.sleep(0.2)
        return True, "ok"

    monkeypatch.setattr(accel, "_verdict", None)
    monkeypatch.setattr(accel, "_probe", slow_probe)
    threads = [threading.Thread(target=accel.probe_kvm) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and accel.probe_kvm() == (True, "ok")
