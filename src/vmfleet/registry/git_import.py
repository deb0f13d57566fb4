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
from vmfleet.registry import generations, import_marks
from vmfleet.registry.db import Registry, dumps
from vmfleet.tools.run import kill_group, run, spawn, which

log = logging.getLogger("vmfleet.registry.git_import")


@dataclass(frozen=True)
class Commit:
    sha: str
    time: int
    subject: str
    changes: tuple[tuple[str, str], ...]     # (path, new blob sha or '' when deleted)
    modes: tuple[tuple[str, str], ...] = ()  # (path, new git mode) of the files it changed


@dataclass(frozen=True)
class Skip:
    """A run of consecutive commits of a system skipped for one reason."""

    reason: str
    count: int
    first: str           # commit ids, full
    last: str

    @property
    def range(self) -> str:
        return self.first[:7] if self.count == 1 else f"{self.first[:7]}..{self.last[:7]}"

    def __str__(self) -> str:
        return f"{self.count} commit{'s' if self.count != 1 else ''} ({self.range}): {self.reason}"

    def to_dict(self) -> dict:
        return {"reason": self.reason, "count": self.count, "first": self.first,
                "last": self.last}


BEFORE_CHANNELS = ("the channels file did not exist yet: pass --channels-before FILE to record "
                   "them with a channels file you give")
SOURCE_CHANNELS_BEFORE = "git+channels-before"   # generations whose channels the user gave


@dataclass(frozen=True)
class ImportResult:
    system: str
    commits_seen: int
    recorded: tuple[str, ...]                 # labels of new generations
    skipped: tuple[str, ...]                  # 'abc1234: reason' for commits that could not be read
    skips: tuple[Skip, ...] = ()              # the same, grouped: count, commit range, reason
    up_to_date: bool = False                  # nothing new since the last import
    unverified: tuple[str, ...] = ()          # channel modules taken without a clone to check
    read: int = 0                             # commits whose inputs were read (new or known)


def group_skips(entries: list[tuple[str, str]]) -> tuple[Skip, ...]:
    """(commit, reason) in history order → runs of consecutive commits with one reason
    (runs of the same reason further apart are counted together, keeping the range)."""
    out: dict[str, list] = {}
    for sha, reason in entries:
        if reason in out:
            out[reason][0] += 1
            out[reason][2] = sha
        else:
            out[reason] = [1, sha, sha]
    return tuple(Skip(reason, n, first, last) for reason, (n, first, last) in out.items())


PREFETCH_BATCH = 256   # object ids per cat-file request (41 bytes each: well under a pipe's 64 KiB)
PREFETCH_COMMITS = 256  # commits whose watched blobs are read ahead in one request


