"""The one confirmation rule and the one downgrade rule, as a person meets them at a terminal
(a real pseudo-terminal: tests/helpers/terminal.py) and as a script meets them (no terminal):
apply, redeploy of fleet VMs and destroy ask; --yes does not; without either they refuse."""

from __future__ import annotations

import json

import pytest

from tests.helpers.fleet_env import fleet_text
from tests.helpers.terminal import terminal
from tests.unit import test_fleet_cli
from vmfleet.cli import main
from vmfleet.deploy import lifecycle, vm_records
from vmfleet.deploy.vm_records import Options

NO_WAIT = Options(wait=False)


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from test_fleet_cli.make_fleet(tmp_path, monkeypatch)


@pytest.fixture
def vmfleet(fleet, capsys):
    return test_fleet_cli.vmfleet.__wrapped__(fleet, capsys)


@pytest.fixture
def no_boot(monkeypatch, fleet):
    return test_fleet_cli.no_boot.__wrapped__(monkeypatch, fleet)


def names(f) -> set[str]:
    return {v.name for v in vm_records.list_vms(f.reg)}


def at_terminal(f, typed: str, *args, stdout_too: bool = False):
    with terminal(typed, stdout_too=stdout_too) as screen:
        code = main(["--home", str(f.home.root), *args])
    return code, screen.text


def test_destroy_of_several_vms_asks_once_and_no_is_not_an_error(fleet, vmfleet, capsys):
    for n in ("web-old", "web-1-g2"):
        lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, name=n,
                               options=NO_WAIT)
    capsys.readouterr()
    code, screen = at_terminal(fleet, "n\n", "destroy", "web-old", "web-1-g2")
    assert code == 1, screen
    assert "Destroy web-old and web-1-g2 and their disks? [y/N]" in screen
    assert "nothing was changed" in screen
    assert "error" not in screen and "interrupted" not in screen  # was: 'error: interrupted', 130
    assert names(fleet) == {"web-old", "web-1-g2"}

    code, _, err = vmfleet("destroy", "web-old", "web-1-g2")  # a script: no terminal
    assert code == 2 and "needs confirmation" in err and "pass --yes" in err
    code, screen = at_terminal(fleet, "y\n", "destroy", "web-old", "web-1-g2")
    assert code == 0 and "destroyed VM web-old" in screen and "destroyed VM web-1-g2" in screen
    assert names(fleet) == set()


def test_destroy_with_yes_asks_nothing(fleet, vmfleet):
    for n in ("a", "b"):
        lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, name=n,
                               options=NO_WAIT)
    code, screen = at_terminal(fleet, "", "destroy", "a", "b", "--yes")
    assert code == 0 and "[y/N]" not in screen and names(fleet) == set()


@pytest.fixture
def applied(fleet, vmfleet, no_boot, tmp_path):
    """web-1 created by an apply (so the fleet manages it), running web@2."""
    f = tmp_path / "fleet.toml"
    f.write_text(fleet_text([{"name": "web-1", "system": "web"}]))
    code, _, err = vmfleet("apply", "--file", str(f), "--yes")
    assert code == 0, err
    return f


def test_apply_shows_the_plan_then_asks_and_no_changes_nothing(fleet, vmfleet, no_boot,
                                                              tmp_path):
    f = tmp_path / "fleet.toml"
    f.write_text(fleet_text([{"name": "web-1", "system": "web"}]))
    code, screen = at_terminal(fleet, "n\n", "apply", "--file", str(f), stdout_too=True)
    assert code == 1, screen
    assert screen.index("+ web-1") < screen.index("Apply? [y/N]")
    assert "nothing was changed" in screen and "error" not in screen
    assert names(fleet) == set()
    code, screen = at_terminal(fleet, "y\n", "apply", "--file", str(f), stdout_too=True)
    assert code == 0, screen
    assert names(fleet) == {"web-1"}


