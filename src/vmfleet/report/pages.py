"""Each page of the report as HTML text (site.py writes them)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TypedDict

from vmfleet.registry.generations import Generation, describe_change
from vmfleet.report.html import STATUSES, attr, badge, esc, json_view, legend, page, short, table
from vmfleet.report.model import ApplyStep, FleetView, makes_diff_page, reason


class SystemSummary(TypedDict):
    """A system's row on the index."""

    name: str
    generations: int
    recent: list[tuple[str, str]]       # (day, worst result that day or 'unchecked'), oldest first
    newest: str | None                  # the newest generation's label
    newest_from: str | None
    last_check: str | None              # the last day it was checked
    last_counts: dict[str, int]         # result → how many generations had it that day


def _when(stamp: str | None) -> str:
    return esc(stamp.replace("T", " ").rstrip("Z")[:16]) if stamp else "–"


def _pins(g: Generation) -> str:
    return ", ".join(f"{esc(p.get('name'))} <code>{short(p.get('commit'), 10)}</code>"
                     for p in g.pins) or "unpinned"


def system_link(system: str, depth: int, anchor: str = "") -> str:
    return f'{"../" * depth}systems/{attr(system)}.html{anchor}'


# --- index ---------------------------------------------------------------------------------------

def index(*, generated: str, systems: Sequence[SystemSummary], fleet: FleetView, applies: Sequence[dict],
          apply_steps: Sequence[ApplyStep], totals: dict) -> str:
    stats = "".join(f"<li><b>{esc(v)}</b>{esc(k)}</li>" for k, v in totals.items())
    rows = []
    for s in systems:
        counts = " ".join(f"{badge(r)} {n}" for r, n in s["last_counts"].items()) or \
            '<span class="muted">never checked</span>'
        strip = "".join(
            f'<span class="cell s-{STATUSES[r][0]}" title="{esc(d)}: {esc(STATUSES[r][2])}">'
            f'{STATUSES[r][1]}</span>' for d, r in s["recent"])
        rows.append([f'<a href="{system_link(s["name"], 0)}">{esc(s["name"])}</a>',
                     f'<a class="strip" href="{system_link(s["name"], 0, "#checks")}" '
                     f'aria-label="recent checks of {attr(s["name"])}">{strip}</a>' if strip else "–",
                     str(s["generations"]),
                     f'{esc(s["newest"])} <span class="muted">{_when(s["newest_from"])}</span>'
                     if s["newest"] else "–",
                     esc(s["last_check"] or "–"), counts])
    systems_html = table(["system", "checks by day (worst of each)", "generations", "newest",
                          "last check", "results of the last check"],
                         rows, cls="data")
    fleet_rows = []
    for r in fleet.rows:
        gen = (f'<a href="{system_link(r.system, 0, f"#g{r.generation}")}">'
               f'{esc(r.system)}@{r.generation}</a>' if r.generation is not None else esc(r.system))
        drift = (f'<span class="drift-yes">drift: {esc(r.drift)}</span>' if r.drifted
                 else esc(r.drift))
        fleet_rows.append([esc(r.name) + (f' <span class="muted">({esc(r.vm)})</span>'
                                          if r.vm and r.vm != r.name else ""),
                           gen, esc(r.host or "–"), esc(r.state or "–"), _when(r.since), drift])
    fleet_html = (f'<p class="muted">Compared with {esc(fleet.source)}; VM states as the registry '
                  "records them (<code>vmfleet plan</code> also asks each host).</p>" +
                  (table(["VM", "generation", "host", "state", "since (UTC)", "against the fleet file"],
                         fleet_rows, cls="data") if fleet_rows else
                   '<p class="muted">No VMs recorded.</p>'))
    by_apply: dict[str, list[ApplyStep]] = {}
    for step in apply_steps:
        by_apply.setdefault(step.apply_id, []).append(step)
    apply_rows = [[esc(a["id"]), _when(a["started"]), esc(a["status"]), esc(a["summary"] or "–"),
                   " ".join(f'<a href="diffs/{attr(s.page)}">{esc(s.name)}</a>'
                            for s in by_apply.get(a["id"], [])) or "–"]
                  for a in reversed(applies)]
    applies_html = (table(["apply", "started (UTC)", "status", "summary", "replacements"], apply_rows,
                          cls="data") if apply_rows else '<p class="muted">No applies recorded.</p>')
    body = (f'<ul class="stats">{stats}</ul>\n'
            f'<section class="card"><h2 id="systems">Systems</h2>{systems_html}</section>\n'
            f'<section class="card"><h2 id="fleet">The fleet</h2>{fleet_html}</section>\n'
            f'<section class="card"><h2 id="applies">Applies</h2>{applies_html}</section>')
    return page("Fleet report", body, depth=0, generated=generated)


# --- a system ------------------------------------------------------------------------------------

