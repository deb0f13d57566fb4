"""Import generations from a git repository's history.

Each first-parent commit that changed a system's config, the channels file, or a local file the
config refers to becomes a generation dated at the commit date. Reading is done with two
long-lived git processes (``log --raw`` for what changed, ``cat-file --batch`` for contents),
so a 10,000-commit history imports in seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vmfleet import timeutil
from vmfleet.errors import CommandFailed, SchemeError, UsageError, VmfleetError
from vmfleet.guix import closure, input_files, os_config
from vmfleet.names import check_name
from vmfleet.registry import generations
from vmfleet.registry.db import Registry
from vmfleet.tools.run import kill_group, run, which

log = logging.getLogger("vmfleet.registry.git_import")


@dataclass(frozen=True)
class Commit:
    sha: str
    time: int
    subject: str
    changes: tuple[tuple[str, str], ...]     # (path, new blob sha or '' when deleted)
    modes: tuple[tuple[str, str], ...] = ()  # (path, new git mode) of the files it changed


@dataclass(frozen=True)
class ImportResult:
    system: str
    commits_seen: int
    recorded: tuple[str, ...]                 # labels of new generations
    skipped: tuple[str, ...]                  # 'abc1234: reason' for commits that could not be read
    read: int = 0                             # commits whose inputs were read (new or known)


PREFETCH_BATCH = 256   # object ids per cat-file request (41 bytes each: well under a pipe's 64 KiB)
PREFETCH_COMMITS = 256  # commits whose watched blobs are read ahead in one request


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
        data = self._answer()
        if data is None:
            raise CommandFailed(f"git cat-file: cannot read object {sha}",
                                "is the repository intact? try 'git fsck'")
        self.cache[sha] = data
        return data

    def prefetch(self, shas: Iterable[str]) -> None:
        """Read ``shas`` in one request: a round trip to git per blob costs more than parsing
        it. At most PREFETCH_BATCH ids are written before the answers are read, so the ids fit
        in the pipe and git never waits on us while we wait on it. An object git cannot read
        is left for ``get`` to report when (if) it is needed."""
        wanted = list(dict.fromkeys(s for s in shas if s and s not in self.cache))
        for i in range(0, len(wanted), PREFETCH_BATCH):
            batch = wanted[i:i + PREFETCH_BATCH]
            self.proc.stdin.write(b"".join(s.encode() + b"\n" for s in batch))
            self.proc.stdin.flush()
            for sha in batch:
                data = self._answer()
                if data is not None:
                    self.cache[sha] = data

    def _answer(self) -> bytes | None:
        """The next object's bytes, or None when git reports it missing."""
        header = self.proc.stdout.readline().split()
        if len(header) < 3:
            return None
        size = int(header[2])
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)
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


def commits(repo: Path, paths: Iterable[str] | None, since: str | None = None) -> list[Commit]:
    """First-parent commits, oldest first, that changed any of ``paths`` (repo-relative;
    None: any path), made at or after ``since`` (a date as users write it, vmfleet.timeutil;
    compared here with the committer date, not by git's ``--since``, which reads a bare day as
    that day at the current time of day in the local zone). ``changes`` holds (path, new blob
    sha or '' when deleted); ``modes`` their new git modes."""
    args = ["log", "--first-parent", "--diff-merges=first-parent", "--raw", "--no-abbrev",
            "--no-renames", "--reverse", "--format=%x01%H %ct %s"]
    start = timeutil.parse_user_time(timeutil.parse_date(since, "--since")).timestamp() if since else None
    out = _git(repo, *args, *(["--", *sorted(set(paths))] if paths is not None else []))
    result = []
    for chunk in out.split("\x01")[1:]:
        head, _, body = chunk.partition("\n")
        sha, ctime, subject = (head.split(" ", 2) + [""])[:3]
        changes, modes = [], []
        for line in body.splitlines():
            if not line.startswith(":"):
                continue
            meta, _, path = line.partition("\t")
            fields = meta.split()
            deleted = fields[4].startswith("D")
            changes.append((path, "" if deleted else fields[3]))
            if not deleted:
                modes.append((path, fields[1]))
        if start is None or int(ctime) >= start:
            result.append(Commit(sha, int(ctime), subject, tuple(changes), tuple(modes)))
    return result


