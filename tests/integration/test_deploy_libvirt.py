"""Deploy on a real libvirtd (qemu:///system, TCG), locally and through qemu+ssh://, without
booting a guest: an empty disk is enough to test domains, ports, storage pools and cleanup.
Booting real guests is tests/integration/test_deploy_boot.py."""

from __future__ import annotations

import shutil
import socket

import pytest

from tests.helpers.deploy_env import (
    cleanup_fleet,
    record_web,
    system_uri,
    tiny_image,
    traversable_dir,
    unique_vm_name,
)
from tests.helpers.remote_host import remote_host
from tests.helpers.sshd import Sshd
from vmfleet.deploy import hosts, lifecycle, status, vm_access, vm_records
from vmfleet.deploy.vm_records import Options, VmState
from vmfleet.errors import DeployError
from vmfleet.home import Home
from vmfleet.registry.db import Registry
from vmfleet.tools import domain_xml, qemu_img, ssh, virt

pytestmark = pytest.mark.integration

NO_WAIT = Options(wait=False, memory_mib=64)


@pytest.fixture
def real(monkeypatch):
    monkeypatch.delenv("VMFLEET_LOCAL_URI", raising=False)
    if system_uri() != "qemu:///system":
        monkeypatch.setenv("VMFLEET_LOCAL_URI", system_uri())
    monkeypatch.setenv("VMFLEET_ACCEL", "tcg")
    monkeypatch.setenv("VMFLEET_SHUTDOWN_TIMEOUT", "1")
    root = traversable_dir("vmfleet-test-home-")
    home = Home(root)
    for d in home.dirs():
        d.mkdir(parents=True, exist_ok=True)
    reg = Registry.create(home.registry)
    ssh.ensure_keypair(home.keys)
    old, new = record_web(reg, ssh.public_key(home.keys))
    ns = type("Real", (), {})()
    ns.home, ns.reg, ns.old, ns.new, ns.image = home, reg, old, new, tiny_image(home)
    try:
        yield ns
    finally:
        cleanup_fleet(reg, home)
        reg.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def remote(real, tmp_path):
    """A 'remote' host: this machine's libvirtd through a private sshd on 127.0.0.1."""
    with remote_host(real.reg, real.home, sshd_dir=tmp_path / "sshd") as hv:
        yield hv


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_local_deploy_runs_qemu_with_ssh_forwarded_on_loopback(real):
    name = unique_vm_name()
    vm = lifecycle.deploy_image(real.reg, real.home, real.old, real.image, name=name,
                             options=NO_WAIT)
    assert listening(vm.ssh_port)  # QEMU's user-mode forward is up
    with virt.connect(system_uri()) as conn:
        info = conn.domain(name)
        assert info.state is virt.DomainState.RUNNING
        assert domain_xml.domain_type(info.xml) is domain_xml.DomainType.QEMU  # TCG
        assert info.metadata.generation == 1 and info.metadata.vm == name
        assert domain_xml.ssh_endpoint(info.xml) == ("127.0.0.1", vm.ssh_port)
    row = next(r for r in status.ps(real.reg, real.home) if r.name == name)
    assert (row.state, row.domain_state) == ("running", "running")

    lifecycle.stop(real.reg, real.home, name, force=True)
    assert not listening(vm.ssh_port)
    row = next(r for r in status.ps(real.reg, real.home) if r.name == name)
    assert (row.state, row.domain_state) == ("stopped", "shut off")

    # Someone else takes the port meanwhile: start moves the forward to another one.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", vm.ssh_port))
        squatter.listen()
        again = lifecycle.start(real.reg, real.home, name, wait=False)
    assert again.ssh_port != vm.ssh_port and listening(again.ssh_port)

    lifecycle.destroy(real.reg, real.home, name)
    with virt.connect(system_uri()) as conn:
        assert conn.domain(name) is None
    assert not (real.home.overlays / f"{name}.qcow2").exists()


def test_a_guest_that_never_answers_fails_with_its_console_log(real):
    name = unique_vm_name()
    with pytest.raises(DeployError, match="did not come up") as exc:
        lifecycle.deploy_image(real.reg, real.home, real.old, real.image, name=name,
                            options=Options(memory_mib=64, timeout=3))
    assert f"{name}.console" in exc.value.hint
    vm = vm_records.get_vm(real.reg, name)
    assert vm.state is VmState.FAILED
    with virt.connect(system_uri()) as conn:
        assert not conn.domain(name).state.active


def test_host_add_pins_the_hosts_ssh_key_only_when_asked_to(real, tmp_path):
    from vmfleet.errors import UnknownHostKey

    server = Sshd(tmp_path / "sshd", [ssh.public_key(real.home.keys)]).start()
    try:
        uri = server.libvirt_uri(real.home.keys / "id_ed25519")
        with pytest.raises(UnknownHostKey, match="not a known host") as exc:
            hosts.add(real.reg, "hv", uri, home=real.home)
        assert "--trust-new-host" in exc.value.hint
        assert [h.name for h in hosts.list_hosts(real.reg)] == ["local"]
        hosts.add(real.reg, "hv", uri, home=real.home, trust_new_host=True)
        pins = ssh.KnownHosts(real.home.keys / ssh.KNOWN_HOSTS_FILE)
        assert pins.get("127.0.0.1", server.port) == server.host_key
        with vm_access._jump(real.home, hosts.get(real.reg, "hv")) as jump:  # the pin is checked
            assert jump.host_key == server.host_key
    finally:
        server.stop()


