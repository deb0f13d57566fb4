"""The files layer: files outside the store that were added, removed or changed."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from vmfleet.inspect.facts import FileFact

# --- files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileChange:
    path: str
    change: str                  # added, removed, changed
    what: tuple[str, ...]        # for changed: type, mode, owner, size, content, target
    a: FileFact | None
    b: FileFact | None
    diff: str | None = None      # unified diff of text content, with --files


def diff_files(a: Sequence[FileFact], b: Sequence[FileFact], *,
               content: bool = False) -> tuple[FileChange, ...]:
    by_a = {f.path: f for f in a}
    by_b = {f.path: f for f in b}
    changes = []
    for path in sorted(set(by_a) | set(by_b)):
        fa, fb = by_a.get(path), by_b.get(path)
        if fa is None or fb is None:
            change = "added" if fa is None else "removed"
            text_diff = _text_diff(fa, fb, path) if content else None
            changes.append(FileChange(path, change, (), fa, fb, text_diff))
            continue
        what = []
        if fa.kind != fb.kind:
            what.append("type")
        if fa.mode != fb.mode:
            what.append("mode")
        if (fa.uid, fa.gid) != (fb.uid, fb.gid):
            what.append("owner")
        if fa.kind == fb.kind == "file":
            if fa.size != fb.size:
                what.append("size")
            if fa.sha256 != fb.sha256:
                what.append("content")
        if fa.target != fb.target and fa.kind == fb.kind == "symlink":
            what.append("target")
        if what:
            text_diff = _text_diff(fa, fb, path) if content and "content" in what else None
            changes.append(FileChange(path, "changed", tuple(what), fa, fb, text_diff))
    return tuple(changes)


def _text_diff(fa: FileFact | None, fb: FileFact | None, path: str) -> str | None:
    def text_of(f: FileFact | None) -> str | None:
        if f is None:
            return ""
        if f.kind != "file":
            return None
        return f.text

    ta, tb = text_of(fa), text_of(fb)
    if ta is None or tb is None:
        return None
    return "".join(difflib.unified_diff(
        ta.splitlines(keepends=True), tb.splitlines(keepends=True),
        fromfile=f"a{path}" if fa else "/dev/null", tofile=f"b{path}" if fb else "/dev/null"))
