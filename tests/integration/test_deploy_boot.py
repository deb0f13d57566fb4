"""End to end with real TCG boots of the guix stand-in's images: deploy web@2023-06, check over
SSH that the guest is that generation, redeploy the newest, check again, roll back, check
again; locally (qemu:///system) and on a 'remote' host (qemu+ssh:// through an sshd on
127.0.0.1). Boots are few (each takes 5-15 s under TCG): the two images are built once per
session, and each scenario boots three times.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.deploy_env import boot_home, cleanup_fleet, unique_vm_name
from tests.helpers.remote_host import remote_host
from vmfleet.build import builds as build
from vmfleet.cli import main
from vmfleet.deploy import hosts, lifecycle, rollout, vm_access, vm_records
from vmfleet.deploy.vm_records import Options, VmState
from vmfleet.errors import DeployError, HostKeyMismatch
from vmfleet.registry.generations import Generation
from vmfleet.tools import ssh, virt

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standin" / "bin" / "guix"
BOOT_TIMEOUT = 240.0  # generous: other test sessions may share the two cores


@pytest.fixture(scope="session")
def booted():
    """A home with web@1 (2023-06) and web@2 (2024-05) recorded and both images built."""
    if not STANDIN.exists():
        pytest.skip("the guix stand-in (tests/standin/bin/guix) is not there")
    with boot_home("vmfleet-test-boot-") as (home, reg, old, new):
        for gen in (old, new):
            build.ensure_image(reg, home, gen)
        yield type("Booted", (), {"home": home, "reg": reg, "old": old, "new": new})()


@pytest.fixture
def fleet(booted):
    try:
        yield booted
    finally:
        cleanup_fleet(booted.reg, booted.home)


def guest_is(b, vm_name: str, gen: Generation) -> None:
    """Over SSH, the guest says it is ``gen``: hostname, provenance, configuration."""
    config = b.reg.get_blob(gen.config_sha256).decode()
    with vm_access.connect_ssh(b.reg, b.home, vm_name) as conn:
        assert conn.check_output("cat /etc/hostname").strip() == gen.summary["host_name"]
        provenance = conn.check_output("cat /run/current-system/provenance")
        assert f'(commit "{gen.guix_commit}")' in provenance
        assert conn.check_output("cat /run/current-system/configuration.scm") == config


def scenario(b, host: str) -> None:
    name = unique_vm_name()
    vm = lifecycle.deploy(b.reg, b.home, "web@2023-06", name=name, host=host,
                       options=Options(timeout=BOOT_TIMEOUT))
    assert vm.state is VmState.RUNNING and vm.label == "web@1" and vm.host_key
    guest_is(b, name, b.old)
    pinned = vm.host_key

    # A redeploy whose new VM cannot come up in time leaves the old one running.
    with pytest.raises(DeployError, match=f"{name} keeps running") as exc:
        rollout.redeploy(b.reg, b.home, "web", timeout=1)
    assert ".console" in exc.value.hint
    assert [v.name for v in vm_records.list_vms(b.reg)] == [name]
    guest_is(b, name, b.old)

    results = rollout.redeploy(b.reg, b.home, "web", timeout=BOOT_TIMEOUT)
    new_name = results[0].new
    assert [(r.old, r.outcome, r.to_generation) for r in results] == [(name, "replaced", "web@2")]
    guest_is(b, new_name, b.new)
    assert vm_records.get_vm(b.reg, name).state is VmState.RETIRED
    with virt.connect(hosts.get(b.reg, host).uri) as conn:
        assert not conn.domain(name).state.active

    back = rollout.rollback(b.reg, b.home, name, timeout=BOOT_TIMEOUT, allow_downgrade=True)
    assert back.state is VmState.RUNNING and back.host_key == pinned  # same disk, same key
    guest_is(b, name, b.old)
    assert vm_records.get_vm(b.reg, new_name).state is VmState.RETIRED

    actions = [(e.action, e.from_generation, e.to_generation, e.detail.split(":")[0])
               for e in vm_records.audit_log(b.reg)][-4:]
    assert actions == [("deploy", None, "web@1", f"on {host}"),
                       ("redeploy", "web@1", "web@2", "failed"),
                       ("redeploy", "web@1", "web@2", f"replaces {name}"),
                       ("rollback", "web@2", "web@1", f"retired {new_name}")]

    # A guest presenting another host key than the pinned one is refused.
    with b.reg.write():
        b.reg.execute("UPDATE vms SET host_key = ? WHERE name = ?",
                      ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOth",
                       name))
    with pytest.raises(HostKeyMismatch):
        vm_access.connect_ssh(b.reg, b.home, name)
    with b.reg.write():
        b.reg.execute("UPDATE vms SET host_key = ? WHERE name = ?", (pinned, name))


def test_deploy_redeploy_rollback_locally(fleet, capsys):
    scenario(fleet, "local")
    # `vmfleet ssh VM -- CMD` passes the command's exit status through.
    running = next(v for v in vm_records.list_vms(fleet.reg) if v.state is VmState.RUNNING)
    capsys.readouterr()
    code = main(["--home", str(fleet.home.root), "ssh", running.name, "--",
                 "cat /etc/hostname; exit 7"])
    out, _ = capsys.readouterr()
    assert (code, out) == (7, "web\n")


def test_deploy_redeploy_rollback_on_a_remote_host(fleet, tmp_path):
    with remote_host(fleet.reg, fleet.home, sshd_dir=tmp_path / "sshd") as hv:
        scenario(fleet, hv.name)
        # SSH to the VMs went through the host's sshd, whose key is now pinned.
        pins = ssh.KnownHosts(fleet.home.keys / ssh.KNOWN_HOSTS_FILE)
        assert pins.get("127.0.0.1", hv.server.port) == hv.server.host_key
