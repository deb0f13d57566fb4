"""``schedule``: a systemd timer that runs ``vmfleet check`` (vmfleet.schedule)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from vmfleet.cli import options
from vmfleet.cli.app import app, home, lazy, say

schedule_mod = lazy("vmfleet.schedule")

schedule_app = typer.Typer(help="Scheduled rebuild checks: a systemd service and timer.",
                           no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")

NAME = typer.Option("vmfleet-check", "--name", help="The units' name (NAME.service, NAME.timer).")
UNIT_DIR = typer.Option(None, "--unit-dir", metavar="DIR",
                        help="Where the units go (default: /etc/systemd/system for root, "
                             "~/.config/systemd/user for others).")


@schedule_app.command("install")
def schedule_install(
    specs: list[str] = typer.Argument(None, metavar="[SPEC]...",
                                      help="What to check (default: every generation)."),
    every: str = typer.Option("weekly", "--every", metavar="CALENDAR",
                              help="When: a systemd OnCalendar= event (daily, weekly, "
                                   "'Sun *-*-* 03:00')."),
    since: str = options.date("--since", None, "Check only generations current since this date."),
    notify: str = typer.Option(None, "--notify", metavar="CMD",
                               help="Passed to check --notify: run when a generation regressed."),
    delay: float = options.duration("--delay", "1h", "Randomized delay of each run (RandomizedDelaySec=)."),
    output: Path = typer.Option(None, "--output", metavar="FILE",
                                help="Where check --jsonl appends (default: HOME/checks.jsonl)."),
    print_: bool = typer.Option(False, "--print", help="Print the units; write and enable nothing."),
    name: str = NAME,
    unit_dir: Path = UNIT_DIR,
) -> None:
    """Write a service and timer that run 'vmfleet check' and enable them where systemd runs."""
    units = schedule_mod.make_units(home(), every=every, specs=specs or (), since=since,
                                    notify=notify, delay_seconds=round(delay), name=name,
                                    directory=unit_dir, output=output)
    if print_:
        sys.stdout.write(f"# {units.service_path}\n{units.service}\n# {units.timer_path}\n{units.timer}")
        return
    for line in schedule_mod.install(units):
        say(line)


@schedule_app.command("remove")
def schedule_remove(name: str = NAME, unit_dir: Path = UNIT_DIR) -> None:
    """Disable the timer (where systemd runs) and remove both units."""
    for line in schedule_mod.remove(schedule_mod.installed(name, unit_dir)):
        say(line)


@schedule_app.command("show")
def schedule_show(name: str = NAME, unit_dir: Path = UNIT_DIR) -> None:
    """Print the installed units and whether the timer is enabled."""
    units = schedule_mod.installed(name, unit_dir)
    sys.stdout.write(f"# {units.service_path}\n{units.service}\n# {units.timer_path}\n{units.timer}")
    say(f"{units.name}.timer is {'enabled' if units.enabled_link.exists() else 'not enabled'}")
