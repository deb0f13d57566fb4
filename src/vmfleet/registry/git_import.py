"""Import generations from a git repository's history.

Each first-parent commit that changed a system's config, the channels file, or a local file the
config refers to becomes a generation dated at the commit date. Reading is done with two
long-lived git processes (``log --raw`` for what changed, ``cat-file --batch`` for contents),
so a 10,000-commit history imports in seconds.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vmfleet import timeutil
from vmfleet.errors import CommandFailed, SchemeError, UsageError, VmfleetError
from vmfleet.guix import os_config
from vmfleet.names import check_name
from vmfleet.registry import generations
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Inputs
from vmfleet.tools.run import kill_group, run, which

log = logging.getLogger("vmfleet.registry.git_import")


@dataclass(frozen=True)
class Commit:
    sha: str
    time: int
    subject: str
    changes: tuple[tuple[str, str], ...]     # (path, new blob sha or '' when deleted)


@dataclass(frozen=True)
class ImportResult:
    system: str
    commits_seen: int
    recorded: tuple[str, ...]                 # labels of new generations
    skipped: tuple[str, ...]                  # 'abc1234: reason' for commits that could not be read


class Blobs:
    """Reads git blobs through one ``git cat-file --batch`` process, and parses each once."""

    def __init__(self, repo: Path):
        self.proc = subprocess.Popen(["git", "-C", str(repo), "cat-file", "--batch"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     start_new_session=True)
        self.cache: dict[str, bytes] = {}
        self.parsed: dict[tuple[str, str], object] = {}

    def summary(self, sha: str, label: str) -> os_config.OsSummary:
        """The config's summary (a SchemeError is remembered and raised again)."""
        return self._parse(sha, "os", lambda: os_config.summarize_os(_text(self.get(sha), label), label))

    def pins(self, sha: str, label: str) -> tuple[dict, ...]:
        return self._parse(sha, "pins", lambda: generations.read_pins(_text(self.get(sha), label), label))

    def _parse(self, sha, kind, parse):
        key = (sha, kind)
        if key not in self.parsed:
            try:
                self.parsed[key] = parse()
            except VmfleetError as e:
                self.parsed[key] = e
        value = self.parsed[key]
        if isinstance(value, VmfleetError):
            raise value
        return value

    def get(self, sha: str) -> bytes:
        if sha in self.cache:
            return self.cache[sha]
        self.proc.stdin.write(sha.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) < 3:
            raise CommandFailed(f"git cat-file: cannot read object {sha}",
                                "is the repository intact? try 'git fsck'")
        size = int(header[2])
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)
        self.cache[sha] = data
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)


def _git(repo: Path, *args: str) -> str:
    return run(["git", "-C", str(repo), *args],
               hint=f"is {repo} a git repository with commits?").stdout


def repo_root(path: str | Path) -> Path:
    which("git")
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"{path} is not a directory", "give the path of a git checkout")
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel").strip())
    except CommandFailed:
        raise UsageError(f"{path} is not a git repository",
                         "run 'git init' there, or give the checkout's path") from None


def commits(repo: Path, paths: Iterable[str], since: str | None = None) -> list[Commit]:
    """First-parent commits, oldest first, that changed any of ``paths`` (repo-relative), made
    at or after ``since`` (a date as users write it, vmfleet.timeutil; compared here with the
    committer date, not by git's ``--since``, which reads a bare day as that day at the
    current time of day in the local zone)."""
    args = ["log", "--first-parent", "--diff-merges=first-parent", "--raw", "--no-abbrev",
            "--no-renames", "--reverse", "--format=%x01%H %ct %s"]
    start = timeutil.parse_user_time(timeutil.parse_date(since, "--since")).timestamp() if since else None
    out = _git(repo, *args, "--", *sorted(set(paths)))
    result = []
    for chunk in out.split("\x01")[1:]:
        head, _, body = chunk.partition("\n")
        sha, ctime, subject = (head.split(" ", 2) + [""])[:3]
        changes = []
        for line in body.splitlines():
            if not line.startswith(":"):
                continue
            meta, _, path = line.partition("\t")
            fields = meta.split()
            new_sha = "" if fields[4].startswith("D") else fields[3]
            changes.append((path, new_sha))
        if start is None or int(ctime) >= start:
            result.append(Commit(sha, int(ctime), subject, tuple(changes)))
    return result


def tree_state(repo: Path, commit: str, paths: Iterable[str]) -> dict[str, str]:
    """path -> blob sha of ``paths`` at ``commit`` (absent paths left out)."""
    paths = sorted(set(paths))
    if not paths:
        return {}
    out = _git(repo, "ls-tree", "-r", "--full-tree", commit, "--", *paths)
    state = {}
    for line in out.splitlines():
        meta, _, path = line.partition("\t")
        state[path] = meta.split()[2]
    return state


