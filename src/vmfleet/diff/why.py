"""Why each package row of a diff changed: channel commits, config lines, grafts, dependencies.

``explain(diff)`` answers, row by row:

- **channel commits** between the two pins of the channel: for the ``guix`` channel the
  commits whose subject names the package under Guix's conventions (vmfleet.guix.commits);
  for other channels (which follow conventions of their own) the commits that touched the file
  defining the package (``(name "NAME")``, found with ``git grep`` at the newer pin). The
  history is read from a clone the user already has (``--channel-repo NAME=DIR``, or the
  checkout ``guix time-machine`` keeps, see :func:`guix_checkout`) with one ``git log`` per
  channel; vmfleet never fetches. Without a clone the row says how to get the answer.
- **config lines**: a package the system profile asked for that was added or removed points to
  the line of the config (or of a recorded module or include) that names it;
- **grafts**: a profile entry whose store item is not the version the manifest names runs a
  replacement (guix/packages.scm@60c97924e95:1692, ``package->bag`` takes the replacement when
  grafting; the manifest keeps the package's own version, guix/profiles.scm@60c97924e95:396);
  the row says which version runs and which commit brought the replacement;
- **rebuilt without a version change**: the references recorded in the images' store
  databases lead to the dependencies that changed, and on to the root causes (a dependency
  whose version changed, or one rebuilt although none of its own references changed).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vmfleet.diff.channel_diff import git
from vmfleet.diff.package_diff import PackageChange, PackagesDiff
from vmfleet.diff.sides import Side
from vmfleet.guix.commits import Mention, mentions, version_matches
from vmfleet.guix.store import ChannelPin, StoreItem, compare_versions, item_name

GUIX_CHANNEL = "guix"
_FIELD = "\x1f"
_RECORD = "\x1e"


@dataclass(frozen=True)
class Commit:
    commit: str
    date: str          # committer date, YYYY-MM-DD
    subject: str
    channel: str
    kind: str          # add, update, remove, other (Guix's conventions), file (other channels)
    variable: str = ""
    version: str | None = None
    file: str | None = None     # for a channel read by files: the package's file it touched

    def line(self) -> str:
        return f'{self.channel} {self.commit[:11]} "{self.subject}" ({self.date})'


@dataclass(frozen=True)
class ConfigLine:
    file: str
    line: int
    sign: str          # + (added) or - (removed)
    what: str

    def text(self) -> str:
        return f"config {self.file}:{self.line} ({self.sign} {self.what})"


@dataclass(frozen=True)
class Graft:
    """A profile entry that runs a replacement: the manifest's version, and what runs."""

    side: str          # a or b
    declared: str
    runs: str
    commits: tuple[Commit, ...] = ()


@dataclass(frozen=True)
class Cause:
    """A dependency that changed, as a reason for a rebuild."""

    name: str
    change: str
    before: str
    after: str

    def text(self) -> str:
        if self.change in ("rebuilt", "changed") or self.before == self.after:
            return f"{self.name} {self.after or self.before} ({self.change})".replace("  ", " ")
        if self.change == "added":
            return f"{self.name} {self.after} (added)"
        if self.change == "removed":
            return f"{self.name} {self.before} (removed)"
        return f"{self.name} {self.before} → {self.after}"


@dataclass(frozen=True)
class Reason:
    name: str
    change: str
    commits: tuple[Commit, ...] = ()          # the commits that explain the row
    other_commits: tuple[Commit, ...] = ()    # further commits naming the package
    config: tuple[ConfigLine, ...] = ()
    grafts: tuple[Graft, ...] = ()
    inputs: tuple[Cause, ...] = ()            # changed direct references (rebuilt rows)
    roots: tuple[Cause, ...] = ()             # where the chain of changed references ends
    notes: tuple[str, ...] = ()               # what is unknown, and how to learn it


