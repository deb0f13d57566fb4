"""HTML building blocks: escaping, the page frame, the status vocabulary, generic JSON views.

Every value that reaches a page goes through ``esc`` (or ``attr``): generation messages,
config text, file names and errors are untrusted text.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable

from vmfleet.report.style import CSS_NAME


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=False)


def attr(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# Each status: CSS class (its colour), the letter a heat-map cell shows, the words a legend and
# a hover say. The colour is never the only carrier: the letter and the words are text.
STATUSES = {
    "reproducible": ("ok", "R", "reproducible"),
    "image-differs": ("bytes", "B", "different bytes"),
    "drifted": ("drift", "D", "drifted"),
    "fails": ("fail", "F", "no longer builds"),
    "unchecked": ("unchecked", "?", "not checked"),
}


def badge(status: str) -> str:
    cls, letter, words = STATUSES[status]
    return f'<span class="badge s-{cls}"><span class="letter">{letter}</span> {esc(words)}</span>'


def legend() -> str:
    items = "".join(
        f'<li><span class="cell s-{cls}">{letter}</span> {esc(words)}</li>'
        for cls, letter, words in STATUSES.values())
    return (f'<ul class="legend" aria-label="legend">{items}'
            '<li><span class="cell s-na"></span> not yet recorded</li></ul>')


def page(title: str, body: str, *, depth: int, generated: str, crumbs: str = "") -> str:
    up = "../" * depth
    nav = f'<nav><a href="{up}index.html">Fleet report</a>{crumbs}</nav>'
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)} · vmfleet</title>\n"
        f"<link rel=\"stylesheet\" href=\"{up}{CSS_NAME}\">\n</head>\n<body>\n"
        f"<header>{nav}<h1>{esc(title)}</h1></header>\n<main>\n{body}\n</main>\n"
        f"<footer>Written by <code>vmfleet report</code> at {esc(generated)} from the registry."
        "</footer>\n</body>\n</html>\n")


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], *, cls: str = "") -> str:
    """A table of already-escaped cells."""
    head = "".join(f"<th scope=\"col\">{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>\n" for row in rows)
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>"


def short(value, n: int = 12) -> str:
    return esc(str(value)[:n]) if value else "–"


def json_view(value) -> str:
    """Any JSON value, generically: a list of objects as a table, an object as a definition
    list, long text as a preformatted block. A diff layer vmfleet adds later (an attribution,
    a content verdict) shows without a change here."""
    if isinstance(value, dict):
        if not value:
            return "<span class=\"muted\">none</span>"
        items = "".join(f"<dt>{esc(k)}</dt><dd>{json_view(v)}</dd>" for k, v in value.items())
        return f"<dl>{items}</dl>"
    if isinstance(value, list):
        if not value:
            return "<span class=\"muted\">none</span>"
        if all(isinstance(v, dict) for v in value):
            return _records(value)
        return ", ".join(_scalar(v) for v in value)
    if isinstance(value, str) and "\n" in value:
        return f"<pre>{esc(value)}</pre>"
    return _scalar(value)


def _is_text(value: object) -> bool:
    """A string of more than one line (shown whole, not in a cell)."""
    return isinstance(value, str) and "\n" in value


def _records(items: list[dict]) -> str:
    """A list of objects as a table: plain values first (path, name, change…), nested ones
    after as small lists, and long texts (a file's diff) on a full-width row under their item."""
    keys = list(dict.fromkeys(k for v in items for k in v))
    texts = [k for k in keys if any(_is_text(v.get(k)) for v in items)]
    keys = [k for k in keys if k not in texts]
    keys.sort(key=lambda k: (any(isinstance(v.get(k), (dict, list)) for v in items),
                             k not in ("path", "name")))
    head = "".join(f'<th scope="col">{esc(k)}</th>' for k in keys)
    body = []
    for v in items:
        cells = "".join(f"<td>{json_view(v.get(k)) if isinstance(v.get(k), dict) else _scalar(v.get(k))}</td>"
                        for k in keys)
        body.append(f"<tr>{cells}</tr>")
        for k in texts:
            if v.get(k):
                body.append(f'<tr class="text"><td colspan="{len(keys)}"><span class="muted">'
                            f"{esc(k)}</span><pre>{esc(v[k])}</pre></td></tr>")
    return (f'<div class="scroll"><table class="data"><thead><tr>{head}</tr></thead><tbody>'
            f'{"".join(body)}</tbody></table></div>')


def _scalar(value) -> str:
    if value is None:
        return "<span class=\"muted\">–</span>"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            return esc(", ".join("–" if v is None else str(v) for v in value))
        return f"<code>{esc(json.dumps(value, sort_keys=True))}</code>"
    if isinstance(value, str) and "\n" in value:
        return f"<pre>{esc(value)}</pre>"
    return esc(value)