def test_apply_of_a_downgrade_needs_allow_downgrade_even_with_yes(fleet, vmfleet, applied):
    """Issue 19: 'apply --fleet @2023-10' downgraded 13 VMs without asking, while redeploy
    refused the same move without --allow-downgrade."""
    applied.write_text(fleet_text([{"name": "web-1", "system": "web@1"}]))
    code, out, err = vmfleet("apply", "--file", str(applied), "--yes")
    assert code == 2 and "goes back to older generations: web-1 (web@2 → web@1)" in err
    assert "--allow-downgrade" in err
    assert [v.label for v in vm_records.list_vms(fleet.reg)] == ["web@2"]
    code, out, err = vmfleet("apply", "--file", str(applied), "--yes", "--allow-downgrade")
    assert code == 0, err
    running = [v for v in vm_records.list_vms(fleet.reg) if v.state.value == "running"]
    assert [v.label for v in running] == ["web@1"]


def test_plan_paints_downgrade_on_a_terminal_only(fleet, vmfleet, applied, monkeypatch):
    applied.write_text(fleet_text([{"name": "web-1", "system": "web@1"}]))
    code, screen = at_terminal(fleet, "", "plan", "--file", str(applied), stdout_too=True)
    assert code == 1 and "\x1b[1;31mDOWNGRADE\x1b[0m" in screen
    code, out, _ = vmfleet("plan", "--file", str(applied))  # piped
    assert "DOWNGRADE" in out and "\x1b[" not in out
    monkeypatch.setenv("NO_COLOR", "1")
    code, screen = at_terminal(fleet, "", "plan", "--file", str(applied), stdout_too=True)
    assert "DOWNGRADE" in screen and "\x1b[" not in screen
    code, out, _ = vmfleet("plan", "--file", str(applied), "--color", "always")
    assert "\x1b[1;31mDOWNGRADE" in out  # --color beats NO_COLOR


def test_redeploy_of_a_fleet_vm_warns_of_drift_asks_and_plan_names_it(fleet, vmfleet,
                                                                     applied):
    """Issue 19: 'redeploy web@1 --allow-downgrade' replaced the fleet's VMs without a word;
    the next plan showed them as drift without saying why."""
    code, _, err = vmfleet("redeploy", "web@1", "--allow-downgrade")  # a script, no --yes
    assert code == 2 and "redeploying 1 fleet VM needs confirmation" in err
    code, screen = at_terminal(fleet, "n\n", "redeploy", "web@1", "--allow-downgrade")
    assert code == 1 and "~ web-1 (web-1 in the fleet): web@2 → web@1" in screen
    assert "'vmfleet plan' will show them as drift" in screen and "Redeploy? [y/N]" in screen
    assert [v.name for v in vm_records.list_vms(fleet.reg)] == ["web-1"]
    code, screen = at_terminal(fleet, "y\n", "redeploy", "web@1", "--allow-downgrade",
                               stdout_too=True)
    assert code == 0, screen
    code, out, _ = vmfleet("plan", "--file", str(applied), "--json")
    (step,) = json.loads(out)["steps"]
    assert step["action"] == "replace" and step["vm"] == "web-1-g1"
    assert step["cause"].startswith("drift: 'vmfleet redeploy web@1' (")
    code, out, _ = vmfleet("plan", "--file", str(applied))
    assert "drift: 'vmfleet redeploy web@1'" in out


def test_redeploy_of_vms_outside_the_fleet_does_not_ask(fleet, vmfleet, no_boot):
    lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, name="solo",
                           options=NO_WAIT)
    code, _, err = vmfleet("redeploy", "web@2")
    assert code == 0, err


def test_states_are_coloured_on_a_terminal_unless_no_color(fleet, vmfleet, monkeypatch):
    """Issue 19: plan had no colour on a terminal while diff had; every command with states
    paints them the same way, on a terminal only, NO_COLOR and --color respected."""
    lifecycle.deploy_image(fleet.reg, fleet.home, fleet.old, fleet.image, name="web",
                           options=NO_WAIT)
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, screen = at_terminal(fleet, "", "ps", stdout_too=True)
    assert code == 0 and "\x1b[32mrunning\x1b[0m" in screen
    assert "\x1b[" not in vmfleet("ps")[1]  # piped: plain
    assert "\x1b[32mrunning" in vmfleet("ps", "--color", "always")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    code, screen = at_terminal(fleet, "", "ps", stdout_too=True)
    assert "running" in screen and "\x1b[" not in screen
    code, screen = at_terminal(fleet, "", "ps", "--color", "never", stdout_too=True)
    assert "\x1b[" not in screen
