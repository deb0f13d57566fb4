"""An image removed by 'images gc' at the moment it is stored: ensure_image hands back an image
that is there (seen under the store lock) or raises ImageGone, so redeploy and apply, which
used its path as it came, no longer fail with a TypeError on a vanished image."""

from __future__ import annotations

import pytest

import vmfleet.build.builds as builds
from tests.helpers import fake_guix
from tests.helpers.deploy_env import make_fleet
from tests.unit import test_deploy
from tests.unit.test_deploy import up
from vmfleet.build import store
from vmfleet.deploy import rollout, vm_records
from vmfleet.deploy.vm_records import VmState
from vmfleet.errors import ImageGone
from vmfleet.fleet import apply as fleet_apply
from vmfleet.registry.db import Registry
from vmfleet.tools import killpoint

REAL_ENSURE_IMAGE = builds.ensure_image  # the apply fixture stands in for it


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    for name, value in fake_guix.install(tmp_path).items():
        monkeypatch.setenv(name, value)
    yield from make_fleet(tmp_path, monkeypatch)


@pytest.fixture
def fake_ssh(monkeypatch):
    return test_deploy.fake_ssh.__wrapped__(monkeypatch)


def gc_when_stored(monkeypatch, f, times: int) -> list[list[str]]:
    """Run what 'vmfleet images gc' does right after each of the next ``times`` builds stored
    its image (no VM row names it yet: gc removes it)."""
    removed: list[list[str]] = []
    real = killpoint.reached
    # The fleet's own image is in the store (gc removes files the registry does not know).
    store.register(f.reg, store.StoredImage(f.image.sha256, 1, f.image.path))

    def reached(step: str) -> None:
        if step == "build:stored" and len(removed) < times:
            reg = Registry.open(f.home.registry)  # another process's, as a real gc would be
            try:
                removed.append([i.sha256 for i in store.gc(reg, f.home)])
            finally:
                reg.close()
        real(step)

    monkeypatch.setattr(killpoint, "reached", reached)
    return removed


def test_a_redeploy_gets_its_image_although_a_gc_removed_it_as_soon_as_it_was_stored(
        fleet, fake_ssh, monkeypatch):
    up(fleet)
    removed = gc_when_stored(monkeypatch, fleet, times=1)
    (result,) = rollout.redeploy(fleet.reg, fleet.home, "web@2")
    assert result.outcome == "replaced" and len(removed) == 1 and len(removed[0]) == 1
    new = vm_records.get_vm(fleet.reg, result.new)
    assert new.state is VmState.RUNNING and new.image_sha256 == removed[0][0]
    assert [str(b.status) for b in builds.list_builds(fleet.reg, "web")] == ["succeeded"] * 2
    assert store.gc(fleet.reg, fleet.home) == []  # now a VM row names it


def test_a_redeploy_whose_image_gc_keeps_removing_says_so(fleet, fake_ssh, monkeypatch):
    up(fleet)
    gc_when_stored(monkeypatch, fleet, times=99)
    with pytest.raises(ImageGone, match="removed by 'vmfleet images gc' each time"):
        rollout.redeploy(fleet.reg, fleet.home, "web@2")
    assert [v.name for v in vm_records.list_vms(fleet.reg)] == ["web"]  # nothing half-made


def test_apply_reports_an_image_gc_keeps_removing_as_the_steps_failure(fleet, monkeypatch):
    from tests.unit import test_fleet_apply as apply_tests

    apply_tests.vms.__wrapped__(monkeypatch, fleet)  # VMs come up without SSH
    monkeypatch.setattr(builds, "ensure_image", REAL_ENSURE_IMAGE)
    gc_when_stored(monkeypatch, fleet, times=99)
    result = apply_tests.run(fleet, [{"name": "web-1", "system": "web@2"}])
    assert result.status in ("failed", "rolled-back")
    (outcome,) = result.outcomes
    assert outcome.result == "failed" and "removed by 'vmfleet images gc'" in outcome.detail
    assert vm_records.list_vms(fleet.reg) == []
    assert fleet_apply.list_applies(fleet.reg, fleet.home)[-1].status == result.status
