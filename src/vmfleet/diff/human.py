"""The diff rendered for people, with colour on a terminal."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from vmfleet.diff.channel_diff import ChannelChange
from vmfleet.diff.compare import Diff
from vmfleet.diff.config_diff import ConfigDiff
from vmfleet.diff.file_diff import FileChange
from vmfleet.diff.input_diff import InputChange
from vmfleet.diff.package_diff import PackagesDiff
from vmfleet.guix.store import STORE
from vmfleet.inspect.report import describe_file, file_mode
from vmfleet.names import escape
from vmfleet.units import human_size

COLOURS = {"added": "32", "removed": "31", "upgraded": "36", "downgraded": "35",
           "rebuilt": "33", "changed": "33", "updated": "36", "reconfigured": "33",
           "url-changed": "33", "heading": "1"}


def _paint(text: str, kind: str, colour: bool) -> str:
    code = COLOURS.get(kind)
    if not colour or not code:
        return text
    return f"\x1b[{code}m{text}\x1b[0m"


def _short(commit: str | None) -> str:
    return commit[:10] if commit else "(none)"


def render(d: Diff, *, colour: bool = False) -> str:
    """The human report: a heading per layer, one line per change."""
    out: list[str] = [
        f"--- a: {escape(d.a.label)}" + (f"  ({escape(d.a.system)})" if d.a.system else ""),
        f"+++ b: {escape(d.b.label)}" + (f"  ({escape(d.b.system)})" if d.b.system else ""),
    ]
    out += [f"note: {escape(n)}" for n in (*d.a.notes, *d.b.notes)]
    if d.content is not None:
        from vmfleet.diff.content import summary_line

        out.append(summary_line(d.content))
    elif d.content_skipped:
        out.append(f"--why/--content skipped: {d.content_skipped}")
    skipped = {s.layer: s.reason for s in d.skipped}

    def heading(name: str, extra: str = "") -> None:
        out.append("")
        out.append(_paint(name, "heading", colour) + (f"  {extra}" if extra else ""))

    for layer in d.layers:
        if layer in skipped:
            heading(layer, f"skipped: {skipped[layer]}")
            continue
        if layer == "channels":
            heading("channels", "" if d.channels else "same")
            for c in d.channels or ():
                out.append("  " + _channel_line(c, colour))
        elif layer == "config":
            cfg = d.config
            assert cfg is not None  # the layer was compared
            heading("config", "same" if cfg.equal else "")
            out += ["  " + line for line in _config_lines(cfg, colour, d.why)]
        elif layer == "inputs":
            heading("inputs", "" if d.inputs else "same")
            for change in d.inputs or ():
                out.append("  " + _input_line(change, colour))
                if change.diff:
                    out += ["    " + ln for ln in change.diff.rstrip("\n").split("\n")]
        elif layer == "packages":
            p = d.packages
            assert p is not None  # the layer was compared
            extra = (f"{p.items_a} → {p.items_b} items, {human_size(p.size_a)} → "
                     f"{human_size(p.size_b)}")
            if p.size_delta is not None:
                extra += f" ({human_size(p.size_delta, signed=True)})"
            if p.equal:
                extra += ", same"
            heading("packages", extra)
            out += ["  " + line for line in _package_lines(p, colour, d.why)]
            if d.show_all:
                out += [f"  {'unchanged':<10} {n}  {v}" for n, v in p.unchanged_names]
            if d.content is not None:
                from vmfleet.diff.reasons_text import content_lines

                heading("content", f"{len(d.content.items)} items with the same name and "
                                   "another hash, read from both images")
                out += ["  " + line for line in content_lines(d.content, d.show_all)]
        elif layer == "files":
            heading("files", "" if d.files else "same")
            singles, moved = _group_retargets(d.files or ())
            for f in singles:
                out.append("  " + _file_line(f, colour))
                if f.diff:
                    out += ["    " + escape(ln) for ln in f.diff.rstrip("\n").split("\n")]
            for (old, new), links in moved.items():
                out.append("  " + _retarget_line(old, new, links, colour))
        if layer == "config" and d.config and d.config.text_diff:
            out += ["    " + escape(ln) for ln in d.config.text_diff.rstrip("\n").split("\n")]
    return "\n".join(out) + "\n"


def _input_line(c: InputChange, colour: bool) -> str:
    """``changed    module  src/me/base.scm  (+1 -1)  812 B → 830 B``"""
    word = _paint(f"{c.change:<10}", c.change, colour)
    sizes = " → ".join(human_size(x) for x in (c.size_a, c.size_b) if x is not None)
    counts = f"  (+{c.added_lines} -{c.removed_lines})" if c.diff is not None \
        and c.change == "changed" else ""
    sha = (c.sha256_b or c.sha256_a or "")[:16]
    return f"{word} {c.role:<10} {c.path}{counts}  {sizes}  sha256 {sha}"


def _channel_line(c: ChannelChange, colour: bool) -> str:
    word = _paint(f"{c.change:<10}", c.change, colour)
    if c.change in ("added", "removed"):
        commit = c.commit_b if c.change == "added" else c.commit_a
        url = c.url_b if c.change == "added" else c.url_a
        return f"{word} {escape(c.name)}  {escape(_short(commit))}  {escape(url or '')}"
    if c.change == "url-changed":
        return f"{word} {escape(c.name)}  {escape(c.url_a or '')} → {escape(c.url_b or '')}"
    line = (f"{word} {escape(c.name)}  {escape(_short(c.commit_a))} → "
            f"{escape(_short(c.commit_b))}")
    details = []
    if c.date_a and c.date_b:
        details.append(f"{c.date_a[:10]} → {c.date_b[:10]}")
    if c.relation == "descends":
        details.append(f"{c.ahead} commits forward")
    elif c.relation == "ancestor":
        details.append(f"DOWNGRADE: {c.behind} commits back")
    elif c.relation == "diverged":
        details.append(f"diverged: {c.ahead} new, {c.behind} dropped")
    if details:
        line += "  (" + ", ".join(details) + ")"
    return line


def _config_lines(cfg: ConfigDiff, colour: bool, why=None) -> list[str]:
    lines: list[str] = []
    if cfg.equal:
        return lines
    if not cfg.structural:
        lines.append(_paint("changed   ", "changed", colour)
                     + " text (not readable structurally; see --text)")
        return lines
    for f in cfg.fields:
        lines.append(f"{_paint('changed   ', 'changed', colour)} field {f.field}: "
                     f"{escape(_change_text(f.before, f.after))}")
    for p in cfg.packages_added:
        lines.append(f"{_paint('added     ', 'added', colour)} package {escape(p)}")
    for p in cfg.packages_removed:
        lines.append(f"{_paint('removed   ', 'removed', colour)} package {escape(p)}")
    for s in cfg.services:
        what = s.type if s.kind == "service" else f"{s.type} ({s.kind})"
        line = f"{_paint(f'{s.change:<10}', s.change, colour)} service {what}"
        if s.change == "reconfigured":
            line += f": {escape(_change_text(s.before, s.after))}"
        where = next((x.line for x in (why.services if why else ())
                      if x.type == s.type and x.change == s.change and x.line), None)
        if where is not None:
            line += f"  ({where.file}:{where.line})"
        lines.append(line)
    if not (cfg.fields or cfg.packages_added or cfg.packages_removed or cfg.services):
        lines.append(_paint("changed   ", "changed", colour)
                     + " text only (comments or layout; same declaration)")
    return lines


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[()]|[^\s()"]+')


def _change_text(before: str | None, after: str | None, limit: int = 60) -> str:
    """``before → after`` for short values; for long ones the part that differs, as a word
    diff (``… (targets '("/dev/[-vda-]{+sda+}") …``), with a few tokens of context: the
    first characters of two long values are often the same, so clipping hides the change."""
    if before is None or after is None or before == "" or after == "" or \
            (len(before) <= limit and len(after) <= limit):
        return f"{_clip(before, limit)} → {_clip(after, limit)}"
    ta, tb = list(_TOKEN.finditer(before)), list(_TOKEN.finditer(after))
    sm = difflib.SequenceMatcher(None, [t.group() for t in ta], [t.group() for t in tb],
                                 autojunk=False)
    ops = sm.get_opcodes()

    def text(tokens, i, j):
        return tokens[i].string[tokens[i].start():tokens[j - 1].end()] if j > i else ""

    context, parts = 3, []
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            first, last = n == 0, n == len(ops) - 1
            if first and i2 - i1 > context:
                parts.append("… " + text(ta, i2 - context, i2))
            elif last and i2 - i1 > context:
                parts.append(text(ta, i1, i1 + context) + " …")
            elif not first and not last and i2 - i1 > 2 * context:
                parts.append(text(ta, i1, i1 + context) + " … " + text(ta, i2 - context, i2))
            else:
                parts.append(text(ta, i1, i2))
            continue
        if i2 > i1:
            parts.append("[-" + text(ta, i1, i2) + "-]")
        if j2 > j1:
            parts.append("{+" + text(tb, j1, j2) + "+}")
    return " ".join(parts)


def _clip(text: str | None, limit: int = 60) -> str:
    if text is None:
        return "(none)"
    if text == "":
        return "(default)"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _versions(vs: Sequence[str]) -> str:
    shown = [v or "ε" for v in dict.fromkeys(vs)]
    return ", ".join(shown) if shown else "∅"


def _package_lines(p: PackagesDiff, colour: bool, why=None) -> list[str]:
    versioned = [c for c in p.changes
                 if not (c.change in ("rebuilt", "changed")
                         and not any([*c.versions_a, *c.versions_b]))]
    unversioned = [c for c in p.changes if c not in versioned]
    width = max((len(c.name) + (1 if c.requested else 0) for c in versioned), default=0)
    lines = []

    def versions_of(c) -> str:
        if c.change == "added":
            text = _versions(c.versions_b)
        elif c.change in ("removed", "rebuilt"):
            text = _versions(c.versions_a)
        else:
            text = f"{_versions(c.versions_a)} → {_versions(c.versions_b)}"
        if c.grafted and why is None:     # with --why, the reason lines say it
            runs = {"added": _versions(c.runs_b), "removed": _versions(c.runs_a)}.get(
                c.change, f"{_versions(c.runs_a)} → {_versions(c.runs_b)}")
            text += f" (runs {runs})"
        return escape(text)

    # The size column stays aligned: the versions column is as wide as its widest entry.
    vwidth = max([24, *(len(versions_of(c)) for c in versioned)])
    for c in versioned:
        name = escape((c.name + ("*" if c.requested else "")).ljust(width))
        versions = versions_of(c)
        lines.append(f"{_paint(f'{c.change:<10}', c.change, colour)} {name}  "
                     f"{versions:<{vwidth}} {human_size(c.size_delta, signed=True):>12}")
        if why is not None:
            from vmfleet.diff.reasons_text import reason_lines

            reason = why.reason(c.name)
            lines += [" " * 11 + r for r in (reason_lines(reason) if reason else [])]
    if unversioned:
        delta = sum(c.size_delta or 0 for c in unversioned)
        names = ", ".join(escape(c.name) for c in unversioned[:8])
        if len(unversioned) > 8:
            names += f", … ({len(unversioned) - 8} more)"
        lines.append(f"{_paint('rebuilt   ', 'rebuilt', colour)} {len(unversioned)} items "
                     f"without a version: {names}  ({human_size(delta, signed=True)})")
        if why is not None:
            from vmfleet.diff.reasons_text import reason_lines

            for c in unversioned:
                reason = why.reason(c.name)
                shown = reason_lines(reason) if reason else []
                if shown:
                    lines.append(" " * 11 + f"{c.name}: " + shown[0])
                    lines += [" " * 13 + r for r in shown[1:]]
    if any(c.requested for c in p.changes):
        lines.append("(* = asked for by the system profile; the others are dependencies)")
    return lines


def _store_item(target: str | None) -> str | None:
    """The store item a symlink target lies in (``/gnu/store/HASH-NAME``), else None."""
    if not target or not target.startswith(STORE + "/"):
        return None
    return "/".join(target.split("/")[:4])


def _group_retargets(changes: Sequence[FileChange]
                     ) -> tuple[list[FileChange], dict[tuple[str, str], list[FileChange]]]:
    """Split off symlinks whose only change is pointing into another store item.

    An upgrade moves every link into a package (/bin/* into busybox, /etc/static into etc) at
    once; one line per moved pair of items says it, the packages layer says why.
    """
    singles: list[FileChange] = []
    moved: dict[tuple[str, str], list[FileChange]] = {}
    for c in changes:
        ta, tb = (c.a.target if c.a else None), (c.b.target if c.b else None)
        old, new = (_store_item(ta) if ta else None, _store_item(tb) if tb else None)
        if (c.change == "changed" and c.what == ("target",) and old and new and ta and tb
                and ta[len(old):] == tb[len(new):]):
            moved.setdefault((old, new), []).append(c)
        else:
            singles.append(c)
    # Moves of a single link read better as the link itself.
    for key in [k for k, v in moved.items() if len(v) == 1]:
        singles.append(moved.pop(key)[0])
    singles.sort(key=lambda c: c.path)
    return singles, moved


def _retarget_line(old: str, new: str, links: list[FileChange], colour: bool) -> str:
    word = _paint(f"{'changed':<10}", "changed", colour)
    examples = ", ".join(escape(c.path) for c in links[:3]) + (", …" if len(links) > 3 else "")
    return (f"{word} {len(links)} symlinks ({examples})  target "
            f"{escape(old.rsplit('/', 1)[1][33:])} → {escape(new.rsplit('/', 1)[1][33:])} "
            f"(same file in the new store item)")


def _file_line(c: FileChange, colour: bool) -> str:
    word = _paint(f"{c.change:<10}", c.change, colour)
    if c.change == "added" and c.b is not None:
        return f"{word} {escape(c.path)}  {escape(describe_file(c.b))}"
    if c.change == "removed" and c.a is not None:
        return f"{word} {escape(c.path)}  {escape(describe_file(c.a))}"
    parts = []
    a, b = c.a, c.b
    assert a is not None and b is not None  # a change has both sides
    for what in c.what:
        if what == "type":
            parts.append(f"type {a.kind} → {b.kind}")
        elif what == "mode":
            parts.append(f"mode {file_mode(a)} → {file_mode(b)}")
        elif what == "owner":
            parts.append(f"owner {a.uid}:{a.gid} → {b.uid}:{b.gid}")
        elif what == "size":
            parts.append(f"size {a.size} → {b.size}")
        elif what == "content":
            parts.append("content")
        elif what == "target":
            parts.append(f"target {escape(a.target or '')} → {escape(b.target or '')}")
    return f"{word} {escape(c.path)}  " + ", ".join(parts)
