"""The fleet file's history: versions recorded from git, and the fleet as it was on a date.

``vmfleet import`` records a version for each first-parent commit that changed the fleet file
(like generations of a config, dated at the commit), keeping its text as a blob. ``--fleet
@REF`` then brings back a version: ``@2023-10`` / ``@2023-10-15`` / ``@2023-10-15T12:00`` (the
version current at the end of that period, UTC), ``@3`` (version number), ``@abc1234`` (git
commit prefix). Each VM whose system is not pinned (``web``) is pinned to the generation
current at that moment: the period's end for a date, the version's own date for ``@N`` and
``@COMMIT``; so ``--fleet @2023-10`` is the whole fleet as it ran at the end of October 2023.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from vmfleet import timeutil
from vmfleet.errors import NotFound, UsageError
from vmfleet.fleet import file as fleet_file
from vmfleet.registry import fleet as fleet_rows
from vmfleet.registry import git_import
from vmfleet.registry import spec as spec_mod
from vmfleet.registry.db import Registry

DEFAULT_PATH = "fleet.toml"


@dataclass(frozen=True)
class FleetVersion:
    number: int
    current_from: str
    git_commit: str | None
    message: str
    path: str
    content_sha256: str


@dataclass(frozen=True)
class ImportResult:
    path: str
    commits_seen: int
    recorded: tuple[int, ...]        # version numbers
    skipped: tuple[str, ...]         # 'abc1234: reason'
    read: int = 0                    # versions that are valid fleet files (recorded now or before)


def _version(row: dict) -> FleetVersion:
    return FleetVersion(row["number"], row["current_from"], row["git_commit"], row["message"],
                        row["path"], row["content_sha256"])


def list_versions(reg: Registry) -> list[FleetVersion]:
    return [_version(r) for r in fleet_rows.versions(reg)]


def text_of(reg: Registry, version: FleetVersion) -> str:
    return reg.get_blob(version.content_sha256).decode()


def fleet_to_compare(reg: Registry, path: str | None) -> tuple[fleet_file.FleetFile | None, str]:
    """The fleet file ``vmfleet report`` compares the fleet with: the one given, else the newest
    recorded version; and which one it is, in words."""
    if path:
        f = fleet_file.read(path)
        return f, f"fleet file {path}"
    versions = list_versions(reg)
    if not versions:
        return None, "no fleet file recorded (vmfleet import records fleet.toml from git)"
    v = versions[-1]
    label = f"{v.path}@{v.number}" + (f" ({v.git_commit[:7]})" if v.git_commit else "")
    return fleet_file.parse(text_of(reg, v), label), f"fleet file {label}, newest recorded"


def import_fleet(reg: Registry, repo: str | Path, path: str = DEFAULT_PATH) -> ImportResult:
    """Record each committed version of the fleet file that differs from the one before it.

    A version that is not a valid fleet file is skipped (and reported), like a config that
    does not parse; importing twice records nothing new.
    """
    root = git_import.repo_root(repo)
    rel = git_import.repo_relative(root, repo, path)
    history = git_import.commits(root, [rel])
    blobs = git_import.Blobs(root)
    recorded, skipped, read = [], [], 0
    try:
        with reg.write():
            for commit in history:
                sha = dict(commit.changes).get(rel)
                if not sha:
                    continue  # deleted in this commit: the older versions stay in the history
                if fleet_rows.version_of_commit_recorded(reg, commit.sha):
                    read += 1
                    continue
                data = blobs.get(sha)
                label = f"{commit.sha[:7]}:{rel}"
                try:
                    fleet_file.parse(data.decode(), label)
                except UnicodeDecodeError:
                    skipped.append(f"{commit.sha[:7]}: {rel} is not UTF-8 text")
                    continue
                except UsageError as e:  # the label names the commit already
                    first = e.details.splitlines()[0] if e.details else e.message
                    more = len(e.details.splitlines()) - 1 if e.details else 0
                    skipped.append(first + (f" (and {more} more)" if more else ""))
                    continue
                read += 1
                when = timeutil.from_epoch(commit.time)
                before = fleet_rows.latest_version(reg, at_or_before=when)
                digest = reg.put_blob(data)
                if before and before["content_sha256"] == digest:
                    continue
                number = fleet_rows.add_version(
                    reg, current_from=when, git_commit=commit.sha, message=commit.subject,
                    path=rel, content_sha256=digest, recorded=timeutil.now())
                recorded.append(number)
    finally:
        blobs.close()
    return ImportResult(rel, len(history), tuple(recorded), tuple(skipped), read)


def find_version(reg: Registry, ref: str) -> tuple[FleetVersion, str]:
    """A ``@REF`` (with or without the '@') -> the version and the moment its unpinned systems
    are resolved at (a stored UTC stamp, exclusive for periods: see module docs)."""
    text = ref[1:] if ref.startswith("@") else ref
    if not text:
        raise UsageError("--fleet needs a version: @DATE, @N or @COMMIT",
                         "e.g. --fleet @2023-10 (list them: vmfleet fleet history)")
    try:
        parsed = spec_mod.parse(f"fleet@{text}")
    except UsageError:
        raise UsageError(f"--fleet @{text}: not a date, version number or commit",
                         "write @2023-10, @2023-10-15, @2023-10-15T12:00, @3 or @abc1234") from None
    kind = parsed.kind
    if kind is spec_mod.Kind.LATEST:
        row = fleet_rows.latest_version(reg)
        end = None
    elif kind is spec_mod.Kind.NUMBER:
        row = fleet_rows.version_numbered(reg, int(parsed.value))
        end = None
    elif kind is spec_mod.Kind.COMMIT:
        rows = fleet_rows.versions_of_commit(reg, parsed.value)
        if len(rows) > 1:
            raise UsageError(f"--fleet @{text} is ambiguous: {len(rows)} versions match",
                             "give more digits of the commit")
        row = rows[0] if rows else None
        end = None
    else:
        end = parsed.period_end()
        row = fleet_rows.latest_version(reg, before=end)
    if row is None:
        raise _no_version(reg, text)
    version = _version(row)
    if end is None:  # the version's own moment; spec MOMENT with seconds ends 1 s later
        end = version.current_from
    return version, end


def _no_version(reg: Registry, text: str) -> NotFound:
    versions = list_versions(reg)
    if not versions:
        return NotFound("no fleet file versions are recorded",
                        "import them from git: vmfleet import REPO --fleet-file fleet.toml ...")
    first, last = versions[0], versions[-1]
    return NotFound(f"no fleet file version matches @{text}",
                    f"versions 1 to {last.number} exist, the first from "
                    f"{first.current_from[:10]} (vmfleet fleet history)")


def fleet_at(reg: Registry, ref: str) -> tuple[fleet_file.FleetFile, FleetVersion, str | None]:
    """The fleet file of ``ref``, each unpinned system pinned to the generation of then."""
    version, moment = find_version(reg, ref)
    label = f"{version.path}@{version.number}" + (
        f" ({version.git_commit[:7]})" if version.git_commit else "")
    parsed = fleet_file.parse(text_of(reg, version), label)
    pin = _moment_spec(ref, moment)
    if pin is None:  # @latest: the newest version, with each system's newest generation
        return parsed, version, None
    vms = tuple(vm if vm.pinned else dataclasses.replace(vm, system=f"{vm.system_name}@{pin}")
                for vm in parsed.vms)
    return dataclasses.replace(parsed, vms=vms), version, pin


def _moment_spec(ref: str, moment: str) -> str | None:
    """What to put after 'SYSTEM@' to name the generation current at ``moment``: the date as
    the user wrote it, else the version's own time to the second."""
    text = ref[1:] if ref.startswith("@") else ref
    kind = spec_mod.parse(f"fleet@{text}").kind
    if kind is spec_mod.Kind.LATEST:
        return None
    if kind in (spec_mod.Kind.MONTH, spec_mod.Kind.DAY, spec_mod.Kind.MOMENT):
        return text.replace(" ", "T")
    return moment.rstrip("Z")


