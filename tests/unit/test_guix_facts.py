"""docs/guix-facts.md and every Guix commit the repository names, checked against guix.git.

Set ``VMFLEET_GUIX_SOURCE`` to a clone of guix.git (a bare mirror is enough) to run these;
without it they are skipped. They check that each fact's file exists at its commit and holds
the cited text at the cited line; that every ``file@commit:line`` citation in the repository
names a file and lines that exist; that the dates of the pin and feature tables, and every
``COMMIT (YYYY-MM-DD)`` written in the repository, are the commits' dates; and that every
40-hex-digit commit in the code, tests and docs is a commit of guix.git, besides the
deliberately unknown ones listed in ``NOT_GUIX``.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "docs" / "guix-facts.md"
SOURCE = os.environ.get("VMFLEET_GUIX_SOURCE")
SCANNED = ("src", "tests", "docs", "bench", "systems", "scripts", "README.md")
SKIPPED_DIRS = {".venv", "__pycache__", ".git", "expected"}

# 40-hex strings that are deliberately not commits of guix.git, and why.
NOT_GUIX = {
    "0123456789abcdef0123456789abcdef01234567": "made up: the 'unknown commit' cases",
    "1234567890123456789012345678901234567890": "made up: a nonguix channel's commit",
    "dc4c48f10281007a0ab3541b8a64198c60c6d5b1": "the 2024-05 pin with its last digit "
                                                "changed: the 'object not found' case",
    "897c1a470da759236cc11798f4e0a5f7d4d59fbc": "nonguix's channel introduction (another "
                                                "repository)",
    "d988b2b31b9a51f081c88758649a2ff4064762de": "a sops-guix channel commit (another "
                                                "repository)",
}

pytestmark = pytest.mark.skipif(
    not SOURCE, reason="set VMFLEET_GUIX_SOURCE=/path/to/guix.git (a clone or bare mirror of "
                       "guix.git) to check docs/guix-facts.md and the commits the code names")

_CITE = re.compile(r"([\w.+/-]+\.(?:scm|cc|c|h|texi|sh|am|in|ac|m4))@([0-9a-f]{7,40}):(\d+)(?:-(\d+))?")
_HEX40 = re.compile(r"(?<![0-9a-zA-Z])[0-9a-f]{40}(?![0-9a-zA-Z])")
_HEX_DATE = re.compile(r"(?<![0-9a-zA-Z@/])([0-9a-f]{10,40})(?:\)|,)? \(?(\d{4}-\d\d-\d\d)\b")
_FACT_ROW = re.compile(r"^\| ([A-Z]\d+) \| (.+?) \| `([^`]+)` \| (`` .+? ``|`[^`]+`) \| (.+) \|$")
_TABLE_ROW = re.compile(r"^\| (.+?) \| `([0-9a-f]{40})` \| (\d{4}-\d\d-\d\d) \|$")


def _text_files():
    for top in SCANNED:
        p = ROOT / top
        paths = [p] if p.is_file() else sorted(p.rglob("*"))
        for f in paths:
            if f.is_file() and not SKIPPED_DIRS & set(f.relative_to(ROOT).parts):
                try:
                    yield f, f.read_text()
                except (UnicodeDecodeError, OSError):
                    continue


def _facts() -> list[tuple[str, str, str, int, str]]:
    out = []
    for line in FACTS.read_text().splitlines():
        m = _FACT_ROW.match(line)
        if m:
            path, commit, n = re.fullmatch(r"(.+)@([0-9a-f]+):(\d+)", m.group(3)).groups()
            text = m.group(4)
            text = text[3:-3] if text.startswith("`` ") else text[1:-1]
            out.append((m.group(1), path, commit, int(n), text.replace("\\|", "|")))
    return out


def _tables() -> list[tuple[str, str, str]]:
    return [m.groups() for line in FACTS.read_text().splitlines()
            if (m := _TABLE_ROW.match(line))]


def _citations() -> list[tuple[str, str, str, int, int]]:
    out = set()
    for f, text in _text_files():
        if f == FACTS:
            continue
        for m in _CITE.finditer(text):
            first = int(m.group(3))
            out.add((str(f.relative_to(ROOT)), m.group(1), m.group(2), first,
                     int(m.group(4) or first)))
    return sorted(out)


def _pins() -> list[str]:
    return sorted({h for _f, text in _text_files() for h in _HEX40.findall(text)})


def _hex_dates() -> list[tuple[str, str, str]]:
    out = {}
    for f, text in _text_files():
        for m in _HEX_DATE.finditer(text):
            out.setdefault((m.group(1), m.group(2)), str(f.relative_to(ROOT)))
    return sorted((h, d, f) for (h, d), f in out.items())


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", f"--git-dir={SOURCE}", *args], capture_output=True,
                          text=True)


@cache
def _lines(commit: str, path: str) -> list[str] | None:
    r = _git("show", f"{commit}:{path}")
    # split on newlines only: Guile sources hold form feeds (page breaks)
    return r.stdout.split("\n") if r.returncode == 0 else None


@cache
def _commit_date(commit: str) -> str | None:
    r = _git("log", "-1", "--format=%cs", f"{commit}^{{commit}}", "--")
    return r.stdout.strip() if r.returncode == 0 else None


def _norm(s: str) -> str:
    return " ".join(s.split())


def test_the_facts_file_has_rows():
    assert len(_facts()) >= 50 and len(_tables()) >= 30


def _when_checked(rows) -> list:
    """The rows to check (``rows()``): none without a guix.git, where the tests are skipped
    once each and the repository is not read."""
    return rows() if SOURCE else []


@pytest.mark.parametrize("key, path, commit, line, text", _when_checked(_facts),
                         ids=lambda v: v if isinstance(v, str) and re.fullmatch(r"[A-Z]\d+", v)
                         else "")
def test_each_fact_is_where_it_says(key, path, commit, line, text):
    lines = _lines(commit, path)
    assert lines is not None, f"{key}: {path} does not exist at {commit}"
    assert line <= len(lines), f"{key}: {path}@{commit} has {len(lines)} lines, not {line}"
    assert _norm(text) in _norm(lines[line - 1]), \
        f"{key}: {path}@{commit}:{line} is {lines[line - 1]!r}, not {text!r}"


@pytest.mark.parametrize("label, commit, date", _when_checked(_tables))
def test_each_table_commit_has_its_date(label, commit, date):
    assert _commit_date(commit) == date, f"{label}: {commit} is dated {_commit_date(commit)}"


def test_every_commit_the_facts_name_exists():
    named = set(re.findall(r"(?<![0-9a-zA-Z])[0-9a-f]{7,40}(?![0-9a-zA-Z])", FACTS.read_text()))
    named = {h for h in named if re.search(r"[a-f]", h) and re.search(r"\d", h)}
    missing = sorted(h for h in named if _commit_date(h) is None)
    assert not missing, f"docs/guix-facts.md names commits guix.git lacks: {missing}"


@pytest.mark.parametrize("where, path, commit, first, last", _when_checked(_citations))
def test_each_citation_in_the_repository_exists(where, path, commit, first, last):
    lines = _lines(commit, path)
    assert lines is not None, f"{where} cites {path}@{commit}, which does not exist"
    assert first <= last <= len(lines), \
        f"{where} cites {path}@{commit}:{first}-{last}; the file has {len(lines)} lines"


@pytest.mark.parametrize("commit", _when_checked(_pins))
def test_every_pin_is_a_guix_commit(commit):
    if commit in NOT_GUIX:
        assert _commit_date(commit) is None, f"{commit} is a guix commit after all"
        return
    assert _commit_date(commit) is not None, f"{commit} is not a commit of guix.git"


@pytest.mark.parametrize("commit, date, where", _when_checked(_hex_dates))
def test_every_commit_written_with_a_date_has_that_date(commit, date, where):
    assert _commit_date(commit) == date, \
        f"{where}: {commit} ({date}) is dated {_commit_date(commit)} in guix.git"
