"""``--why`` and ``--content`` in words: the lines under a package row, the content section."""

from __future__ import annotations

from vmfleet.diff.content import ContentDiff, difference_line
from vmfleet.diff.why import Reason

FILES_SHOWN = 12
COMMITS_SHOWN = 5


def reason_lines(r: Reason) -> list[str]:
    """Why one row changed: config line, graft, commits, changed inputs, what is unknown."""
    lines: list[str] = []
    head = "; ".join(c.text() for c in r.config)
    for g in r.grafts:
        who = r.name.split(":", 1)[0]
        if g.side == "b":
            graft = f"runs the graft {who} {g.runs}" + (":" if g.commits else
                                                        " (no commit in the range brought it)")
        else:
            graft = f"before, ran the graft {who} {g.runs}"
        head = f"{head}; {graft}" if head else graft
        if g.side == "b":
            lines.append(head)
            lines += [c.line() for c in g.commits]
            head = ""
    if head:
        lines.append(head)
    shown = r.commits if len(r.commits) <= COMMITS_SHOWN else r.commits[-COMMITS_SHOWN:]
    if len(shown) < len(r.commits):
        lines.append(f"{len(r.commits) - len(shown)} earlier commits (--json lists them), then:")
    lines += [c.line() for c in shown]
    if r.other_commits:
        n = len(r.other_commits)
        lines.append(f"+{n} other commit{'s' if n > 1 else ''} naming {r.name} (--json lists them)")
    if r.inputs:
        lines.append("inputs changed: " + ", ".join(c.text() for c in r.inputs))
    if r.roots:
        lines.append("root causes: " + ", ".join(c.text() for c in r.roots))
    lines += r.notes
    return lines


def content_lines(c: ContentDiff, show_all: bool) -> list[str]:
    """Items that differ in content (files with sizes, ELF sections); with ``show_all`` also
    those that differ only in references and those identical."""
    out: list[str] = []
    order = ("content", "references", "identical") if show_all else ("content",)
    for verdict in order:
        for item in (i for i in c.items if i.verdict == verdict):
            word = {"content": "content", "references": "references only",
                    "identical": "identical"}[verdict]
            noun = "file" if item.files == 1 else "files"
            out.append(f"{word:<16} {item.name}  ({item.files} {noun} compared)")
            shown = [d for d in item.differences if verdict != "content"
                     or d.how != "references"]
            for d in shown[:FILES_SHOWN]:
                out.append("    " + difference_line(d))
            if len(shown) > FILES_SHOWN:
                out.append(f"    … {len(shown) - FILES_SHOWN} more (--json lists them)")
    if c.unpaired:
        out.append("not compared (more than one item of the name on a side): "
                   + ", ".join(c.unpaired))
    return out
