"""Generations: one recorded version of a system's inputs (config, its local files, channels).

A generation is immutable once recorded. Its inputs are stored content-addressed in ``blobs``,
so a rebuild years later has every byte the config referred to. ``record`` adds a generation
only when the inputs differ from the generation current at that moment, which makes ``add`` and
``import`` idempotent.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vmfleet import timeutil
from vmfleet.errors import NotFound, SchemeError, UsageError
from vmfleet.guix import channel_files, os_config
from vmfleet.names import check_name
from vmfleet.registry.db import Registry, dumps


@dataclass(frozen=True)
class Inputs:
    """Everything a build of a generation needs, as bytes and text."""

    config_name: str                     # file name of the config, e.g. 'web.scm'
    config_text: str
    channels_text: str
    files: Mapping[str, bytes] = field(default_factory=dict)  # local-file path -> content

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(dumps({
            "config": hashlib.sha256(self.config_text.encode()).hexdigest(),
            "channels": hashlib.sha256(self.channels_text.encode()).hexdigest(),
            "files": {p: hashlib.sha256(c).hexdigest() for p, c in sorted(self.files.items())},
        }).encode())
        return h.hexdigest()


@dataclass(frozen=True)
class Generation:
    id: int
    system: str
    number: int
    current_from: str
    source: str
    git_commit: str | None
    message: str
    config_path: str
    config_sha256: str
    channels_sha256: str
    pins: tuple[dict, ...]
    unpinned: bool
    inputs_sha256: str
    summary: dict

    @property
    def label(self) -> str:
        return f"{self.system}@{self.number}"

    @property
    def guix_commit(self) -> str | None:
        for pin in self.pins:
            if pin.get("name") == "guix":
                return pin.get("commit")
        return None


def from_row(row: Mapping) -> Generation:
    return Generation(
        id=row["id"], system=row["system"], number=row["number"],
        current_from=row["current_from"], source=row["source"], git_commit=row["git_commit"],
        message=row["message"], config_path=row["config_path"],
        config_sha256=row["config_sha256"], channels_sha256=row["channels_sha256"],
        pins=tuple(json.loads(row["pins"])), unpinned=bool(row["unpinned"]),
        inputs_sha256=row["inputs_sha256"], summary=json.loads(row["summary"]),
    )


# --- reading inputs from disk --------------------------------------------------------------

def safe_relpath(path: str, config_file: str) -> str:
    """A local-file path as stored: relative, normalised, inside the config's directory."""
    norm = posixpath.normpath(path)
    if posixpath.isabs(norm) or norm == ".." or norm.startswith("../"):
        raise UsageError(
            f"{config_file}: local-file {path!r} is outside the config's directory",
            "keep the files a config refers to next to it (or below it), so vmfleet can record them",
        )
    return norm


def read_inputs(config_file: str | os.PathLike, channels_file: str | os.PathLike) -> Inputs:
    """Read a config, the local files it refers to, and a channels file from disk."""
    config_file, channels_file = Path(config_file), Path(channels_file)
    config_text = _read_text(config_file, "config")
    channels_text = _read_text(channels_file, "channels file")
    files = {}
    for rel in os_config.local_files(config_text, str(config_file)):
        rel_norm = safe_relpath(rel, str(config_file))
        target = config_file.parent / rel_norm
        try:
            files[rel_norm] = target.read_bytes()
        except FileNotFoundError:
            raise UsageError(
                f"{config_file}: local-file {rel!r} not found (looked for {target})",
                "create the file, or fix the path in the config",
            ) from None
    return Inputs(config_file.name, config_text, channels_text, files)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise UsageError(f"{what} {path} not found", "check the path") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a directory", "give the path of a .scm file") from None
    except UnicodeDecodeError:
        raise SchemeError(f"{path}: not a text file", "give the path of a .scm file") from None


# --- validating and recording ----------------------------------------------------------------

@dataclass(frozen=True)
class Analysis:
    """What vmfleet reads out of a generation's inputs before recording it."""

    pins: tuple[dict, ...]
    unpinned: tuple[str, ...]         # names of channels without a commit
    summary: dict

    @classmethod
    def of(cls, pins: tuple[dict, ...], summary: os_config.OsSummary) -> Analysis:
        return cls(pins, tuple(p["name"] for p in pins if not p.get("commit")), summary.to_dict())


def analyse(inputs: Inputs, *, config_label: str | None = None,
            channels_label: str = "channels.scm") -> Analysis:
    """Parse and validate inputs; raise SchemeError/UsageError with file:line:col on bad ones."""
    summary = os_config.summarize_os(inputs.config_text, config_label or inputs.config_name)
    return Analysis.of(read_pins(inputs.channels_text, channels_label), summary)


def read_pins(channels_text: str, label: str) -> tuple[dict, ...]:
    channels = channel_files.parse_channels(channels_text, label)
    if not channels:
        raise SchemeError(f"{label}: no channels", "pin at least the guix channel "
                          "(guix describe -f channels > channels.scm)")
    return tuple(c.to_dict() for c in channels)