def tree_state(repo: Path, commit: str, paths: Iterable[str]) -> dict[str, str]:
    """path -> blob sha of ``paths`` at ``commit`` (absent paths left out)."""
    paths = sorted(set(paths))
    if not paths:
        return {}
    return {p: sha for p, (sha, _mode) in _ls_tree(repo, commit, paths).items()}


def tree_files(repo: Path, commit: str) -> dict[str, tuple[str, str]]:
    """path -> (blob sha, mode) of every file at ``commit``."""
    return _ls_tree(repo, commit, [])


def _ls_tree(repo: Path, commit: str, paths: list[str]) -> dict[str, tuple[str, str]]:
    out = _git(repo, "ls-tree", "-r", "--full-tree", commit, *(["--", *paths] if paths else []))
    state = {}
    for line in out.splitlines():
        meta, _, path = line.partition("\t")
        mode, _kind, sha = meta.split()[:3]
        state[path] = (sha, mode)
    return state


class GitFiles:
    """A commit's tree, read like the disk (guix/closure.py's ``files``): paths are absolute
    below ``root``; a file outside the repository is not in its history, and is read from the
    disk (as it is now) only inside an ``--allow-outside`` folder (``outside``), as ``add`` does."""

    def __init__(self, root: str, state: dict[str, tuple[str, str]], blobs: Blobs,
                 limits: input_files.Limits, outside: input_files.DiskFiles | None = None):
        self.root, self.state, self.blobs, self.limits = root, state, blobs, limits
        self.outside = outside
        self.total = 0
        self._dirs: set[str] | None = None
        self.read_files: set[str] = set()   # repo-relative files read, links and targets
        self.read_dirs: set[str] = set()    # directories listed (recursive local-files)

    def _rel(self, path: str) -> str:
        if path == self.root:
            return "."
        if not path.startswith(self.root + "/"):
            raise UsageError(f"{path} is outside the repository {self.root}",
                             "an import reads inputs from the repository's history: commit the "
                             "file to the repository, or, if it belongs to the system, name its "
                             f"folder: --allow-outside {posixpath.dirname(path)}")
        return path[len(self.root) + 1:]

    def _on_disk(self, path: str) -> bool:
        return (self.outside is not None and not path.startswith(self.root + "/")
                and path != self.root and self.outside.covers(path))

    def _resolve(self, rel: str, depth: int = 0) -> str:
        self.read_files.add(rel)
        sha, mode = self.state[rel]
        if mode != "120000":
            return rel
        target = self.blobs.get(sha).decode(errors="replace")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if resolved.startswith("/") or resolved == ".." or resolved.startswith("../") \
                or depth > 10:
            raise UsageError(f"{rel} is a symlink to {target}, which is outside the repository",
                             "commit the file itself instead of a link to it")
        if resolved not in self.state:
            raise UsageError(f"{rel} is a symlink to {target}, which is not in the repository",
                             "commit the file itself instead of a link to it")
        return self._resolve(resolved, depth + 1)

    def kind(self, path: str) -> str | None:
        if self._on_disk(path):
            return self.outside.kind(path)
        rel = self._rel(path)
        if rel in self.state:
            mode = self.state[self._resolve(rel)][1]
            return "file" if mode.startswith("100") else "other"
        if self._dirs is None:
            self._dirs = {posixpath.dirname(p) for p in self.state}
            for d in list(self._dirs):
                while d:
                    d = posixpath.dirname(d)
                    self._dirs.add(d)
        return "dir" if rel in self._dirs or rel == "." else None

    def read(self, path: str, what: str) -> input_files.FileData:
        if self._on_disk(path):
            return self.outside.read(path, what)
        rel = self._rel(path)
        if rel not in self.state:
            raise UsageError(f"{what} {rel} is not in the repository at this commit",
                             "commit the file")
        sha, mode = self.state[self._resolve(rel)]
        if not mode.startswith("100"):
            raise UsageError(f"{what} {rel} is not a regular file (git mode {mode})",
                             "inputs must be regular files")
        data = self.blobs.get(sha)
        if len(data) > self.limits.per_input:
            raise UsageError(f"{what} {rel} is larger than {self.limits.per_input} bytes",
                             "raise VMFLEET_MAX_INPUT_SIZE if this file is really needed")
        self.total += len(data)
        if self.total > self.limits.per_generation:
            raise UsageError(f"the inputs add up to more than {self.limits.per_generation} bytes",
                             "raise VMFLEET_MAX_GENERATION_SIZE if they are really needed")
        return input_files.FileData(data, 0o755 if mode == "100755" else 0o644)

    def tree(self, path: str, what: str) -> list[str]:
        if self._on_disk(path):
            return self.outside.tree(path, what)
        rel = self._rel(path)
        self.read_dirs.add(rel)
        return sorted(f"{self.root}/{p}" for p in self.state if p.startswith(rel + "/"))

    def touched(self, changed: set[str]) -> bool:
        """Whether a commit that changed ``changed`` may change what was read: a file read
        (a link or its target), or anything below a directory listed."""
        return bool(changed & self.read_files) or any(
            p.startswith(d + "/") for p in changed for d in self.read_dirs)


