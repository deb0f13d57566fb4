"""gc against deploy, copied homes, and future dates: the findings of issue 12 (items 4, 5, 9)."""

from __future__ import annotations

import shutil
import types

import pytest

from tests.helpers.deploy_env import make_fleet
from vmfleet.build import store
from vmfleet.deploy import lifecycle, vm_records
from vmfleet.deploy.vm_records import Options, VmState
from vmfleet.errors import UsageError
from vmfleet.registry import spec
from vmfleet.registry.db import Registry


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)


def test_gc_between_cache_lookup_and_vm_row_cannot_leave_a_vm_without_its_image(
        fleet, monkeypatch, tmp_path):
    import vmfleet.build.builds

    store.register(fleet.reg, store.StoredImage(fleet.image.sha256, 1, fleet.image.path))
    saved = tmp_path / "saved.qcow2"
    shutil.copy(fleet.image.path, saved)
    calls = []

    def ensure_image(*a, **k):
        calls.append(1)
        if len(calls) == 1:  # found in the cache; then a gc runs before the VM row exists
            assert [i.sha256 for i in store.gc(fleet.reg, fleet.home)] == [fleet.image.sha256]
        else:  # the retry rebuilds it
            shutil.copy(saved, fleet.image.path)
        return types.SimpleNamespace(image_sha256=fleet.image.sha256,
                                     image_path=str(fleet.image.path))

    monkeypatch.setattr(vmfleet.build.builds, "ensure_image", ensure_image)
    vm = lifecycle.deploy(fleet.reg, fleet.home, "web@1", options=Options(wait=False))
    assert vm.state is VmState.RUNNING and len(calls) == 2
    assert fleet.image.path.exists()
    # and now that a VM row names it, gc keeps it
    assert store.gc(fleet.reg, fleet.home) == [] and fleet.image.path.exists()


def test_gc_in_a_copied_home_never_touches_the_original_homes_images(fleet, tmp_path):
    store.register(fleet.reg, store.StoredImage(fleet.image.sha256, 1, fleet.image.path))
    fleet.reg.close()
    copy = tmp_path / "copy"
    shutil.copytree(fleet.home.root, copy)
    from vmfleet.home import Home

    other = Home(copy)
    reg = Registry.open(other.registry)
    removed = store.gc(reg, other)
    assert [i.path for i in removed] == [str(other.images / f"{fleet.image.sha256}.qcow2")]
    assert fleet.image.path.exists()  # the original's image is still there
    fleet.reg = Registry.open(fleet.home.registry)


def test_old_absolute_paths_become_home_relative(tmp_path):
    from vmfleet.registry import db

    reg = Registry.create(tmp_path / "registry.db")
    sha = "a" * 64
    with reg.write():
        reg.execute("INSERT INTO images (sha256, size, path, created) VALUES (?,?,?,?)",
                    (sha, 1, f"/elsewhere/home/images/{sha}.qcow2", "2024-01-01T00:00:00Z"))
        db._trust_home_relative_paths(reg.conn)
    assert reg.query_one("SELECT path FROM images")["path"] == f"images/{sha}.qcow2"
    assert str(reg.resolve_path(f"images/{sha}.qcow2")) == str(tmp_path / "images" / f"{sha}.qcow2")


def test_a_date_in_the_future_is_refused_with_a_reason(fleet):
    with pytest.raises(UsageError, match="2999-01 is in the future"):
        spec.resolve(fleet.reg, "web@2999-01")


def test_deploy_options_the_host_refuses_leave_nothing_recorded(fleet, monkeypatch):
    for options in (Options(network="nosuchnet", wait=False),
                    Options(memory_mib=99999999 * 1024, wait=False)):
        with pytest.raises(UsageError):
            lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, name="web",
                                   options=options)
    import socket

    with socket.socket() as s:  # a one-port range nothing else uses
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("VMFLEET_PORT_RANGE", f"{port}-{port}")
    lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, name="web",
                           options=Options(wait=False))
    with pytest.raises(Exception, match="no free port"):
        lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, name="web2",
                               options=Options(wait=False))
    assert [v.name for v in vm_records.list_vms(fleet.reg)] == ["web"]
    assert [e.vm for e in vm_records.audit_log(fleet.reg)] == ["web"]
    assert sorted(p.name for p in fleet.home.overlays.iterdir()) == ["web.qcow2"]


def test_a_copied_home_never_acts_on_the_original_homes_domains(fleet, tmp_path):
    from vmfleet.deploy.vm_records import Options as Opts
    from vmfleet.errors import DeployError
    from vmfleet.home import Home

    lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, name="web",
                           options=Opts(wait=False))
    fleet.reg.close()
    copy = Home(tmp_path / "copy")
    shutil.copytree(fleet.home.root, copy.root)
    reg = Registry.open(copy.registry)
    for action in (lambda: lifecycle.destroy(reg, copy, "web"),
                   lambda: lifecycle.stop(reg, copy, "web")):
        with pytest.raises(DeployError, match="belongs to another vmfleet home"):
            action()
    assert fleet.conn.lookupByName("web").isActive()
    assert (fleet.home.overlays / "web.qcow2").exists()
    fleet.reg = Registry.open(fleet.home.registry)


def test_a_moved_home_takes_its_domains_along(fleet, tmp_path):
    from vmfleet.deploy.vm_records import Options as Opts
    from vmfleet.home import Home

    lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, name="web",
                           options=Opts(wait=False))
    fleet.reg.close()
    moved = Home(tmp_path / "moved")
    fleet.home.root.rename(moved.root)
    reg = Registry.open(moved.registry)
    lifecycle.stop(reg, moved, "web")
    xml = fleet.conn.lookupByName("web").XMLDesc(0)
    assert str(moved.overlays / "web.qcow2") in xml and str(fleet.home.root) + "/" not in xml
    vm = lifecycle.start(reg, moved, "web", wait=False)
    assert vm.state is VmState.RUNNING and vm.overlay == str(moved.overlays / "web.qcow2")
    lifecycle.destroy(reg, moved, "web")
    assert not (moved.overlays / "web.qcow2").exists()
    fleet.reg = reg