def check_cell(label: str, day: str, result: str, why: str, page: str | None) -> str:
    """A heat-map cell of a check that did not reproduce (rare: built one by one)."""
    cls, letter, words = STATUSES[result]
    text = f'<a href="../diffs/{attr(page)}">{letter}</a>' if page else letter
    return f'<td class="s-{cls}" title="{attr(f"{label} on {day}: {words}: {why}")}">{text}</td>'


def _empty_cell(label: str, first: str, day: str, day_esc: str) -> str:
    if day < first:
        return f'<td class="s-na" title="{label} was not yet recorded on {day_esc}"></td>'
    return f'<td class="s-unchecked" title="{label} on {day_esc}: not checked">?</td>'


def heat_rows(gens: Sequence[Generation], days: Sequence[str], cells: dict) -> str:
    """The heat-map's rows, newest generation first. ``cells``: generation id → {day: 0 (a
    reproducible check: nearly all) or (the cell's HTML from ``check_cell``, the result)}.

    A million cells are written in about a second: a reproducible cell is the same for every
    row (its day and status, the row names the generation), built once per day."""
    cls, letter, words = STATUSES["reproducible"]
    cols = [(d, esc(d), f'<td class="s-{cls}" title="{esc(d)}: {words}">{letter}</td>') for d in days]
    rows = []
    for g in reversed(gens):
        label = esc(g.label)
        first = g.current_from[:10]
        get = cells.get(g.id, {}).get
        row = "".join([ok if (v := get(d)) == 0 else (_empty_cell(label, first, d, de) if v is None
                                                      else v[0])
                       for d, de, ok in cols])
        rows.append(f'<tr><th scope="row"><a href="#g{g.number}">{label}</a></th>{row}</tr>')
    return "\n".join(rows)


def system(*, generated: str, name: str, gens: Sequence[Generation], days: Sequence[str],
           cells: dict, findings: Sequence[tuple]) -> str:
    """``cells``: see ``heat_rows``; ``findings``: (day, label, result, reason, diff page or
    None), newest first."""
    timeline = []
    previous = None
    changes = {}
    for g in gens:  # oldest first: each change is against the generation before
        changes[g.number] = describe_change(previous, g)
        previous = g
    for g in reversed(gens):
        commit = (f' · commit <code>{short(g.git_commit, 10)}</code>' if g.git_commit
                  else f" · {esc(g.source)}")
        warn = ' · <b>inputs incomplete</b>' if g.incomplete else ""
        msg = f'<div class="muted">{esc(g.message)}</div>' if g.message else ""
        timeline.append(
            f'<li id="g{g.number}"><div class="when">{_when(g.current_from)} UTC{commit}{warn}</div>'
            f'<div><span class="what">{esc(g.label)}</span>: {esc(changes[g.number])}</div>'
            f'<div class="muted">pins: {_pins(g)}</div>{msg}</li>')
    timeline_html = f'<ol class="timeline">{"".join(timeline)}</ol>' if gens else \
        '<p class="muted">No generations.</p>'
    if days:
        head = "".join(f'<th scope="col">{esc(d)}</th>' for d in days)
        heat = (f'{legend()}<div class="heat-wrap"><table class="heat" aria-label="checks by '
                f'generation and date"><thead><tr><th scope="col" class="corner">generation</th>'
                f'{head}</tr></thead><tbody>{heat_rows(gens, days, cells)}</tbody></table></div>')
    else:
        heat = '<p class="muted">Never checked: <code>vmfleet check --all</code> records checks.</p>'
    if findings:
        items = []
        for d, label, result, why, diff_page in findings:
            link = f' <a href="../diffs/{attr(diff_page)}">the diff</a>' if diff_page else ""
            items.append(f"<li>{esc(d)} {esc(label)}: {badge(result)} {esc(why)}{link}</li>")
        findings_html = f'<ul class="findings">{"".join(items)}</ul>'
    else:
        findings_html = '<p class="muted">Every check reproduced its generation bit for bit.</p>' \
            if days else '<p class="muted">None.</p>'
    body = ('<section class="card"><h2 id="checks">Checks</h2><p class="muted">Each cell is '
            "a generation (row) rebuilt on a date (column): the letter says the result, hovering "
            "tells why; a linked letter opens the diff.</p>" + heat + "</section>\n"
            f'<section class="card"><h2 id="findings">Findings</h2>{findings_html}</section>\n'
            f'<section class="card"><h2 id="generations">Generations</h2>{timeline_html}</section>')
    crumbs = f' › <a href="#checks">{esc(name)}</a>'
    return page(f"System {name}", body, depth=1, generated=generated, crumbs=crumbs)


# --- diffs ---------------------------------------------------------------------------------------