def import_system(reg: Registry, repo: str | Path, system: str, config: str, channels: str, *,
                  since: str | None = None, allow_unpinned: bool = False, load_path=(),
                  strict: bool = False, allow_outside=()) -> ImportResult:
    """Record a generation for each commit that changed the system's inputs.

    ``load_path`` (``-L``) and the paths are relative to ``repo``, which is also the
    directory guix runs in (where computed relative names resolve). Generations follow the
    git history: a commit dated before its parent (after a rebase) is recorded one second
    after it, so a date spec never picks a parent over its child. Files outside the
    repository are read from the disk, only inside ``allow_outside`` folders.
    """
    check_name(system)
    root = repo_root(repo)
    config_rel = _repo_relative(root, repo, config)
    channels_rel = _repo_relative(root, repo, channels)
    lp_rel = [_repo_relative(root, repo, d) for d in load_path]
    cwd_rel = _repo_relative(root, repo, ".")
    allowed = generations.allowed_folders(os.getcwd(), allow_outside)
    blobs = Blobs(root)
    try:
        history = commits(root, None, since)
        if not history:
            if since is None:
                _check_in_history(root, repo, [], {}, config_rel, channels_rel)
            return ImportResult(system, 0, (), ())
        start = _parent(root, history[0].sha)
        state = tree_files(root, start) if start else {}
        _check_in_history(root, repo, history, state, config_rel, channels_rel)
        with reg.write():  # one transaction: an import lands whole or not at all
            return _record_history(reg, system, root, config_rel, channels_rel, lp_rel, cwd_rel,
                                   history, state, blobs, allow_unpinned, strict, allowed)
    finally:
        blobs.close()


def _check_in_history(root: Path, repo, history: list[Commit], state: dict,
                      config_rel: str, channels_rel: str) -> None:
    """A config or channels path that is a file in no commit is a mistake: say so, rather than
    import nothing and succeed."""
    seen = set(state) | {path for commit in history for path, sha in commit.changes if sha}
    for rel in (config_rel, channels_rel):
        if rel not in seen:
            raise UsageError(f"{rel} is not a file in any commit of {root}",
                             f"give the path of a committed file, relative to {repo} "
                             "(e.g. systems/web.scm); 'git log --stat' lists them")


