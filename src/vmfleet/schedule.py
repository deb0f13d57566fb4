"""Scheduled rebuild checks: a systemd service and timer that run ``vmfleet check`` for the
user who installs them.

The service runs the vmfleet that wrote it (its absolute path, or ``python -m vmfleet`` of
the same interpreter) on the same home, appends ``check --jsonl`` to ``checks.jsonl`` in the
home, and passes ``--notify`` on; a regression also leaves the service failed
(``systemctl --failed``), since check exits 1. The timer fires ``OnCalendar=`` (the user's
``--every``), ``Persistent=true`` (a run missed while the machine was off happens at the next
boot) and ``RandomizedDelaySec=`` (a fleet of hosts does not rebuild at the same second).

root gets system units (/etc/systemd/system, ``systemctl``); another user gets user units
($XDG_CONFIG_HOME/systemd/user, ``systemctl --user``; ``loginctl enable-linger`` lets them run
while the user is logged out).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vmfleet.errors import NotFound, UsageError
from vmfleet.home import Home
from vmfleet.names import check_name
from vmfleet.tools import systemd

DEFAULT_NAME = "vmfleet-check"
SHORTHANDS = ("minutely", "hourly", "daily", "weekly", "monthly", "yearly", "annually",
              "quarterly", "semiannually")


@dataclass(frozen=True)
class Units:
    """A schedule's two unit files, as text, and where they go."""

    name: str
    directory: Path
    user: bool
    service: str
    timer: str

    @property
    def service_path(self) -> Path:
        return self.directory / f"{self.name}.service"

    @property
    def timer_path(self) -> Path:
        return self.directory / f"{self.name}.timer"

    @property
    def enabled_link(self) -> Path:
        """What ``systemctl enable`` makes for ``WantedBy=timers.target``."""
        return self.directory / "timers.target.wants" / f"{self.name}.timer"


