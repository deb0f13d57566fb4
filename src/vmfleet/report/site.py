"""Writing the report's folder: every page whole or not at all, nothing outside the folder.

The folder is the user's (``/srv/www/vmfleet``): it is written only when it is empty, new, or
a report vmfleet wrote before (it holds ``.vmfleet-report``). The report owns ``index.html``,
``style.css``, ``systems/`` and ``diffs/`` (replaced whole by each run: pages of things that are
gone go with them); other files in the folder are left alone. Pages are world-readable (0644,
folders 0755): a report is made to be published.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from vmfleet import timeutil
from vmfleet.errors import NotFound, UsageError
from vmfleet.names import check_name
from vmfleet.registry import generations as generations_mod
from vmfleet.registry import report_rows
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation
from vmfleet.report import model, pages
from vmfleet.report.style import CSS, CSS_NAME

MARKER = ".vmfleet-report"
SUBDIRS = ("systems", "diffs")
SEVERITY = {"reproducible": 0, "image-differs": 1, "drifted": 2, "fails": 3}
RECENT_DAYS = 12  # the index's strip of each system's last check days


@dataclass(frozen=True)
class Written:
    index: Path
    pages: int
    systems: int
    checks: int
    seconds: float


def _prepare(out: Path) -> Path:
    """Check the folder, clear what a killed run left, and make a staging folder in it."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is not a folder", "name a folder for the report (it is made if missing)")
    if out.is_dir() and not (out / MARKER).is_file() and any(out.iterdir()):
        raise UsageError(f"{out} is not empty and holds no earlier vmfleet report",
                         "name an empty or new folder: the report replaces its own pages only")
    for sub in SUBDIRS:
        d = out / sub
        if d.is_symlink() or (d.exists() and not d.is_dir()):
            raise UsageError(f"{d} is not a folder of the report (a link or a file)",
                             "remove it: the report writes only inside its folder")
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o755)
    (out / MARKER).write_text("written by vmfleet report; its pages are replaced by the next one\n")
    for left in [*out.glob(".staging-*"), *out.glob(".old-*")]:  # a killed run's
        if left.is_dir() and not left.is_symlink():
            shutil.rmtree(left)
    staging = out / f".staging-{os.getpid()}"
    for d in (staging, *(staging / sub for sub in SUBDIRS)):
        d.mkdir()
        d.chmod(0o755)
    return staging


class _Writer:
    """Pages go to a fresh staging folder (plain writes: no file there to replace), which
    ``publish`` then swaps in: a reader sees the old report or the new one, folder by folder."""

    def __init__(self, staging: Path):
        self.staging = staging
        self.count = 0

    def __call__(self, rel: str, text: str) -> None:
        fd = os.open(self.staging / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        os.fchmod(fd, 0o644)  # whatever the umask (vmfleet's is 077): a report is published
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text)
        self.count += 1

    def publish(self, out: Path) -> None:
        old = []
        for sub in SUBDIRS:
            if (out / sub).is_dir():
                old.append(out / f".old-{os.getpid()}-{sub}")
                os.rename(out / sub, old[-1])
            os.rename(self.staging / sub, out / sub)
        for name in (CSS_NAME, "index.html"):  # the index last: its links are all there
            os.replace(self.staging / name, out / name)
        for d in [*old, self.staging]:
            shutil.rmtree(d)


