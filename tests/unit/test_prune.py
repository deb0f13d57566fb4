"""prune and ps over a home where redeploys piled up retired VMs (issue 19: after 8 cycles,
21 domains, 17 retired, and ps printed a line per retired VM). The home is unit-level: VMs on
libvirt's test:///default driver with real overlays of a tiny image, lineages made the way
redeploy makes them (a new VM that ``replaces`` the last one, which retires)."""

from __future__ import annotations

import json

import pytest

from tests.helpers.deploy_env import make_fleet
from tests.helpers.terminal import terminal
from vmfleet.cli import main
from vmfleet.deploy import lifecycle, prune, vm_records
from vmfleet.deploy.lineage import lineages
from vmfleet.deploy.vm_records import Options, VmState
from vmfleet.errors import NotFound

NO_WAIT = Options(wait=False)


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)


def pile(f, roots=("web-1", "web-2"), cycles=10) -> None:
    """Each root redeployed ``cycles`` times: 1 running and ``cycles`` retired per lineage."""
    for root in roots:
        prev = root
        lifecycle.deploy_image(f.reg, f.home, f.old, f.image, name=root, options=NO_WAIT)
        for i in range(cycles):
            gen = f.new if i % 2 == 0 else f.old
            name = f"{root}-g{gen.number}" + (f"-{i}" if i > 1 else "")
            lifecycle.deploy_image(f.reg, f.home, gen, f.image, name=name, options=NO_WAIT,
                                   replaces=prev)
            lifecycle.retire(f.reg, f.home, prev)
            prev = name


def run(f, capsys, *args):
    code = main(["--home", str(f.home.root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_ps_shows_one_row_per_lineage_and_prune_keeps_the_newest_retired(fleet, capsys):
    pile(fleet)
    assert sum(v.state is VmState.RETIRED for v in vm_records.list_vms(fleet.reg)) == 20
    code, out, err = run(fleet, capsys, "ps")
    rows = out.splitlines()
    assert code == 0 and len(rows) == 3, out  # header + one row per lineage (was: 22 rows)
    assert [r.split()[0] for r in rows[1:]] == ["web-1-g1-9", "web-2-g1-9"]
    assert [r.split()[-1] for r in rows[1:]] == ["10", "10"]
    assert "kept for 'vmfleet rollback" not in err  # was: one line per retired VM
    assert "20 retired VMs kept for rollback: 'vmfleet ps --all' lists them" in err
    assert len(run(fleet, capsys, "ps", "--all")[1].splitlines()) == 23
    short = json.loads(run(fleet, capsys, "ps", "--json")[1])
    assert [(r["lineage"], r["retired"]) for r in short] == [("web-1", 10), ("web-2", 10)]

    code, _, err = run(fleet, capsys, "prune", "--keep", "1")  # no terminal, no --yes
    assert code == 2 and "pruning 18 retired VMs needs confirmation" in err
    overlays_before = {p.name for p in fleet.home.overlays.iterdir()}
    code, out, err = run(fleet, capsys, "prune", "--keep", "1", "--yes", "--json")
    assert code == 0, err
    removed = {p["name"] for p in json.loads(out)}
    assert len(removed) == 18 and "web-1" in removed  # the lineage's first VM too
    left = {v.name: v.state for v in vm_records.list_vms(fleet.reg)}
    assert sorted(left.values()) == [VmState.RETIRED] * 2 + [VmState.RUNNING] * 2
    assert set(fleet.domains()) == set(left)
    assert {p.name for p in fleet.home.overlays.iterdir()} == {
        n for n in overlays_before if n.removesuffix(".qcow2") in left}
    # The lineages keep their fleet names, so plan still finds what runs for web-1.
    assert sorted(lineages(vm_records.list_vms(fleet.reg))) == ["web-1", "web-2"]
    code, out, err = run(fleet, capsys, "ps")
    assert [r.split()[-1] for r in out.splitlines()[1:]] == ["1", "1"]
    assert "2 retired VMs kept for rollback" in err
    assert prune.candidates(fleet.reg, keep=1) == []  # never the newest unless asked
    assert [p.name for p in prune.candidates(fleet.reg, keep=0, only=["web-1"])] == [
        v for v in left if v.startswith("web-1") and left[v] is VmState.RETIRED]


def test_prune_asks_on_a_terminal_and_selects_by_system_or_vm(fleet, capsys):
    pile(fleet, cycles=3)
    with terminal("n\n") as screen:
        code = main(["--home", str(fleet.home.root), "prune", "web-2"])
    assert code == 1 and "Remove 2 retired VMs and their disks? [y/N]" in screen.text
    assert "- web-2 (web@1 on local, retired, of web-2)" in screen.text
    assert "nothing was changed" in screen.text and len(vm_records.list_vms(fleet.reg)) == 8
    assert len(prune.candidates(fleet.reg, only=["web"])) == 4  # a system: all its lineages
    assert len(prune.candidates(fleet.reg, only=["web-1-g2"])) == 2  # a VM: its lineage
    with pytest.raises(NotFound):
        prune.candidates(fleet.reg, only=["nosuch"])


def test_prune_spares_a_retired_vm_an_unfinished_rollout_needs(fleet, capsys):
    pile(fleet, roots=("web",), cycles=2)
    vm_records.begin_rollout(fleet.reg, "rollback", "web", "web", fleet.old.id,
                             vm_records.RolloutStep.BOOT_TARGET, retiring=("web-g1",))
    assert {p.name for p in prune.candidates(fleet.reg, keep=0)} == {"web-g2"}