class Blobs:
    """Reads git blobs through one ``git cat-file --batch`` process, and parses each once."""

    def __init__(self, repo: Path):
        self.proc = spawn(["git", "-C", str(repo), "cat-file", "--batch"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None)
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both piped
        self.requests, self.answers = self.proc.stdin, self.proc.stdout
        self.cache: dict[str, bytes] = {}
        self.parsed: dict[tuple[str, str], object] = {}

    def summary(self, sha: str, label: str) -> os_config.OsSummary:
        """The config's summary (a SchemeError is remembered and raised again)."""
        return self._parse(sha, "os", lambda: os_config.summarize_os(_text(self.get(sha), label), label))

    def pins(self, sha: str, label: str) -> tuple[dict, ...]:
        return self._parse(sha, "pins", lambda: generations.read_pins(_text(self.get(sha), label), label))

    def pins_of_text(self, text: str, label: str) -> tuple[dict, ...]:
        return self._parse(text, "pins-text", lambda: generations.read_pins(text, label))

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
        self.requests.write(sha.encode() + b"\n")
        self.requests.flush()
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
            self.requests.write(b"".join(s.encode() + b"\n" for s in batch))
            self.requests.flush()
            for sha in batch:
                data = self._answer()
                if data is not None:
                    self.cache[sha] = data

    def _answer(self) -> bytes | None:
        """The next object's bytes, or None when git reports it missing."""
        header = self.answers.readline().split()
        if len(header) < 3:
            return None
        size = int(header[2])
        data = self.answers.read(size)
        self.answers.read(1)
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.requests.close()
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


def commits(repo: Path, paths: Iterable[str] | None, since: str | None = None, *,
            head: str = "HEAD", after: str | None = None) -> list[Commit]:
    """First-parent commits, oldest first, that changed any of ``paths`` (repo-relative;
    None: any path), made at or after ``since`` (a date as users write it, vmfleet.timeutil;
    compared here with the committer date, not by git's ``--since``, which reads a bare day as
    that day at the current time of day in the local zone). ``changes`` holds (path, new blob
    sha or '' when deleted); ``modes`` their new git modes. ``head``: the newest commit;
    ``after``: only commits after this one (an ancestor of ``head``)."""
    args = ["log", "--first-parent", "--diff-merges=first-parent", "--raw", "--no-abbrev",
            "--no-renames", "--reverse", "--format=%x01%H %ct %s"]
    start = timeutil.parse_user_time(timeutil.parse_date(since, "--since")).timestamp() if since else None
    out = _git(repo, *args, f"{after}..{head}" if after else head,
               *(["--", *sorted(set(paths))] if paths is not None else []))
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


class TreeDirs:
    """The directories of a tree, computed once while no commit adds or removes a file (a
    commit that only changes files leaves them as they are)."""

    def __init__(self):
        self._dirs: set[str] | None = None

    def invalidate(self) -> None:
        self._dirs = None

    def of(self, state: dict) -> set[str]:
        if self._dirs is None:
            dirs = {posixpath.dirname(p) for p in state}
            for d in list(dirs):
                while d:
                    d = posixpath.dirname(d)
                    dirs.add(d)
            self._dirs = dirs
        return self._dirs


class GitFiles:
    """A commit's tree, read like the disk (guix/closure.py's ``files``): paths are absolute
    below ``root``; a file outside the repository is not in its history, and is read from the
    disk (as it is now) only inside an ``--allow-outside`` folder (``outside``), as ``add`` does."""

    def __init__(self, root: str, state: dict[str, tuple[str, str]], blobs: Blobs,
                 limits: input_files.Limits, dirs: TreeDirs | None = None,
                 outside: input_files.DiskFiles | None = None):
        self.root, self.state, self.blobs, self.limits = root, state, blobs, limits
        self.outside = outside
        self.total = 0
        self.dirs = dirs or TreeDirs()
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

    def _on_disk(self, path: str) -> input_files.DiskFiles | None:
        """The folder outside the repository that ``path`` is read from, if it is one."""
        if (self.outside is not None and not path.startswith(self.root + "/")
                and path != self.root and self.outside.covers(path)):
            return self.outside
        return None

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
        if disk := self._on_disk(path):
            return disk.kind(path)
        rel = self._rel(path)
        if rel in self.state:
            mode = self.state[self._resolve(rel)][1]
            return "file" if mode.startswith("100") else "other"
        return "dir" if rel in self.dirs.of(self.state) or rel == "." else None

    def read(self, path: str, what: str) -> input_files.FileData:
        if disk := self._on_disk(path):
            return disk.read(path, what)
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
        if disk := self._on_disk(path):
            return disk.tree(path, what)
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
                  strict: bool = False, variable: str | None = None,
                  channel_repos=None, checkouts: Path | None = None,
                  channels_before: str | None = None, allow_outside=()) -> ImportResult:
    """Record a generation for each commit that changed the system's inputs.

    ``load_path`` (``-L``) and the paths are relative to ``repo``, which is also the
    directory guix runs in (where computed relative names resolve). ``variable``: the module
    variable that is the OS; ``channel_repos``/``checkouts``: clones of the pinned channels
    (see generations.read_inputs); ``channels_before``: the text of a channels file for the
    commits made before the channels file existed (recorded with source
    ``git+channels-before``; without it they are reported skipped). Generations follow the
    git history: a commit dated before its parent (after a rebase) is recorded one second
    after it, so a date spec never picks a parent over its child. Files outside the
    repository are read from the disk, only inside ``allow_outside`` folders.
    """
    check_name(system)
    root = repo_root(repo)
    config_rel = repo_relative(root, repo, config)
    channels_rel = repo_relative(root, repo, channels)
    lp_rel = [repo_relative(root, repo, d) for d in load_path]
    cwd_rel = repo_relative(root, repo, ".")
    allowed = tuple(generations.allowed_folders(os.getcwd(), allow_outside))
    head = _head(root)
    options = dumps({"config": config_rel, "channels": channels_rel, "load_path": lp_rel,
                     "cwd": cwd_rel, "since": since, "allow_unpinned": allow_unpinned,
                     "strict": strict, "variable": variable,
                     "channel_repos": {k: str(v) for k, v in sorted((channel_repos or {}).items())},
                     "channels_before": generations.sha256(channels_before.encode())
                     if channels_before is not None else None,
                     "allow_outside": list(allowed)})
    mark = import_marks.get(reg, system, str(root))
    after = None
    if mark and mark.options == options and head:
        if mark.last_commit == head:
            return ImportResult(system, 0, (), (), up_to_date=True)
        if _is_ancestor(root, mark.last_commit, head):
            after = mark.last_commit
    if head is None:
        _check_in_history(root, repo, [], {}, config_rel, channels_rel)
    blobs = Blobs(root)
    try:
        history = commits(root, None, since, head=head or "HEAD", after=after)
        if not history:
            if since is None and after is None:
                _check_in_history(root, repo, [], {}, config_rel, channels_rel)
            return ImportResult(system, 0, (), ())
        start = _parent(root, history[0].sha)
        state = tree_files(root, start) if start else {}
        _check_in_history(root, repo, history, state, config_rel, channels_rel)
        with reg.write():  # one transaction: an import lands whole or not at all
            result = _record_history(reg, system, root, config_rel, channels_rel, lp_rel,
                                     cwd_rel, history, state, blobs, allow_unpinned, strict,
                                     _Options(variable, channel_repos, checkouts,
                                              channels_before, allowed),
                                     _newest_time(reg, system) if after else 0)
            if head is not None:  # a repository with commits (else nothing was recorded)
                import_marks.put(reg, import_marks.Mark(system, str(root), options, head))
            return result
    finally:
        blobs.close()