@dataclass(frozen=True)
class ChannelHistory:
    """What a channel's clone says about the range between two pins."""

    name: str
    repo: str | None
    commit_a: str | None
    commit_b: str | None
    commits: int = 0                  # commits in the range
    seconds: float = 0.0
    note: str | None = None           # why there is no history, and how to get it
    by_package: Mapping[str, tuple[Commit, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceLine:
    """Where a service added or removed is declared (the config, or a recorded module)."""

    type: str
    change: str
    line: ConfigLine | None


@dataclass(frozen=True)
class Why:
    reasons: tuple[Reason, ...]
    channels: tuple[ChannelHistory, ...]
    seconds: float
    services: tuple[ServiceLine, ...] = ()

    def reason(self, name: str) -> Reason | None:
        return next((r for r in self.reasons if r.name == name), None)


# --- where a channel's history is ------------------------------------------------------------


def guix_checkout(url: str, cache: Path | None = None) -> Path:
    """The directory ``guix time-machine`` (and ``guix pull``) clones URL into.

    guix/git.scm@43770a9d8ac:131-141 (``url-cache-directory``): the RFC 4648 base32 (lower
    case, unpadded: guix/base32.scm@43770a9d8ac:188 ``bytevector->base32-string``) of the
    SHA-256 of the URL as the channel spells it, below ``%repository-cache-directory``,
    which is ``(cache-directory)/checkouts`` (guix/git.scm@43770a9d8ac:83-85), i.e.
    ``$XDG_CACHE_HOME/guix/checkouts`` or ``~/.cache/guix/checkouts`` (guix/utils.scm
    ``cache-directory``)."""
    if cache is None:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        cache = Path(base) / "guix" / "checkouts"
    digest = hashlib.sha256(url.encode()).digest()
    return cache / base64.b32encode(digest).decode().lower().rstrip("=")


def find_repo(pin_a: ChannelPin | None, pin_b: ChannelPin | None,
              repos: Mapping[str, Path], discover: bool) -> Path | None:
    """The clone to read a channel's history from: the one given, else Guix's own checkout."""
    from vmfleet.diff.channel_diff import find_checkout

    pin = pin_b or pin_a
    if pin is None:
        return None
    name = pin.name
    if name in repos:
        return repos[name]
    if not discover:
        return None
    for pin in (pin_b, pin_a):
        if pin is None or not pin.url:
            continue
        d = guix_checkout(pin.url)
        if d.is_dir() and ((d / ".git").exists() or (d / "HEAD").exists()):
            return d
    for pin in (pin_b, pin_a):
        found = find_checkout(pin.url) if pin else None
        if found:
            return found
    return None


def _how_to_get(name: str, url: str | None) -> str:
    clone = f"git clone {url} DIR" if url else "clone the channel into DIR"
    return (f"no clone of channel {name}: {clone} and pass --channel-repo {name}=DIR, or run "
            f"'guix time-machine -C CHANNELS -- describe' once (it keeps a checkout in "
            f"~/.cache/guix/checkouts)")


def _has_commit(repo: Path, commit: str) -> bool:
    return git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


def channel_history(name: str, pin_a: ChannelPin | None, pin_b: ChannelPin | None,
                    repo: Path | None, packages: Iterable[str]) -> ChannelHistory:
    """One ``git log`` of the range A..B (the commits B has that A lacks), indexed by package."""
    a, b = (pin_a.commit if pin_a else None), (pin_b.commit if pin_b else None)
    pin = pin_b or pin_a
    url = pin.url if pin else None
    if not a or not b:
        return ChannelHistory(name, None, a, b, note=f"channel {name} is pinned on one side only")
    if a == b:
        return ChannelHistory(name, str(repo) if repo else None, a, b)
    if repo is None:
        return ChannelHistory(name, None, a, b, note=_how_to_get(name, url))
    for c in (a, b):
        if not _has_commit(repo, c):
            return ChannelHistory(name, str(repo), a, b, note=(
                f"the clone {repo} of channel {name} lacks commit {c[:11]}: update it "
                f"yourself (git -C {repo} fetch) — vmfleet does not fetch"))
    started = time.monotonic()
    wanted = set(packages)
    if name == GUIX_CHANNEL:
        by_package, count = _guix_commits(repo, name, a, b, wanted)
    else:
        by_package, count = _file_commits(repo, name, a, b, wanted)
    return ChannelHistory(name, str(repo), a, b, count, time.monotonic() - started,
                          by_package=by_package)


def _log(repo: Path, *args: str) -> str:
    res = git(repo, "log", "--no-color", f"--format={_RECORD}%H{_FIELD}%cs{_FIELD}%s", *args)
    if res.returncode != 0:
        return ""
    return res.stdout


def _guix_commits(repo: Path, channel: str, a: str, b: str, wanted: set[str]
                  ) -> tuple[dict[str, tuple[Commit, ...]], int]:
    out: dict[str, list[Commit]] = {}
    count = 0
    for record in _log(repo, f"{a}..{b}").split(_RECORD):
        if not record.strip():
            continue
        count += 1
        commit, date, subject = (record.rstrip("\n").split(_FIELD) + ["", ""])[:3]
        for m in mentions(subject):
            if m.package in wanted:
                out.setdefault(m.package, []).append(_commit(commit, date, subject, channel, m))
    return {k: tuple(reversed(v)) for k, v in out.items()}, count   # oldest first


def _commit(commit: str, date: str, subject: str, channel: str, m: Mention) -> Commit:
    return Commit(commit, date, subject, channel, m.kind, m.variable, m.version)


def _file_commits(repo: Path, channel: str, a: str, b: str, wanted: set[str]
                  ) -> tuple[dict[str, tuple[Commit, ...]], int]:
    """A channel with conventions of its own: the commits that touched each package's file."""
    files: dict[str, set[str]] = {}
    if wanted:
        args = ["grep", "-l", "-F"]
        for n in sorted(wanted):
            args += ["-e", f'(name "{n}")']
        res = git(repo, *args, b)
        for line in res.stdout.splitlines() if res.returncode == 0 else ():
            path = line.split(":", 1)[1] if ":" in line else line
            text = git(repo, "show", f"{b}:{path}").stdout
            for n in wanted:
                if f'(name "{n}")' in text:
                    files.setdefault(path, set()).add(n)
    out: dict[str, list[Commit]] = {}
    count = 0
    log = _log(repo, "--name-only", f"{a}..{b}")
    for record in log.split(_RECORD):
        if not record.strip():
            continue
        count += 1
        head, _, touched = record.partition("\n")
        commit, date, subject = (head.split(_FIELD) + ["", ""])[:3]
        for path in touched.split():
            for n in files.get(path, ()):
                out.setdefault(n, []).append(Commit(commit, date, subject, channel, "file",
                                                    file=path))
    return {k: tuple(reversed(v)) for k, v in out.items()}, count


# --- grafts ----------------------------------------------------------------------------------


def grafts_of(side: str, facts, names: Iterable[str]) -> dict[str, Graft]:
    """Profile entries of ``names`` whose store item is another version than the manifest's."""
    wanted = set(names)
    out: dict[str, Graft] = {}
    if facts is None:
        return out
    for p in facts.packages:
        key = p.name if p.output in ("out", "") else f"{p.name}:{p.output}"
        if key not in wanted:
            continue
        runs = item_name(p.path.rsplit("/", 1)[-1][33:]).version
        if runs and runs != p.version:
            out[key] = Graft(side, p.version, runs)
    return out


# --- the whole explanation -------------------------------------------------------------------


def explain(a: Side, b: Side, packages: PackagesDiff, config=None, *,
            repos: Mapping[str, Path] | None = None, discover: bool = True) -> Why:
    """A :class:`Reason` for every package row of ``packages``."""
    started = time.monotonic()
    repos = dict(repos or {})
    names = {c.name.split(":", 1)[0] for c in packages.changes}
    histories = _histories(a, b, repos, discover, names)
    guix = next((h for h in histories if h.name == GUIX_CHANNEL), None)
    items_a = {i.path: i for i in (a.facts.items if a.facts else ())}
    items_b = {i.path: i for i in (b.facts.items if b.facts else ())}
    by_path = {}
    for c in packages.changes:
        for p in (*c.paths_a, *c.paths_b):
            by_path[p] = c
    grafts_a = grafts_of("a", a.facts, (c.name for c in packages.changes))
    grafts_b = grafts_of("b", b.facts, (c.name for c in packages.changes))
    reasons = []
    for c in packages.changes:
        base = c.name.split(":", 1)[0]
        versioned = any([*c.versions_a, *c.versions_b])
        # An item without a version (system, etc, profile, boot, …) is not a package: a
        # subject such as "gnu: system: …" names a module, not it.
        commits, others = _commits_for(c, histories, base) if versioned else ((), ())
        grafts = tuple(_graft_commits(g, histories, base)
                       for g in (grafts_a.get(c.name), grafts_b.get(c.name)) if g)
        notes = []
        if versioned and not any(h.by_package.get(base) for h in histories):
            notes += [h.note for h in histories if h.note]
            read = [h for h in histories if h.note is None and h.repo and h.commits]
            if read and c.change in ("upgraded", "downgraded", "changed", "removed"):
                notes.append(f"no commit between the pins names {base} ("
                             + ", ".join(f"{h.name}: {h.commits} commits read" for h in read)
                             + "); another channel, or a package of another name, provides it")
        inputs: tuple[Cause, ...] = ()
        roots: tuple[Cause, ...] = ()
        if c.change in ("rebuilt", "changed"):     # no version change: what caused it?
            inputs = _changed_inputs(c, items_b, by_path) or _changed_inputs(
                c, items_a, by_path, side="a")
            roots = _roots(c, items_a, items_b, by_path)
            if not inputs and not versioned:
                notes.append("made from the config, channels or files the system declares "
                             "(not a package): its own inputs changed")
            elif not inputs and not commits and guix is not None and guix.note is None:
                notes.append("no runtime reference changed and no commit names it: a "
                             "build-time input (compiler, build system) changed")
        reasons.append(Reason(
            name=c.name, change=c.change, commits=commits, other_commits=others,
            config=_config_lines(c, a, b, config), grafts=grafts, inputs=inputs,
            roots=tuple(r for r in roots if r not in inputs) if inputs else (),
            notes=tuple(dict.fromkeys(notes))))
    services = tuple(_service_line(sc, a, b) for sc in (config.services if config else ())
                     if sc.change in ("added", "removed"))
    return Why(tuple(reasons), tuple(histories), time.monotonic() - started, services)


def _service_line(sc, a: Side, b: Side) -> ServiceLine:
    side, sign = (b, "+") if sc.change == "added" else (a, "-")
    found = find_lines(side, sc.type)
    return ServiceLine(sc.type, sc.change,
                       ConfigLine(found[0][0], found[0][1], sign, sc.type) if found else None)


def _histories(a: Side, b: Side, repos, discover, names) -> list[ChannelHistory]:
    pins_a = {p.name: p for p in a.channels or ()}
    pins_b = {p.name: p for p in b.channels or ()}
    out = []
    for name in sorted(set(pins_a) | set(pins_b), key=lambda n: (n != GUIX_CHANNEL, n)):
        pa, pb = pins_a.get(name), pins_b.get(name)
        repo = find_repo(pa, pb, repos, discover)
        out.append(channel_history(name, pa, pb, repo, names))
    if not out:
        out.append(ChannelHistory(GUIX_CHANNEL, None, None, None,
                                  note="the channels are unknown (no provenance)"))
    return out


def _commits_for(c: PackageChange, histories, base: str
                 ) -> tuple[tuple[Commit, ...], tuple[Commit, ...]]:
    found = [x for h in histories for x in h.by_package.get(base, ())]
    own = [x for x in found if "/" not in x.variable]   # not a replacement's commits
    if c.change in ("upgraded", "downgraded", "changed"):
        lo, hi = _newest(c.versions_a), _newest(c.versions_b)
        if compare_versions(lo, hi) > 0:
            lo, hi = hi, lo
        main = [x for x in own if x.kind == "add" or (
            x.kind == "update" and x.version and compare_versions(x.version, lo) > 0
            and compare_versions(x.version, hi) <= 0)]
    elif c.change == "added":
        main = [x for x in own if x.kind == "add"]
    elif c.change == "removed":
        main = [x for x in own if x.kind == "remove"]
    else:                       # rebuilt: every commit that names it explains it
        main = list(own)
    # Updates in version order (merged branches interleave them in the log), dates break ties.
    ordered = sorted(main, key=lambda x: (x.kind != "add", _version_sort(x.version), x.date))
    return tuple(ordered), tuple(x for x in own if x not in main)


def _version_sort(version: str | None):
    import functools

    return functools.cmp_to_key(compare_versions)(version or "")


def _newest(versions) -> str:
    best = ""
    for v in versions:
        if compare_versions(v, best) > 0:
            best = v
    return best


def _graft_commits(g: Graft, histories, base: str) -> Graft:
    """The commits of the replacement (``NAME/…``) that brought the version that runs."""
    variants = [x for h in histories for x in h.by_package.get(base, ()) if "/" in x.variable]
    match = [x for x in variants if x.kind == "update" and x.version
             and version_matches(x.version, g.runs)]
    if g.side == "a":
        match = []          # the older image's graft came before the range
    return Graft(g.side, g.declared, g.runs, tuple(match[-1:]) if match else ())


def _label(c: PackageChange, side: str) -> str:
    vs = c.versions_b if side == "b" else c.versions_a
    return ", ".join(dict.fromkeys(vs)) if vs else ""


def _cause(c: PackageChange) -> Cause:
    return Cause(c.name, c.change, _label(c, "a"), _label(c, "b"))


def _changed_inputs(c: PackageChange, items: Mapping[str, StoreItem], by_path, side="b"
                    ) -> tuple[Cause, ...]:
    paths = c.paths_b if side == "b" else c.paths_a
    found: dict[str, Cause] = {}
    for p in paths:
        item = items.get(p)
        for ref in item.references if item else ():
            other = by_path.get(ref)
            if other is not None and other is not c:
                found.setdefault(other.name, _cause(other))
    return tuple(sorted(found.values(), key=lambda x: x.name))


def _roots(c: PackageChange, items_a, items_b, by_path) -> tuple[Cause, ...]:
    """Follow changed references down to changes that have no changed reference of their own
    (or whose version changed): those are the root causes."""
    roots: dict[str, Cause] = {}
    seen = {c.name}
    todo = [c]
    while todo:
        cur = todo.pop()
        deps = [by_path[r] for p in cur.paths_b for r in
                (items_b[p].references if p in items_b else ()) if r in by_path]
        deps += [by_path[r] for p in cur.paths_a for r in
                 (items_a[p].references if p in items_a else ()) if r in by_path]
        deps = [d for d in dict.fromkeys(deps) if d is not cur]
        if cur is not c and (cur.change not in ("rebuilt", "changed") or not deps):
            roots.setdefault(cur.name, _cause(cur))
            continue
        for d in deps:
            if d.name not in seen:
                seen.add(d.name)
                todo.append(d)
    return tuple(sorted(roots.values(), key=lambda x: x.name))


# --- config lines ----------------------------------------------------------------------------

_COMMENT = re.compile(r";.*$")


def _config_lines(c: PackageChange, a: Side, b: Side, config) -> tuple[ConfigLine, ...]:
    if c.change not in ("added", "removed") or config is None:
        return ()
    base = c.name.split(":", 1)[0]
    listed = config.packages_added if c.change == "added" else config.packages_removed
    if not any(_names_package(x, base) for x in listed):
        return ()
    side = b if c.change == "added" else a
    sign = "+" if c.change == "added" else "-"
    found = find_lines(side, base)
    return tuple(ConfigLine(f, n, sign, base) for f, n in found[:1])


def _names_package(listed: str, name: str) -> bool:
    return re.search(rf'(?<![\w\-/]){re.escape(name)}(?![\w\-/])', listed) is not None


def find_lines(side: Side, word: str) -> list[tuple[str, int]]:
    """Where ``word`` appears as a token in the side's config (comments skipped), then in the
    other Scheme files recorded with it (modules, includes)."""
    pattern = re.compile(rf'(?<![\w\-/]){re.escape(word)}(?![\w\-/])')
    texts = [(side.config_name, side.config_text or "")]
    texts += [(path, data) for path, data in sorted((side.input_texts or {}).items())
              if path != side.config_name]
    out = []
    for path, text in texts:
        for n, line in enumerate(text.splitlines(), 1):
            if pattern.search(_COMMENT.sub("", line)):
                out.append((Path(path).name if path == side.config_name else path, n))
    return out