def write(reg: Registry, out: str | os.PathLike, *, fleet: model.DeclaredFleet | None,
          fleet_source: str, generated: str | None = None) -> Written:
    """The report of ``reg`` into ``out``, the fleet compared with ``fleet`` (which
    ``fleet_source`` names in words: vmfleet.fleet.history.fleet_to_compare loads both, so a
    bad fleet file fails before anything is written)."""
    t0 = time.monotonic()
    out = Path(out).absolute()
    staging = _prepare(out)
    w = _Writer(staging)
    try:
        written = _write_pages(reg, w, fleet, fleet_source, generated or timeutil.now())
        w.publish(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # the old report stays as it was
        raise
    return Written(out / "index.html", w.count, written[0], written[1],
                   round(time.monotonic() - t0, 3))


def _write_pages(reg: Registry, w: _Writer, fleet: model.DeclaredFleet | None, source: str,
                 generated: str) -> tuple[int, int]:
    """Every page into the staging folder; returns (systems, checks)."""
    w(CSS_NAME, CSS)

    by_system: dict[str, list[Generation]] = {s: [] for s in report_rows.system_names(reg)}
    by_id: dict[int, Generation] = {}
    for gen in report_rows.all_generations(reg):
        by_system.setdefault(gen.system, []).append(gen)
        by_id[gen.id] = gen
    # generation id → {day: 0 (reproducible) or (its cell's HTML, result)}. A day with more
    # than one check of a generation shows the worst; the findings list every one.
    cells: dict[int, dict] = {g: {} for g in by_id}
    for gid, days_text in report_rows.reproducible_days(reg):
        if gid in cells and days_text:
            cells[gid] = dict.fromkeys(days_text.split(","), 0)
    findings: dict[str, list] = {}
    diffs: dict[tuple, list] = {}   # one page per distinct diff: the checks that found it
    known: dict[tuple, tuple] = {}  # the same finding again (its text): read once
    for cid, gid, started, result, detail in report_rows.findings(reg):
        mine, g = cells.get(gid), by_id.get(gid)
        if mine is None or g is None or result not in SEVERITY:  # cells has every id by_id has
            continue
        day = started[:10]
        first = known.get((gid, result, detail))
        if first is None:
            c = model.check_of(cid, g, started, result, detail)
            key = model.diff_key(c) if model.makes_diff_page(c) else None
            first = known[(gid, result, detail)] = (c, model.reason(c), key)
        c, why, key = first
        page = None
        if key is not None:
            found = diffs.setdefault((gid, result, key), [])
            found.append((c, started, cid))
            page = f"check-{found[0][2]}.html"
        old = mine.get(day)
        if old is None or old == 0 or SEVERITY[result] >= SEVERITY[old[1]]:
            mine[day] = (pages.check_cell(g.label, day, result, why, page), result)
        findings.setdefault(g.system, []).append((day, g.label, result, why, page))
    days = sorted(set().union(*cells.values()))
    for found in diffs.values():
        c, _started, cid = found[0]  # the first check that found it (its text, its id)
        system_name, _, number = c.label.partition("@")
        w(f"diffs/check-{cid}.html", pages.check_diff(
            generated=generated, c=c, system_name=system_name, number=int(number),
            also=[(s[:10], i) for _c, s, i in found[1:]]))
    summaries: list[pages.SystemSummary] = []
    order = list(pages.STATUSES)
    for name in sorted(by_system):
        check_name(name)  # a page's file name: never a path out of systems/
        gens = by_system[name]
        listed = sorted(findings.get(name, []), key=lambda f: f[0], reverse=True)
        w(f"systems/{name}.html", pages.system(generated=generated, name=name, gens=gens,
                                               days=days, cells=cells, findings=listed))
        counts: dict[str, int] = {}
        checked = set().union(*(cells[g.id] for g in gens))
        last_day = max(checked, default=None)
        worst: dict[str, str] = {}
        for day, _label, result, _why, _page in listed:
            if SEVERITY[result] > SEVERITY[worst.get(day, "reproducible")]:
                worst[day] = result
        recent = [(d, worst.get(d, "reproducible") if d in checked else "unchecked")
                  for d in days[-RECENT_DAYS:]]
        for g in gens:
            v = cells[g.id].get(last_day) if last_day else None
            if v is None:
                continue
            result = "reproducible" if v == 0 else v[1]
            counts[result] = counts.get(result, 0) + 1
        newest = gens[-1] if gens else None
        summaries.append({"name": name, "generations": len(gens), "recent": recent,
                          "newest": newest.label if newest else None,
                          "newest_from": newest.current_from if newest else None,
                          "last_check": last_day if counts else None,
                          "last_counts": dict(sorted(counts.items(), key=lambda kv: order.index(kv[0])))})
    checks = report_rows.count_checks(reg)

    applies = report_rows.fleet_applies(reg)
    steps = model.apply_steps(applies)
    cache: dict[int, object] = {}
    for step in steps:
        before, after = (_generation(reg, step.step.get(k), cache)
                         for k in ("current_generation_id", "target_generation_id"))
        w(f"diffs/{step.page}", pages.apply_diff(
            generated=generated, step=step, before=before, after=after,
            before_config=_config(reg, before), after_config=_config(reg, after)))
    view = model.fleet_view(reg, fleet, source)
    totals = {"systems": len(by_system), "generations": sum(len(g) for g in by_system.values()),
              "VMs": len([r for r in view.rows if r.vm]),
              "checks": checks,
              "regressions in the last checks": sum(n for s in summaries
                                                   for r, n in s["last_counts"].items()
                                                   if r != "reproducible")}
    w("index.html", pages.index(generated=generated, systems=summaries, fleet=view,
                                applies=applies, apply_steps=steps, totals=totals))
    return len(by_system), checks


def _generation(reg: Registry, gen_id, cache: dict):
    if not isinstance(gen_id, int):
        return None
    if gen_id not in cache:
        try:
            cache[gen_id] = generations_mod.get(reg, gen_id)
        except NotFound:  # a generation the registry no longer has: the page says less
            cache[gen_id] = None
    return cache[gen_id]


def _config(reg: Registry, gen) -> str | None:
    if gen is None:
        return None
    return reg.get_blob(gen.config_sha256).decode(errors="replace")