def _parent(root: Path, commit: str) -> str | None:
    result = run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{commit}^"], check=False)
    return result.stdout.strip() or None


def _record_history(reg, system, root, config_rel, channels_rel, lp_rel, cwd_rel, history,
                    state, blobs, allow_unpinned, strict, allowed=()) -> ImportResult:
    """Replay ``history`` over the tree ``state`` before it; record each readable version of
    the system's inputs (the closure is recomputed where a commit touched what it reads)."""
    recorded, skipped = [], []
    read = 0
    root_s = posixpath.normpath(str(root.resolve()))
    watched_dirs = [d for d in lp_rel if d != "."]
    last_read: GitFiles | None = None       # what the last closure read (None: read again)
    last_time = 0
    seen_commits = 0
    limits = input_files.Limits.from_env()
    for index, commit in enumerate(history):
        if index % PREFETCH_COMMITS == 0:
            _prefetch(blobs, history[index:index + PREFETCH_COMMITS],
                      {config_rel, channels_rel} | (last_read.read_files if last_read else set()))
        modes = dict(commit.modes)
        for path, sha in commit.changes:
            if sha:
                state[path] = (sha, modes.get(path, "100644"))
            else:
                state.pop(path, None)
        changed = {c[0] for c in commit.changes}
        relevant = last_read is None or last_read.touched(changed) or "." in lp_rel or any(
            p == d or p.startswith(d + "/") for p in changed for d in watched_dirs) or \
            {config_rel, channels_rel} & changed
        if config_rel not in state or channels_rel not in state:
            last_read = None
            continue  # the system does not exist yet at this commit, or was removed
        seen_commits += 1
        if not relevant:
            continue
        when = max(commit.time, last_time + 1)
        try:
            label = f"{commit.sha[:7]}:{config_rel}"
            channels_sha = state[channels_rel][0]
            channels_text = _text(blobs.get(channels_sha), channels_rel)
            pins = blobs.pins(channels_sha, f"{commit.sha[:7]}:{channels_rel}")
            names = {p["name"] for p in pins}
            outside = input_files.DiskFiles([], limits, allowed=allowed) if allowed else None
            files = GitFiles(root_s, state, blobs, limits, outside)
            found = closure.gather(files, f"{root_s}/{config_rel}",
                                   load_path=[posixpath.normpath(f"{root_s}/{d}") for d in lp_rel],
                                   cwd=posixpath.normpath(f"{root_s}/{cwd_rel}"),
                                   external_roots=names)
            last_read = files
            inputs = generations.inputs_from_closure(
                found, channels_text,
                load_path=[posixpath.normpath(f"{root_s}/{d}") for d in lp_rel],
                cwd=posixpath.normpath(f"{root_s}/{cwd_rel}"), strict=strict, keep_cwd=bool(lp_rel),
                allow_outside=allowed)
            analysis = generations.analyse(inputs, config_label=label, pins=pins)
            gen, created = generations.record(
                reg, system, inputs, current_from=timeutil.from_epoch(when),
                source="git", git_commit=commit.sha, message=commit.subject,
                allow_unpinned=allow_unpinned, analysis=analysis)
        except UsageError as e:  # includes SchemeError
            skipped.append(f"{commit.sha[:7]}: {e.message}")
            last_read = None
            continue
        last_time = max(last_time, when)
        read += 1
        if created:
            recorded.append(gen.label)
    return ImportResult(system, seen_commits, tuple(recorded), tuple(skipped), read)


def _prefetch(blobs: Blobs, upcoming: list[Commit], watched: set[str]) -> None:
    """Read ahead the new versions of the files the last closure read (and the config and
    channels file): the commits that change them are the ones whose closure is recomputed."""
    blobs.prefetch(sha for commit in upcoming for path, sha in commit.changes
                   if sha and path in watched
                   and dict(commit.modes).get(path, "100644")[:3] in ("100", "120"))


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
