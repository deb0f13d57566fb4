"""vmfleet schedule: the systemd units it writes (checked by systemd-analyze where it exists),
their quoting, install/show/remove without a running systemd."""

import re
import shutil
import sys
from pathlib import Path

import pytest

from vmfleet import schedule
from vmfleet.cli import main
from vmfleet.errors import UsageError
from vmfleet.home import Home
from vmfleet.tools import systemd

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed "
                                   "(apt-get install systemd): the units are not verified")


def unquote_exec(line: str) -> list[str]:
    """ExecStart='s words as systemd.service(5) reads them: double-quoted words with C escapes,
    "%%" for "%", "$$" for "$"."""
    words = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
    return [re.sub(r"\\(.)", r"\1", w).replace("%%", "%").replace("$$", "$") for w in words]


def test_units_hold_what_the_issue_asks_for(tmp_path):
    home = Home(tmp_path / "home")
    notify = 'mail -s "vmfleet: $1 (100%)" ops@example.org'
    units = schedule.make_units(home, every="weekly", notify=notify, delay_seconds=1800,
                                directory=tmp_path / "units", user=False,
                                vmfleet=["/usr/bin/vmfleet"], path_env="/opt/guix/bin:/usr/bin")
    assert "OnCalendar=weekly\n" in units.timer and "Persistent=true\n" in units.timer
    assert "RandomizedDelaySec=1800\n" in units.timer and "WantedBy=timers.target" in units.timer
    [exec_line] = [ln for ln in units.service.splitlines() if ln.startswith("ExecStart=")]
    assert unquote_exec(exec_line) == ["/usr/bin/vmfleet", "--home", str(home.root), "check",
                                       "--all", "--jsonl", "--notify", notify]
    assert f"StandardOutput=append:{home.root}/checks.jsonl\n" in units.service
    assert 'Environment="PATH=/opt/guix/bin:/usr/bin"' in units.service
    # specs replace --all; --since is passed on
    units = schedule.make_units(home, every="daily", specs=["web", "db@3"], directory=tmp_path,
                                user=True, vmfleet=["/v"])
    [exec_line] = [ln for ln in units.service.splitlines() if ln.startswith("ExecStart=")]
    assert unquote_exec(exec_line)[3:] == ["check", "web", "db@3", "--jsonl"]
    assert "network-online" not in units.service  # no such target for user managers


def test_the_running_vmfleet_is_what_the_service_runs(monkeypatch, tmp_path):
    script = tmp_path / "bin" / "vmfleet"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(script), "schedule"])
    assert schedule.running_vmfleet() == [str(script)]
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/dist-packages/pytest"])
    assert schedule.running_vmfleet() == [sys.executable, "-m", "vmfleet"]


def test_quoting_refuses_newlines_and_escapes_specifiers():
    assert systemd.quote('a "b" \\ 50% $HOME') == '"a \\"b\\" \\\\ 50%% $$HOME"'
    assert systemd.quote("$X", expands=False) == '"$X"'
    with pytest.raises(UsageError, match="newline"):
        systemd.quote("mail\nrm -rf /")
    with pytest.raises(UsageError, match="newline"):
        schedule.make_units(Home(Path("/h")), every="weekly\nExecStart=/bin/evil",
                            directory=Path("/nonexistent"), user=True, vmfleet=["/v"])


@needs_analyze
def test_units_pass_systemd_analyze_verify(tmp_path):
    # The service must name an executable that exists: systemd-analyze verify checks it.
    vmfleet = shutil.which("vmfleet") or sys.executable
    units = schedule.make_units(Home(tmp_path / "my-home"), every="Sun *-*-* 03:00",
                                notify='printf "%s\\n" "$1" | logger -t vmfleet',
                                directory=tmp_path / "units", user=False, vmfleet=[vmfleet])
    schedule.install(units, enable=False)
    ok, said = systemd.verify([units.service_path, units.timer_path])
    assert ok, said
    # …and it is a real check: a unit with unbalanced quotes is refused.
    bad = tmp_path / "units" / "bad.service"
    bad.write_text(units.service.replace('"--home"', '"--home'))
    assert not systemd.verify([bad])[0]


@needs_analyze
def test_every_is_checked_by_systemd():
    with pytest.raises(UsageError, match="not a systemd calendar event"):
        schedule.check_every("every other tuesday")
    assert schedule.check_every(" weekly ") == "weekly"


def test_install_show_remove_without_systemd(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(systemd, "running", lambda root=Path("/"): False)
    units = tmp_path / "units"
    home = ["--home", str(tmp_path / "home")]
    code = main([*home, "schedule", "install", "--every", "daily", "--unit-dir", str(units),
                 "--notify", "true"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "systemd is not running here: not enabled" in err
    assert (units / "vmfleet-check.timer").read_text().count("OnCalendar=daily") == 1
    assert main([*home, "schedule", "show", "--unit-dir", str(units)]) == 0
    out, err = capsys.readouterr()
    assert "OnCalendar=daily" in out and '"--notify" "true"' in out and "not enabled" in err
    # --print writes nothing
    assert main([*home, "schedule", "install", "--print", "--name", "other",
                 "--unit-dir", str(units)]) == 0
    out, err = capsys.readouterr()
    assert "OnCalendar=weekly" in out and not (units / "other.timer").exists()
    assert main([*home, "schedule", "remove", "--unit-dir", str(units)]) == 0
    assert not list(units.glob("vmfleet-check.*"))
    assert main([*home, "schedule", "show", "--unit-dir", str(units)]) == 2
    assert "no schedule vmfleet-check" in capsys.readouterr().err


def test_install_enables_where_systemd_runs(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(systemd, "systemctl", lambda user, *args: calls.append((user, args)))
    units = schedule.make_units(Home(tmp_path / "h"), every="weekly", directory=tmp_path / "u",
                                user=True, vmfleet=["/v"])
    said = schedule.install(units, enable=True)
    assert calls == [(True, ("daemon-reload",)), (True, ("enable", "--now", "vmfleet-check.timer"))]
    assert any("enable-linger" in s for s in said)
    calls.clear()
    schedule.remove(units, enable=True)
    assert calls == [(True, ("disable", "--now", "vmfleet-check.timer")), (True, ("daemon-reload",))]

