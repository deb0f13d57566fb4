"""The channels layer: pinned commits that changed, with dates and commit counts from a checkout."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vmfleet.errors import UsageError, VmfleetError
from vmfleet.guix.store import ChannelPin

# --- channels --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelChange:
    name: str
    change: str                  # added, removed, updated, url-changed
    url_a: str | None
    url_b: str | None
    commit_a: str | None
    commit_b: str | None
    date_a: str | None = None    # committer dates, ISO 8601, when a clone knows them
    date_b: str | None = None
    relation: str = "unknown"    # descends (B is newer), ancestor (B is older), diverged, unknown
    ahead: int | None = None     # commits in B that are not in A
    behind: int | None = None    # commits in A that are not in B


def diff_channels(a: Sequence[ChannelPin], b: Sequence[ChannelPin],
                  repos: Mapping[str, Path] | None = None, *,
                  discover: bool = True) -> tuple[ChannelChange, ...]:
    from vmfleet.guix.channel_files import canonical_channel_url

    repos = dict(repos or {})
    by_a = {c.name: c for c in a}
    by_b = {c.name: c for c in b}
    changes = []
    for name in sorted(set(by_a) | set(by_b)):
        ca, cb = by_a.get(name), by_b.get(name)
        if ca is None or cb is None:
            changes.append(ChannelChange(
                name, "added" if ca is None else "removed", ca.url if ca else None,
                cb.url if cb else None, ca.commit if ca else None, cb.commit if cb else None))
            continue
        same_url = canonical_channel_url(ca.url) == canonical_channel_url(cb.url)
        if ca.commit == cb.commit:
            if not same_url:
                changes.append(ChannelChange(name, "url-changed", ca.url, cb.url, ca.commit,
                                             cb.commit))
            continue
        repo = repos.get(name)
        if repo is None and discover:
            repo = find_checkout(cb.url) or find_checkout(ca.url)
        info = commit_relation(repo, ca.commit, cb.commit) if repo else {}
        changes.append(ChannelChange(name, "updated", ca.url, cb.url, ca.commit, cb.commit,
                                     **info))
    return tuple(changes)


def git(repo: Path, *args: str):
    from vmfleet.tools.run import run

    return run(["git", "-C", str(repo), *args], check=False, timeout=120,
               env={"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})


def commit_relation(repo: Path, a: str | None, b: str | None) -> dict:
    """Dates of ``a`` and ``b`` in a local clone, and how they relate."""
    out: dict = {}
    if not a or not b:
        return out
    for key, commit in (("date_a", a), ("date_b", b)):
        res = git(repo, "show", "-s", "--format=%cI", f"{commit}^{{commit}}")
        if res.returncode == 0 and res.stdout.strip():
            out[key] = res.stdout.strip().splitlines()[-1]
    if "date_a" not in out or "date_b" not in out:
        return out
    if git(repo, "merge-base", "--is-ancestor", a, b).returncode == 0:
        out["relation"] = "descends"
    elif git(repo, "merge-base", "--is-ancestor", b, a).returncode == 0:
        out["relation"] = "ancestor"
    else:
        out["relation"] = "diverged"
    res = git(repo, "rev-list", "--left-right", "--count", f"{a}...{b}")
    if res.returncode == 0:
        left, right = res.stdout.split()
        out["behind"], out["ahead"] = int(left), int(right)
    return out


def find_checkout(url: str | None) -> Path | None:
    """Guix's own clone of a channel (~/.cache/guix/checkouts/*), if it has one."""
    from vmfleet.guix.channel_files import canonical_channel_url
    from vmfleet.tools.run import which

    if not url:
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "guix/checkouts"
    if not cache.is_dir():
        return None
    try:
        which("git")
    except VmfleetError:
        return None
    want = canonical_channel_url(url)
    for d in sorted(cache.iterdir()):
        if not (d / ".git").exists() and not (d / "HEAD").exists():
            continue
        res = git(d, "config", "--get", "remote.origin.url")
        if res.returncode == 0 and canonical_channel_url(res.stdout.strip()) == want:
            return d
    return None


def parse_channel_repos(values: Iterable[str]) -> dict[str, Path]:
    """``--channel-repo NAME=PATH`` options."""
    repos = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"bad --channel-repo {v!r}", "write NAME=PATH, e.g. guix=~/src/guix")
        p = Path(path).expanduser()
        if not p.is_dir():
            raise UsageError(f"--channel-repo {name}: {p} is not a directory",
                             "give the path of a local git clone of the channel")
        repos[name] = p
    return repos
