"""The bad-input catalog of issue 12, run through the CLI: each case exits 2 with one 'error:'
line, no traceback, and records nothing (no VM row, audit entry, overlay or generation)."""

from __future__ import annotations

import os
import socket
import types

import pytest

from tests.helpers.deploy_env import make_fleet
from vmfleet.cli import main
from vmfleet.tools.run import run


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    import vmfleet.build.builds

    for f in make_fleet(tmp_path, monkeypatch):
        built = types.SimpleNamespace(image_sha256=f.image.sha256, image_path=str(f.image.path))
        monkeypatch.setattr(vmfleet.build.builds, "ensure_image", lambda *a, built=built, **k: built)
        yield f


def _full_port_range(fleet, monkeypatch, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # held: the one port of the range is taken
    monkeypatch.setenv("VMFLEET_PORT_RANGE", f"{s.getsockname()[1]}-{s.getsockname()[1]}")
    return s


def _backed_image(fleet, monkeypatch, tmp_path):
    base = tmp_path / "base.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"])
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base),
         str(tmp_path / "evil.qcow2")])


def _empty_registry(fleet, monkeypatch, tmp_path):
    fleet.reg.close()
    for suffix in ("", "-wal", "-shm"):
        p = fleet.home.root / f"registry.db{suffix}"
        if p.exists():
            p.unlink()
    fleet.home.registry.write_bytes(b"")


def _foreign_registry(fleet, monkeypatch, tmp_path):
    _empty_registry(fleet, monkeypatch, tmp_path)
    fleet.home.registry.write_text("my notes\n")


CASES = {
    "click usage error (add -web)": (None, ["add", "-web"]),
    "date in the future": (None, ["resolve", "web@2999-01"]),
    "no such libvirt network": (None, ["deploy", "web@1", "--network", "nosuchnet"]),
    "absurd memory": (None, ["deploy", "web@1", "--memory", "99999999G"]),
    "full port range": (_full_port_range, ["deploy", "web@1", "--no-wait"]),
    "image with a backing file": (_backed_image, ["inspect", "{tmp}/evil.qcow2"]),
    "zero-length registry": (_empty_registry, ["systems"]),
    "foreign file as registry": (_foreign_registry, ["systems"]),
    "init on an impossible home": (None, ["--home", "/proc/vmfleet-nope", "init"]),
    "key on an impossible home": (None, ["--home", "/proc/vmfleet-nope", "key"]),
    "init where the home is a file": (None, ["--home", "{tmp}/file", "init"]),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, fleet, monkeypatch, tmp_path, capsys):
    prepare, argv = CASES[case]
    (tmp_path / "file").write_text("x")
    held = prepare(fleet, monkeypatch, tmp_path) if prepare else None
    registry_before = fleet.home.registry.read_bytes() if fleet.home.registry.exists() else None
    overlays_before = sorted(os.listdir(fleet.home.overlays))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] != "--home":
        argv = ["--home", str(fleet.home.root), *argv]
    try:
        code = main(argv)
    finally:
        if held is not None:
            held.close()
    _out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in err and "None" not in err, err
    assert len([ln for ln in err.splitlines() if ln.startswith("error: ")]) == 1, err
    assert not [ln for ln in err.splitlines() if ln.startswith("Error")], err
    assert sorted(os.listdir(fleet.home.overlays)) == overlays_before
    if registry_before is not None and case.startswith(("zero", "foreign")):
        assert fleet.home.registry.read_bytes() == registry_before  # never replaced
    elif fleet.home.registry.exists() and not case.startswith(("zero", "foreign")):
        reg = fleet.reg
        assert reg.query_one("SELECT count(*) AS n FROM vms")["n"] == 0
        assert reg.query_one("SELECT count(*) AS n FROM audit")["n"] == 0
        assert reg.query_one("SELECT count(*) AS n FROM generations")["n"] == 2