def test_remote_host_gets_the_image_once_and_overlays_in_its_pool(real, remote):
    a, b = unique_vm_name(), unique_vm_name()
    vm_a = lifecycle.deploy_image(real.reg, real.home, real.old, real.image, name=a, host="hv",
                               options=NO_WAIT)
    vm_b = lifecycle.deploy_image(real.reg, real.home, real.old, real.image, name=b, host="hv",
                               options=NO_WAIT)
    base = f"{remote.pool_dir}/{real.image.sha256}.qcow2"
    assert vm_a.overlay == f"{remote.pool_dir}/{a}.qcow2"
    with virt.connect(system_uri()) as conn:
        pool = conn.raw.storagePoolLookupByName(remote.pool)
        pool.refresh(0)
        volumes = sorted(pool.listVolumes())
        for name in (a, b):
            assert conn.domain(name).state is virt.DomainState.RUNNING
    assert f"{real.image.sha256}.qcow2" in volumes
    assert f"{real.image.sha256}.qcow2.complete" in volumes
    assert volumes.count(f"{real.image.sha256}.qcow2") == 1
    assert qemu_img.info(vm_b.overlay).backing_file == base
    assert open(base, "rb").read() == real.image.path.read_bytes()
    rows = {r.name: r for r in status.ps(real.reg, real.home)}
    assert rows[a].host == "hv" and rows[a].state == "running"

    lifecycle.destroy(real.reg, real.home, a)
    with virt.connect(system_uri()) as conn:
        pool = conn.raw.storagePoolLookupByName(remote.pool)
        pool.refresh(0)
        assert f"{a}.qcow2" not in pool.listVolumes()
        assert f"{b}.qcow2" in pool.listVolumes()
        assert conn.domain(a) is None


def test_an_upload_cut_short_is_redone(real, remote):
    # A volume of the image's name without its completion marker: vmfleet died mid-upload.
    with virt.connect(system_uri()) as conn:
        conn.ensure_pool(remote.pool, remote.pool_dir)
        truncated = real.home.work / "truncated"
        truncated.write_bytes(real.image.path.read_bytes()[:4096])
        conn.upload(remote.pool, f"{real.image.sha256}.qcow2", truncated)
    vm = lifecycle.deploy_image(real.reg, real.home, real.old, real.image, name=unique_vm_name(),
                             host="hv", options=NO_WAIT)
    base = qemu_img.info(vm.overlay).backing_file
    assert open(base, "rb").read() == real.image.path.read_bytes()


KILLED_CHILD = """
import sys
from pathlib import Path
from vmfleet.deploy import lifecycle, vm_records
from vmfleet.registry import generations
from vmfleet.home import Home
from vmfleet.deploy.placement import Image
from vmfleet.registry.db import Registry
home = Home(Path(sys.argv[1]))
reg = Registry.open(home.registry)
lifecycle.deploy_image(reg, home, generations.get(reg, int(sys.argv[3])),
                    Image(sys.argv[4], Path(sys.argv[5])), name=sys.argv[2],
                    options=vm_records.Options(memory_mib=64, timeout=60))
"""


@pytest.mark.parametrize("kill_after", [0.0, 0.25, 0.6, 2.0])
def test_a_deploy_killed_at_any_point_is_explained_and_cleaned_up(real, kill_after):
    import os
    import signal
    import subprocess
    import sys
    import time

    name = unique_vm_name()
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(real.home.root), name, str(real.old.id),
         real.image.sha256, str(real.image.path)], env={**os.environ},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Wait until the child has reserved the VM, then give it a little longer.
        deadline = time.monotonic() + 30
        while vm_records.find_vm(real.reg, name) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(kill_after)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    row = next(r for r in status.ps(real.reg, real.home) if r.name == name)
    # Whatever the moment, ps says what state it is in, and unusual states come with a note.
    assert row.state in ("interrupted", "running", "failed", "missing"), row
    if row.state != "running":
        assert "vmfleet destroy" in row.note
    lifecycle.destroy(real.reg, real.home, name)
    with virt.connect(system_uri()) as conn:
        assert conn.domain(name) is None
    assert not (real.home.overlays / f"{name}.qcow2").exists()
    assert vm_records.find_vm(real.reg, name) is None


def test_the_kvm_probe_guest_boots_and_exits_under_tcg():
    """The probe itself works (so a failure under KVM is KVM's), and answers within budget."""
    import time

    from vmfleet.deploy import accel

    assert accel._probe("tcg") == (True, "ok")
    t0 = time.monotonic()
    works, why = accel._probe("kvm")
    assert time.monotonic() - t0 < accel.PROBE_BUDGET + 3
    assert works == (why == "ok")  # 'ok' only with a yes; a no says why
    assert why.strip()
