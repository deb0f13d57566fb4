"""The inputs layer: the files a generation's build reads besides its config (modules,
included and loaded files, local files, files read while the config is evaluated), added,
removed or changed between two generations, with a unified diff of text files."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

MAX_DIFF_BYTES = 256 * 1024     # larger files: sizes and hashes only


@dataclass(frozen=True)
class InputFile:
    """One recorded input of a generation (the config is the config layer's)."""

    path: str
    role: str                   # module, include, load, local-file, read
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class InputChange:
    path: str
    role: str                   # b's role (a's when removed)
    change: str                 # added, removed, changed
    size_a: int | None
    size_b: int | None
    sha256_a: str | None
    sha256_b: str | None
    diff: str | None = None     # unified diff when both sides are text
    added_lines: int = 0
    removed_lines: int = 0

    @property
    def words(self) -> str:
        """How ``generations`` and the human diff say it: ``module me/base.scm changed (+1 -1)``."""
        counts = (f" (+{self.added_lines} -{self.removed_lines})"
                  if self.diff is not None and self.change == "changed" else "")
        return f"{self.role} {self.path} {self.change}{counts}"


def inputs_of(files: Mapping[str, bytes], roles: Mapping[str, str]) -> tuple[InputFile, ...]:
    return tuple(InputFile(p, roles.get(p, "local-file"), c) for p, c in sorted(files.items()))


def diff_inputs(a: tuple[InputFile, ...], b: tuple[InputFile, ...]) -> tuple[InputChange, ...]:
    by_a = {f.path: f for f in a}
    by_b = {f.path: f for f in b}
    out = []
    for path in sorted(set(by_a) | set(by_b)):
        fa, fb = by_a.get(path), by_b.get(path)
        if fa is not None and fb is not None and fa.content == fb.content:
            continue
        change = "added" if fa is None else "removed" if fb is None else "changed"
        role = fb.role if fb is not None else fa.role if fa is not None else ""
        text = _unified(fa, fb, path)
        plus = minus = 0
        if text is not None:
            for line in text.splitlines():
                if line.startswith("+") and not line.startswith("+++"):
                    plus += 1
                elif line.startswith("-") and not line.startswith("---"):
                    minus += 1
        out.append(InputChange(path, role, change, len(fa.content) if fa else None,
                               len(fb.content) if fb else None, fa.sha256 if fa else None,
                               fb.sha256 if fb else None, text, plus, minus))
    return tuple(out)


def _text(f: InputFile | None) -> str | None:
    if f is None:
        return ""
    if len(f.content) > MAX_DIFF_BYTES or b"\0" in f.content:
        return None
    try:
        return f.content.decode()
    except UnicodeDecodeError:
        return None


def _unified(fa: InputFile | None, fb: InputFile | None, path: str) -> str | None:
    ta, tb = _text(fa), _text(fb)
    if ta is None or tb is None:
        return None
    return "".join(difflib.unified_diff(
        ta.splitlines(keepends=True), tb.splitlines(keepends=True),
        fromfile=f"a/{path}" if fa else "/dev/null", tofile=f"b/{path}" if fb else "/dev/null"))