def check_diff(*, generated: str, c, system_name: str, number: int,
               also: Sequence[tuple[str, int]] = ()) -> str:
    """A check's diff; ``also``: (day, check id) of later checks that found the same."""
    d = c.detail
    facts = [("generation", f'<a href="{system_link(system_name, 1, f"#g{number}")}">{esc(c.label)}</a>'),
             ("checked", _when(c.started) + " UTC"), ("result", badge(str(c.result))),
             ("finding", esc(reason(c)))]
    if also:
        facts.append(("found again", esc(", ".join(f"{day} (check {cid})" for day, cid in also))))
    for side in ("reference", "rebuild"):
        if isinstance(d.get(side), dict):
            facts.append((side, json_view(d[side])))
    for key in ("same_system", "same_closure", "differing_derivation", "error", "hint", "note",
                "seconds"):
        if key in d:
            facts.append((key.replace("_", " "), json_view(d[key])))
    rest = {k: v for k, v in d.items() if k not in {"reference", "rebuild", "same_system",
            "same_closure", "differing_derivation", "error", "hint", "note", "seconds", "diff",
            "diff_text"}}
    for k, v in rest.items():
        facts.append((k.replace("_", " "), json_view(v)))
    dl = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    layers_html = ""
    diff = d.get("diff")
    if isinstance(diff, dict):
        for layer, content in (diff.get("layers") or {}).items():
            status = content.get("status") if isinstance(content, dict) else None
            inner = json_view({k: v for k, v in content.items() if k != "status"}
                              if isinstance(content, dict) else content)
            layers_html += (f'<section class="card"><h2 id="layer-{attr(layer)}">{esc(layer)}'
                            f' <span class="muted">({esc(status or "?")})</span></h2>{inner}</section>\n')
        others = {k: v for k, v in diff.items() if k not in ("layers", "a", "b", "version")}
        if others:
            layers_html += f'<section class="card"><h2 id="verdicts">More</h2>{json_view(others)}</section>'
    elif not makes_diff_page(c):
        layers_html = ""
    if d.get("diff_text"):
        layers_html += (f'<section class="card"><h2 id="text">As vmfleet check printed it</h2>'
                        f'<pre>{esc(d["diff_text"])}</pre></section>')
    body = f'<section class="card"><h2 id="check">Check {c.id}</h2>{dl}</section>\n{layers_html}'
    crumbs = f' › <a href="{system_link(system_name, 1)}">{esc(system_name)}</a>'
    return page(f"Check {c.id}: {c.label}", body, depth=1, generated=generated, crumbs=crumbs)


def apply_diff(*, generated: str, step: ApplyStep, before: Generation | None,
               after: Generation | None, before_config: str | None,
               after_config: str | None) -> str:
    s = step.step
    facts = [("apply", f"{esc(step.apply_id)} ({esc(step.status)}, {_when(step.started)} UTC)"),
             ("VM", esc(s.get("vm") or step.name)),
             ("from", esc(s.get("current") or "–")), ("to", esc(s.get("target") or "–")),
             ("why", esc("; ".join(s.get("reasons") or ()) or "–")),
             ("packages", esc(s.get("packages") or "–"))]
    for key in sorted(set(s) - {"vm", "current", "target", "reasons", "packages", "name", "action"}):
        if s[key] not in (None, "", [], ()):
            facts.append((esc(key.replace("_", " ")), json_view(s[key])))
    dl = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    parts = [f'<section class="card"><h2 id="step">Replacement of {esc(step.name)}</h2>{dl}</section>']
    if before is not None and after is not None:
        pins_a = {p.get("name"): p.get("commit") for p in before.pins}
        pins_b = {p.get("name"): p.get("commit") for p in after.pins}
        rows = [[esc(n), f"<code>{short(pins_a.get(n), 12)}</code>",
                 f"<code>{short(pins_b.get(n), 12)}</code>",
                 "changed" if pins_a.get(n) != pins_b.get(n) else "same"]
                for n in dict.fromkeys([*pins_a, *pins_b])]
        parts.append(f'<section class="card"><h2 id="channels">channels</h2>'
                     f'{table(["channel", esc(before.label), esc(after.label), ""], rows)}</section>')
        parts.append(f'<section class="card"><h2 id="summary">what changed</h2>'
                     f'<p>{esc(describe_change(before, after))}</p></section>')
    if before is not None and after is not None and before_config is not None \
            and after_config is not None:
        text = "".join(difflib.unified_diff(
            before_config.splitlines(keepends=True), after_config.splitlines(keepends=True),
            f"{before.label}/{before.config_path}", f"{after.label}/{after.config_path}"))
        parts.append(f'<section class="card"><h2 id="config">config</h2>'
                     f'<pre>{esc(text) or "the same text"}</pre></section>')
    crumbs = ' › <a href="../index.html#applies">applies</a>'
    return page(f"Apply {step.apply_id}: {step.name}", "\n".join(parts), depth=1,
                generated=generated, crumbs=crumbs)