def _newest_time(reg: Registry, system: str) -> int:
    """The epoch second of the system's newest generation (0: none): commits read after an
    earlier import come after it, whatever their dates say."""
    try:
        gens = generations.list_for(reg, system)
    except VmfleetError:
        return 0
    return max((int(timeutil.parse_stamp(g.current_from).timestamp()) for g in gens), default=0)


def _head(root: Path) -> str | None:
    result = run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
                 check=False)
    return result.stdout.strip() or None


def _is_ancestor(root: Path, older: str, newer: str) -> bool:
    """Whether ``older`` is still in ``newer``'s history (not after a rewrite or force push)."""
    return run(["git", "-C", str(root), "merge-base", "--is-ancestor", older, newer],
               check=False).returncode == 0


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


@dataclass(frozen=True)
class _Options:
    variable: str | None = None
    channel_repos: object = None
    checkouts: Path | None = None
    channels_before: str | None = None
    allowed: tuple[str, ...] = ()          # --allow-outside folders


def _record_history(reg, system, root, config_rel, channels_rel, lp_rel, cwd_rel, history,
                    state, blobs, allow_unpinned, strict, options=_Options(),
                    last_time: int = 0) -> ImportResult:
    """Replay ``history`` over the tree ``state`` before it; record each readable version of
    the system's inputs (the closure is recomputed where a commit touched what it reads)."""
    recorded, skipped = [], []
    skip_runs: list[tuple[str, str]] = []
    unverified: dict[str, None] = {}
    read = 0
    root_s = posixpath.normpath(str(root.resolve()))
    watched_dirs = [d for d in lp_rel if d != "."]   # before the channels file: what to count
    last_read: GitFiles | None = None       # what the last closure read (None: read again)
    seen_commits = 0
    limits = input_files.Limits.from_env()
    providers: dict[str, closure.Providers | None] = {}  # channels blob -> Providers
    dirs = TreeDirs()
    last_digest = None
    for index, commit in enumerate(history):
        if index % PREFETCH_COMMITS == 0:
            _prefetch(blobs, history[index:index + PREFETCH_COMMITS],
                      {config_rel, channels_rel} | (last_read.read_files if last_read else set()))
        modes = dict(commit.modes)
        added_or_removed = False
        for path, sha in commit.changes:
            if sha:
                if path not in state:
                    added_or_removed = True
                state[path] = (sha, modes.get(path, "100644"))
            else:
                state.pop(path, None)
                added_or_removed = True
        if added_or_removed:
            dirs.invalidate()
        changed = {c[0] for c in commit.changes}
        # The closure can change only where the commit changed a file it read, or added or
        # removed a file (a module found elsewhere on the load path, a missing file that is
        # there now, a directory's listing): changing any other file cannot change it.
        relevant = last_read is None or last_read.touched(changed) or added_or_removed or \
            {config_rel, channels_rel} & changed
        if config_rel not in state:
            last_read = None
            continue  # the system does not exist yet at this commit, or was removed
        before = channels_rel not in state
        if before and options.channels_before is None:
            if config_rel in changed or any(p == d or p.startswith(d + "/") for p in changed
                                            for d in [*watched_dirs, posixpath.dirname(config_rel)]
                                            if d):
                skip_runs.append((commit.sha, BEFORE_CHANNELS))
            last_read = None
            continue
        seen_commits += 1
        if not relevant and not before:
            continue
        when = max(commit.time, last_time + 1)
        try:
            label = f"{commit.sha[:7]}:{config_rel}"
            if before:
                channels_sha = "--channels-before"
                channels_text = options.channels_before
                pins = blobs.pins_of_text(channels_text, "--channels-before")
            else:
                channels_sha = state[channels_rel][0]
                channels_text = _text(blobs.get(channels_sha), channels_rel)
                pins = blobs.pins(channels_sha, f"{commit.sha[:7]}:{channels_rel}")
            if channels_sha not in providers:
                providers[channels_sha] = generations.providers_for(
                    pins, options.channel_repos, options.checkouts)
            outside = (input_files.DiskFiles([], limits, allowed=options.allowed)
                       if options.allowed else None)
            files = GitFiles(root_s, state, blobs, limits, dirs, outside)
            found = closure.gather(files, f"{root_s}/{config_rel}",
                                   load_path=[posixpath.normpath(f"{root_s}/{d}") for d in lp_rel],
                                   cwd=posixpath.normpath(f"{root_s}/{cwd_rel}"),
                                   providers=providers[channels_sha], variable=options.variable)
            last_read = files
            inputs = generations.inputs_from_closure(
                found, channels_text,
                load_path=[posixpath.normpath(f"{root_s}/{d}") for d in lp_rel],
                cwd=posixpath.normpath(f"{root_s}/{cwd_rel}"), strict=strict, keep_cwd=bool(lp_rel),
                allow_outside=options.allowed)
            for note in inputs.unverified:   # said once per module, not per commit
                unverified.setdefault(note.split(": ", 1)[-1], None)
            if not before and inputs.digest() == last_digest:
                read += 1
                continue   # the same inputs as the generation just recorded: nothing to do
            analysis = generations.analyse(inputs, config_label=label, pins=pins)
            gen, created = generations.record(
                reg, system, inputs, current_from=timeutil.from_epoch(when),
                source=SOURCE_CHANNELS_BEFORE if before else "git", git_commit=commit.sha,
                message=commit.subject, allow_unpinned=allow_unpinned, analysis=analysis)
        except UsageError as e:  # includes SchemeError
            skipped.append(f"{commit.sha[:7]}: {e.message}")
            skip_runs.append((commit.sha, e.message))
            last_read = None
            continue
        if before:
            last_read = None   # the next commit is read again (the channels file may appear)
        last_time = max(last_time, when)
        last_digest = gen.inputs_sha256
        read += 1
        if created:
            recorded.append(gen.label)
    return ImportResult(system, seen_commits, tuple(recorded), tuple(skipped),
                        group_skips(skip_runs), unverified=tuple(unverified), read=read)


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


def repo_relative(root: Path, repo: str | Path, path: str) -> str:
    """``path`` as given on the command line (relative to ``repo``), relative to the repo root."""
    full = (Path(repo) / path).absolute()
    try:
        rel = full.resolve().relative_to(root.resolve())
    except ValueError:
        raise UsageError(f"{path} is outside the repository {root}",
                         "give paths inside the repository") from None
    return rel.as_posix()