def running_vmfleet() -> list[str]:
    """The argv that runs this very vmfleet: its script by absolute path when it was started as
    one, else this interpreter with ``-m vmfleet``."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "vmfleet" and script.is_file():
        return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "vmfleet"]


def user_units() -> bool:
    return os.geteuid() != 0


def unit_directory(user: bool) -> Path:
    if not user:
        return Path("/etc/systemd/system")
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(config) / "systemd" / "user"


def check_every(every: str) -> str:
    """An ``OnCalendar=`` expression: a shorthand (weekly) or a calendar event (Mon *-*-* 04:00)."""
    every = every.strip()
    if not every:
        raise UsageError("--every is empty", "e.g. --every weekly, or --every 'Sun *-*-* 03:00'")
    systemd.value(every)
    problem = systemd.calendar_error(every)
    if problem:
        raise UsageError(f"--every {every!r} is not a systemd calendar event ({problem})",
                         f"use {', '.join(SHORTHANDS[2:5])}, or 'Sun *-*-* 03:00' "
                         "(see systemd.time(7); test it with systemd-analyze calendar)")
    return every


def make_units(home: Home, *, every: str, specs: Sequence[str] = (), since: str | None = None,
               notify: str | None = None, delay_seconds: int = 3600, name: str = DEFAULT_NAME,
               directory: Path | None = None, user: bool | None = None,
               output: Path | None = None, vmfleet: Sequence[str] | None = None,
               path_env: str | None = None) -> Units:
    check_name(name, "schedule name")
    user = user_units() if user is None else user
    directory = Path(directory) if directory else unit_directory(user)
    every = check_every(every)
    output = Path(output).absolute() if output else home.root / "checks.jsonl"
    if any(c.isspace() for c in str(output)):
        raise UsageError(f"{output}: systemd's StandardOutput=append: takes no blanks in a path",
                         "choose an output file whose path has no spaces")
    argv = [*(vmfleet or running_vmfleet()), "--home", str(home.root), "check",
            *(list(specs) if specs else ["--all"] if since is None else []),
            *(["--since", since] if since else []), "--jsonl"]
    if notify is not None:
        if not notify.strip():
            raise UsageError("--notify needs a command", "e.g. --notify 'mail -s \"$1\" ops@example.org'")
        argv += ["--notify", notify]
    path_env = os.environ.get("PATH", "/usr/bin:/bin") if path_env is None else path_env
    wants = "" if user else "Wants=network-online.target\nAfter=network-online.target\n"
    head = f"# Written by 'vmfleet schedule install'; 'vmfleet schedule remove --name {name}' removes it.\n"
    service = (
        f"{head}[Unit]\nDescription=vmfleet: do recorded generations still rebuild, bit for bit?\n"
        f"{wants}\n"
        "[Service]\nType=oneshot\n"
        # guix lives on the installing user's PATH (~/.config/guix/current/bin), not systemd's.
        f"Environment={systemd.quote('PATH=' + path_env, expands=False)}\n"
        f"ExecStart={' '.join(systemd.quote(a) for a in argv)}\n"
        f"StandardOutput=append:{systemd.value(str(output))}\n"
        "StandardError=journal\nNice=10\nIOSchedulingClass=idle\n")
    timer = (
        f"{head}[Unit]\nDescription=vmfleet: rebuild check ({systemd.value(every)})\n\n"
        f"[Timer]\nOnCalendar={systemd.value(every)}\nPersistent=true\n"
        f"RandomizedDelaySec={int(delay_seconds)}\nUnit={name}.service\n\n"
        "[Install]\nWantedBy=timers.target\n")
    return Units(name, directory, user, service, timer)


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a killed install leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.chmod(0o644)  # systemd reads them; they hold no secret beyond the notify command line
    os.replace(tmp, path)


def install(units: Units, *, enable: bool | None = None) -> list[str]:
    """Write the units and, where systemd runs, reload and enable the timer. Returns what was
    done, one message a line."""
    _write(units.service_path, units.service)
    _write(units.timer_path, units.timer)
    done = [f"wrote {units.service_path}", f"wrote {units.timer_path}"]
    enable = systemd.running() if enable is None else enable
    if not enable:
        ctl = "systemctl --user" if units.user else "systemctl"
        done.append(f"systemd is not running here: not enabled; where it runs: "
                    f"{ctl} daemon-reload && {ctl} enable --now {units.name}.timer")
        return done
    systemd.systemctl(units.user, "daemon-reload")
    systemd.systemctl(units.user, "enable", "--now", f"{units.name}.timer")
    done.append(f"enabled {units.name}.timer")
    if units.user:
        done.append("user units run while you are logged in; 'loginctl enable-linger' runs them always")
    return done


def installed(name: str = DEFAULT_NAME, directory: Path | None = None,
              user: bool | None = None) -> Units:
    user = user_units() if user is None else user
    directory = Path(directory) if directory else unit_directory(user)
    check_name(name, "schedule name")
    service, timer = directory / f"{name}.service", directory / f"{name}.timer"
    if not service.is_file() and not timer.is_file():
        raise NotFound(f"no schedule {name} in {directory}",
                       "install one with 'vmfleet schedule install --every weekly'")
    read = lambda p: p.read_text() if p.is_file() else ""  # noqa: E731
    return Units(name, directory, user, read(service), read(timer))


def remove(units: Units, *, enable: bool | None = None) -> list[str]:
    enable = systemd.running() if enable is None else enable
    done = []
    if enable:
        systemd.systemctl(units.user, "disable", "--now", f"{units.name}.timer")
        done.append(f"disabled {units.name}.timer")
    for path in (units.timer_path, units.service_path, units.enabled_link):
        if path.is_file() or path.is_symlink():
            path.unlink()
            done.append(f"removed {path}")
    if enable:
        systemd.systemctl(units.user, "daemon-reload")
    return done