def import_system(reg: Registry, repo: str | Path, system: str, config: str, channels: str, *,
                  since: str | None = None, allow_unpinned: bool = False) -> ImportResult:
    """Record a generation for each commit that changed the system's inputs."""
    check_name(system)
    root = repo_root(repo)
    config_rel = _repo_relative(root, repo, config)
    channels_rel = _repo_relative(root, repo, channels)
    blobs = Blobs(root)
    try:
        tracked = {config_rel, channels_rel}
        # Local files can appear in any version of the config: widen the path set until stable.
        for _ in range(5):
            history = commits(root, tracked, since)
            if not history:
                if since is None:  # no commit at all has these paths: a typo, not "nothing new"
                    _check_in_history(root, repo, [], {}, config_rel, channels_rel)
                return ImportResult(system, 0, (), ())
            start = _parent(root, history[0].sha)
            configs = [sha for c in history for path, sha in c.changes if path == config_rel and sha]
            if start:
                configs += tree_state(root, start, [config_rel]).values()
            widened = set(tracked)
            for sha in configs:
                widened |= _local_paths(blobs, sha, config_rel)
            if widened == tracked:
                break
            tracked = widened
        state = tree_state(root, start, tracked) if start else {}
        _check_in_history(root, repo, history, state, config_rel, channels_rel)
        with reg.write():  # one transaction: an import lands whole or not at all
            return _record_history(reg, system, config_rel, channels_rel, history, state, blobs,
                                   allow_unpinned)
    finally:
        blobs.close()


def _check_in_history(root: Path, repo, history: list[Commit], state: dict[str, str],
                      config_rel: str, channels_rel: str) -> None:
    """A config or channels path that is a file in no commit is a mistake: say so, rather than
    import nothing and succeed."""
    seen = set(state) | {path for c in history for path, sha in c.changes if sha}
    for rel in (config_rel, channels_rel):
        if rel not in seen:
            raise UsageError(f"{rel} is not a file in any commit of {root}",
                             f"give the path of a committed file, relative to {repo} "
                             "(e.g. systems/web.scm); 'git log --stat' lists them")


def _parent(root: Path, commit: str) -> str | None:
    result = run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{commit}^"], check=False)
    return result.stdout.strip() or None


def _record_history(reg, system, config_rel, channels_rel, history, state, blobs,
                    allow_unpinned) -> ImportResult:
    """Replay ``history`` over the tree ``state`` before it; record each readable version."""
    recorded, skipped = [], []
    for commit in history:
        for path, sha in commit.changes:
            if sha:
                state[path] = sha
            else:
                state.pop(path, None)
        if config_rel not in state or channels_rel not in state:
            continue  # the system does not exist yet at this commit, or was removed
        try:
            summary = blobs.summary(state[config_rel], f"{commit.sha[:7]}:{config_rel}")
            pins = blobs.pins(state[channels_rel], f"{commit.sha[:7]}:{channels_rel}")
            inputs = _inputs_at(state, config_rel, channels_rel, summary, blobs)
            gen, created = generations.record(
                reg, system, inputs, current_from=timeutil.from_epoch(commit.time),
                source="git", git_commit=commit.sha, message=commit.subject,
                allow_unpinned=allow_unpinned, analysis=generations.Analysis.of(pins, summary))
        except UsageError as e:  # includes SchemeError
            skipped.append(f"{commit.sha[:7]}: {e.message}")
            continue
        if created:
            recorded.append(gen.label)
    return ImportResult(system, len(history), tuple(recorded), tuple(skipped))


def _inputs_at(state: dict[str, str], config_rel: str, channels_rel: str,
               summary: os_config.OsSummary, blobs: Blobs) -> Inputs:
    config_text = _text(blobs.get(state[config_rel]), config_rel)
    channels_text = _text(blobs.get(state[channels_rel]), channels_rel)
    base = posixpath.dirname(config_rel)
    files = {}
    for rel in summary.local_files:
        norm = generations.safe_relpath(rel, config_rel)
        path = posixpath.join(base, norm) if base else norm
        if path not in state:
            raise UsageError(f"{config_rel}: local-file {rel!r} is not in the repository at this commit",
                             "commit the file next to the config")
        files[norm] = blobs.get(state[path])
    return Inputs(posixpath.basename(config_rel), config_text, channels_text, files)


def _local_paths(blobs: Blobs, config_sha: str, config_rel: str) -> set[str]:
    """Repo-relative paths of the local files a version of the config refers to."""
    base = posixpath.dirname(config_rel)
    try:
        rels = blobs.summary(config_sha, config_rel).local_files
    except VmfleetError:
        return set()
    out = set()
    for rel in rels:
        try:
            norm = generations.safe_relpath(rel, config_rel)
        except UsageError:
            continue  # _inputs_at reports it for the commits that use it
        out.add(posixpath.join(base, norm) if base else norm)
    return out


def _text(data: bytes, path: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise SchemeError(f"{path}: not a text file", "vmfleet reads Scheme text files") from None


def _repo_relative(root: Path, repo: str | Path, path: str) -> str:
    """``path`` as given on the command line (relative to ``repo``), relative to the repo root."""
    full = (Path(repo) / path).absolute()
    try:
        rel = full.resolve().relative_to(root.resolve())
    except ValueError:
        raise UsageError(f"{path} is outside the repository {root}",
                         "give paths inside the repository") from None
    return rel.as_posix()