@dataclass(frozen=True)
class HistoryEntry:
    number: int
    current_from: str
    git_commit: str | None
    message: str
    vms: int
    change: str


def history(reg: Registry) -> list[HistoryEntry]:
    """Every version, with what changed from the one before (VMs added, removed, changed)."""
    out = []
    previous: fleet_file.FleetFile | None = None
    for v in list_versions(reg):
        current = fleet_file.parse(text_of(reg, v), f"{v.path}@{v.number}")
        out.append(HistoryEntry(v.number, v.current_from, v.git_commit, v.message,
                                len(current.vms), describe_change(previous, current)))
        previous = current
    return out


def describe_change(a: fleet_file.FleetFile | None, b: fleet_file.FleetFile) -> str:
    if a is None:
        return "first version: " + ", ".join(f"{v.name} ({v.system})" for v in b.vms)
    names_a = {v.name: v for v in a.vms}
    names_b = {v.name: v for v in b.vms}
    parts = [f"+{n} ({names_b[n].system})" for n in names_b if n not in names_a]
    parts += [f"-{n}" for n in names_a if n not in names_b]
    for name, vb in names_b.items():
        va = names_a.get(name)
        if va is None:
            continue
        fields = []
        for f in ("system", "host", "memory_mib", "vcpus", "accel", "tags", "health"):
            x, y = getattr(va, f), getattr(vb, f)
            if x != y:
                fields.append(f"{f.replace('_mib', '')} {_show(x)}→{_show(y)}")
        if fields:
            parts.append(f"{name}: " + ", ".join(fields))
    return "; ".join(parts) or "no change to the VMs (comments or formatting)"


def _show(value) -> str:
    if isinstance(value, tuple):
        return "[" + ",".join(value) + "]"
    return "-" if value is None else str(value)