def record(reg: Registry, system: str, inputs: Inputs, *, current_from: str, source: str = "manual",
           git_commit: str | None = None, message: str = "", allow_unpinned: bool = False,
           analysis: Analysis | None = None) -> tuple[Generation, bool]:
    """Record a generation unless nothing changed; return (generation, created).

    Runs in one write transaction, so parallel ``record`` calls never lose or duplicate one.
    """
    check_name(system)
    analysis = analysis or analyse(inputs)
    if analysis.unpinned and not allow_unpinned:
        raise UsageError(
            f"channel {', '.join(analysis.unpinned)} has no commit: builds of it are not reproducible",
            "pin it (guix describe -f channels > channels.scm) or pass --allow-unpinned",
        )
    digest = inputs.digest()
    with reg.write():
        if git_commit:
            row = reg.query_one("SELECT * FROM generations WHERE system = ? AND git_commit = ?",
                                (system, git_commit))
            if row:
                return from_row(row), False
        current = reg.query_one(
            "SELECT * FROM generations WHERE system = ? AND current_from <= ? "
            "ORDER BY current_from DESC, number DESC LIMIT 1", (system, current_from))
        if current and current["inputs_sha256"] == digest:
            return from_row(current), False
        reg.execute("INSERT OR IGNORE INTO systems (name, created) VALUES (?, ?)",
                    (system, timeutil.now()))
        config_sha = reg.put_blob(inputs.config_text.encode())
        channels_sha = reg.put_blob(inputs.channels_text.encode())
        number = reg.execute("SELECT coalesce(max(number), 0) + 1 FROM generations "
                             "WHERE system = ?", (system,)).fetchone()[0]
        cur = reg.execute(
            "INSERT INTO generations (system, number, current_from, source, git_commit, message,"
            " config_path, config_sha256, channels_sha256, pins, unpinned, inputs_sha256, summary,"
            " recorded) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (system, number, current_from, source, git_commit, message, inputs.config_name,
             config_sha, channels_sha, dumps(list(analysis.pins)), int(bool(analysis.unpinned)),
             digest, dumps(analysis.summary), timeutil.now()),
        )
        gen_id = cur.lastrowid
        for path, content in sorted(inputs.files.items()):
            reg.execute("INSERT INTO generation_files (generation_id, path, sha256) VALUES (?,?,?)",
                        (gen_id, path, reg.put_blob(content)))
        return get(reg, gen_id), True


# --- reading back ------------------------------------------------------------------------------

def get(reg: Registry, gen_id: int) -> Generation:
    row = reg.query_one("SELECT * FROM generations WHERE id = ?", (gen_id,))
    if row is None:
        raise NotFound(f"no generation with id {gen_id}", "list them with 'vmfleet generations'")
    return from_row(row)


def list_for(reg: Registry, system: str) -> list[Generation]:
    rows = reg.query("SELECT * FROM generations WHERE system = ? ORDER BY number", (system,))
    if not rows and not reg.query_one("SELECT 1 FROM systems WHERE name = ?", (system,)):
        raise unknown_system(reg, system)
    return [from_row(r) for r in rows]


def unknown_system(reg: Registry, system: str) -> NotFound:
    names = [r["name"] for r in reg.query("SELECT name FROM systems ORDER BY name")]
    hint = f"known systems: {', '.join(names)}" if names else "record one with 'vmfleet add' or 'vmfleet import'"
    return NotFound(f"no system named {system!r}", hint)


def inputs_of(reg: Registry, gen: Generation) -> Inputs:
    files = {r["path"]: reg.get_blob(r["sha256"]) for r in reg.query(
        "SELECT path, sha256 FROM generation_files WHERE generation_id = ? ORDER BY path", (gen.id,))}
    return Inputs(gen.config_path, reg.get_blob(gen.config_sha256).decode(),
                  reg.get_blob(gen.channels_sha256).decode(), files)


def materialize(reg: Registry, gen: Generation, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write a generation's config, local files and channels.scm into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    inputs = inputs_of(reg, gen)
    config = directory / inputs.config_name
    config.write_text(inputs.config_text)
    for rel, content in inputs.files.items():
        target = directory / safe_relpath(rel, inputs.config_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    channels = directory / "channels.scm"
    if channels == config:
        channels = directory / "vmfleet-channels.scm"
    channels.write_text(inputs.channels_text)
    return config, channels


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def describe_change(previous: Generation | None, current: Generation) -> str:
    """A one-line summary of what changed from ``previous`` to ``current``."""
    if previous is None:
        return "first generation"
    parts = []
    old_pins = {p["name"]: p.get("commit") for p in previous.pins}
    for pin in current.pins:
        old = old_pins.get(pin["name"], "-")
        if old != pin.get("commit"):
            parts.append(f"{pin['name']} {(old or 'unpinned')[:7]}→{(pin.get('commit') or 'unpinned')[:7]}")
    old_s, new_s = previous.summary, current.summary
    for key in ("packages", "services"):
        old, new = _names(old_s, key), _names(new_s, key)
        parts += [f"+{n}" for n in sorted(new - old)] + [f"-{n}" for n in sorted(old - new)]
    changed_fields = sorted(k for k in set(old_s.get("fields", {})) | set(new_s.get("fields", {}))
                            if k not in ("packages", "services")
                            and old_s.get("fields", {}).get(k) != new_s.get("fields", {}).get(k))
    parts += [f"~{k}" for k in changed_fields]
    if not parts:
        parts.append("config edited" if previous.config_sha256 != current.config_sha256 else "files changed")
    return " ".join(parts)


def _names(summary: dict, key: str) -> set[str]:
    """Package names, or the types of the services a config has (not markers or deletions)."""
    items = summary.get(key, [])
    if key == "services":
        return {i["type"] for i in items if i.get("kind", "service") in ("service", "simple-service")}
    return {i for i in items if not i.startswith("%")}
