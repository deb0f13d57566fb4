"""``report``: the fleet's history as a static site (vmfleet.report)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from vmfleet.cli import options
from vmfleet.cli.app import app, emit, lazy, open_registry, say

history_mod = lazy("vmfleet.fleet.history")
site_mod = lazy("vmfleet.report.site")


@app.command()
def report(
    out: Path = typer.Argument(..., metavar="DIR", help="The folder to write (made if missing)."),
    fleet: str = typer.Option(None, "--fleet-file", metavar="FILE",
                              help="Compare the fleet with this file (default: the newest "
                                   "recorded fleet.toml)."),
    as_json: bool = options.json_flag(),
) -> None:
    """Write a static HTML report: timelines, check heat-maps, the fleet, diffs; prints index.html."""
    reg = open_registry()
    declared, source = history_mod.fleet_to_compare(reg, fleet)
    written = site_mod.write(reg, out, fleet=declared, fleet_source=source)
    say(f"wrote {written.pages} pages ({written.systems} systems, {written.checks} checks) "
        f"in {written.seconds:.1f} s")
    emit({"index": str(written.index), "pages": written.pages, "systems": written.systems,
          "checks": written.checks, "seconds": written.seconds}, as_json,
         lambda d: sys.stdout.write(f"{d['index']}\n"))
