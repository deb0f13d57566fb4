"""Generations: one recorded version of a system's inputs (config, its local files, channels).

A generation is immutable once recorded. Its inputs are stored content-addressed in ``blobs``,
so a rebuild years later has every byte the config referred to. ``record`` adds a generation
only when the inputs differ from the generation current at that moment, which makes ``add`` and
``import`` idempotent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vmfleet import timeutil
from vmfleet.errors import NotFound, SchemeError, UsageError
from vmfleet.guix import channel_files, channel_modules, closure, input_files, os_config, reader, walker
from vmfleet.guix.reader import render as render_string
from vmfleet.names import check_name
from vmfleet.registry.db import Registry, dumps


@dataclass(frozen=True)
class Inputs:
    """Everything a build of a generation needs, as bytes and text.

    The inputs form a small tree, laid out again at build time (see ``layout``):
    ``config_name`` is the config's path in it (``web.scm``, ``me/systems/laptop.scm``), and
    each key of ``files`` is a path in it (modules, included files, local files), except for
    files the config names by an absolute path, whose key is that path (``/etc/x.pub``).
    ``load_path`` are the tree's ``-L`` directories, ``cwd`` the directory guix runs in,
    ``expression`` the ``-e`` expression for a module that only defines its OS, ``warnings``
    the names vmfleet could not resolve (the generation's inputs are then incomplete).
    """

    config_name: str
    config_text: str
    channels_text: str
    files: Mapping[str, bytes] = field(default_factory=dict)
    modes: Mapping[str, int] = field(default_factory=dict)      # files that are not 0644
    roles: Mapping[str, str] = field(default_factory=dict)      # module, include, load, local-file
    load_path: tuple[str, ...] = ()
    cwd: str = "."
    expression: str | None = None
    warnings: tuple[str, ...] = ()
    # Modules taken to be a pinned channel's without a clone to check (said, not recorded
    # as missing: guix fetches them with the channel).
    unverified: tuple[str, ...] = ()
    allow_outside: tuple[str, ...] = ()  # --allow-outside folders it was read with (a record)

    def digest(self) -> str:
        cached = self.__dict__.get("_digest")
        if cached is None:
            cached = self._digest_uncached()
            object.__setattr__(self, "_digest", cached)
        return cached

    def _digest_uncached(self) -> str:
        data = {
            "config": hashlib.sha256(self.config_text.encode()).hexdigest(),
            "channels": hashlib.sha256(self.channels_text.encode()).hexdigest(),
            "files": {p: _content_sha(c) for p, c in sorted(self.files.items())},
        }
        # Keys added by issue 8 only when used, so a plain config keeps the digest it had.
        if "/" in self.config_name:
            data["config_path"] = self.config_name
        if any(m != 0o644 for m in self.modes.values()):
            data["modes"] = {p: m for p, m in sorted(self.modes.items()) if m != 0o644}
        if self.load_path:
            data["load_path"] = list(self.load_path)
        if self.cwd != ".":
            data["cwd"] = self.cwd
        if self.expression:
            data["expression"] = self.expression
        h = hashlib.sha256()
        h.update(dumps(data).encode())
        return h.hexdigest()

    @property
    def layout_json(self) -> dict:
        out: dict = {}
        if self.load_path:
            out["load_path"] = list(self.load_path)
        if self.cwd != ".":
            out["cwd"] = self.cwd
        if self.expression:
            out["expression"] = self.expression
        if self.allow_outside:
            out["allow_outside"] = list(self.allow_outside)
        return out


_SHAS: dict[int, tuple[bytes, str]] = {}


def _content_sha(data: bytes) -> str:
    """sha256 of an input's bytes, once per bytes object (an import hands the same cached
    blob to the digest of every commit that reads it)."""
    hit = _SHAS.get(id(data))
    if hit is not None and hit[0] is data:
        return hit[1]
    value = hashlib.sha256(data).hexdigest()
    if len(_SHAS) >= 4096:
        _SHAS.pop(next(iter(_SHAS)))
    _SHAS[id(data)] = (data, value)
    return value


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
    layout: dict = field(default_factory=dict, hash=False)   # load_path, cwd, expression,
    #                                                          allow_outside
    warnings: tuple[str, ...] = ()                           # unresolved names: incomplete

    @property
    def incomplete(self) -> bool:
        return bool(self.warnings)

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
        layout=json.loads(row.get("layout") or "{}"),
        warnings=tuple(json.loads(row.get("warnings") or "[]")),
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


def read_inputs(config_file: str | os.PathLike, channels_file: str | os.PathLike, *,
                load_path=(), cwd: str | os.PathLike | None = None, strict: bool = False,
                limits: input_files.Limits | None = None, variable: str | None = None,
                channel_repos: Mapping[str, Path] | None = None,
                checkouts: Path | None = None, allow_outside=()) -> Inputs:
    """Read a config and every file a build of it reads (see guix/closure.py), and the
    channels file, from disk, as untrusted input (see guix/input_files.py).

    ``load_path`` (``-L``) and relative paths are taken relative to ``cwd`` (default: the
    working directory), which is also where a computed relative ``local-file`` name resolves,
    as with guix. Unresolvable names are warnings in ``Inputs.warnings``; with ``strict``
    the first one is an error. ``variable``: the module variable that is the OS;
    ``channel_repos`` (``--channel-repo``) and ``checkouts`` (guix's cache of channel clones):
    where to read the pinned channels' module trees. Files outside the config's, the
    channels file's and the ``-L`` folders are read only from ``allow_outside`` folders
    (see guix/input_files.py).
    """
    cwd = posixpath.normpath(os.path.abspath(cwd or os.getcwd()))
    config = posixpath.normpath(posixpath.join(cwd, os.fspath(config_file)))
    channels = posixpath.normpath(posixpath.join(cwd, os.fspath(channels_file)))
    dirs = [posixpath.normpath(posixpath.join(cwd, os.fspath(d))) for d in load_path]
    for d in dirs:
        if not os.path.isdir(d):
            raise UsageError(f"load path {d} is not a directory",
                             "-L takes a directory that holds modules, as for guix system -L")
    allowed = allowed_folders(cwd, allow_outside)
    files = input_files.DiskFiles([posixpath.dirname(config), posixpath.dirname(channels), *dirs],
                                  limits, allowed=allowed)
    if files.kind(config) is None:
        raise UsageError(f"config {config_file} not found", "check the path")
    if files.kind(channels) is None:
        raise UsageError(f"channels file {channels_file} not found", "check the path")
    channels_text = closure.scheme_text(files.read(channels, "channels file").content,
                                        str(channels_file))
    try:
        pins = [c.to_dict() for c in channel_files.parse_channels(channels_text, str(channels_file))]
    except SchemeError:
        pins = []  # analyse() reports it with its location
    found = closure.gather(files, config, load_path=dirs, cwd=cwd, variable=variable,
                           providers=providers_for(pins, channel_repos, checkouts))
    return inputs_from_closure(found, channels_text, load_path=dirs, cwd=cwd, strict=strict,
                               allow_outside=allowed)


def allowed_folders(cwd: str, folders) -> list[str]:
    """``--allow-outside`` folders, absolute; each must be a directory (a file or a typo
    would otherwise allow nothing, or everything below a parent the user did not mean)."""
    out = []
    for d in folders:
        full = posixpath.normpath(posixpath.join(cwd, os.fspath(d)))
        if not os.path.isdir(full):
            raise UsageError(f"--allow-outside {d}: not a directory",
                             "name the folder that holds the files the config refers to")
        out.append(full)
    return out


def providers_for(pins, channel_repos: Mapping[str, Path] | None = None,
                  checkouts: Path | None = None) -> channel_modules.Providers:
    """Who provides which modules under these pins (the guix channel at least)."""
    pins = list(pins)
    if not any(p.get("name") == "guix" for p in pins):
        pins.insert(0, {"name": "guix"})
    return channel_modules.Providers(pins, channel_repos, checkouts)


def inputs_from_closure(found: closure.Closure, channels_text: str, *, load_path, cwd: str,
                        strict: bool = False, keep_cwd: bool = False,
                        allow_outside=()) -> Inputs:
    """Lay a closure out as a tree rooted at the deepest directory holding all of it.

    The working directory is part of the tree (and guix runs there at build time) when it
    matters: a computed relative name resolves against it, ``-L`` is given, or ``keep_cwd``
    (an import: the repository); otherwise guix runs in the config's directory, as before
    issue 8, so a plain config keeps the inputs digest it had."""
    if found.warnings and strict:
        w = found.warnings[0]
        raise UsageError(f"{w} (--strict)",
                         "write the file name as a string, or a string defined in the file, "
                         "so vmfleet can record the file; or drop --strict to record the "
                         "generation marked 'inputs incomplete'")
    config = found.config
    dirs = [posixpath.dirname(config), *load_path]
    dirs += [posixpath.dirname(i.path) for i in found.inputs if not i.absolute]
    in_cwd = found.uses_cwd or bool(load_path) or keep_cwd
    if in_cwd:
        dirs.append(cwd)
    root = posixpath.commonpath(dirs)

    def rel(path: str) -> str:
        if path.startswith(root + "/"):   # the common case, without relpath's work
            return path[len(root) + 1:]
        return posixpath.relpath(path, root)

    files, modes, roles = {}, {}, {}
    config_text = ""
    for i in found.inputs:
        if i.role == "config":
            config_text = i.content.decode()
            continue
        key = i.path if i.absolute else rel(i.path)
        files[key] = i.content
        roles[key] = i.role
        if i.mode != 0o644:
            modes[key] = i.mode
    run_dir = rel(cwd) if in_cwd else rel(posixpath.dirname(config))
    warnings = tuple(str(dataclasses.replace(w, file=rel(w.file) if w.file.startswith(root) else w.file))
                     for w in found.warnings)
    return Inputs(rel(config), config_text, channels_text, files, modes, roles,
                  tuple(rel(d) for d in load_path), run_dir, found.expression, warnings,
                  tuple(str(closure.Unverified(rel(u.file) if u.file.startswith(root) else u.file,
                                               u.line, u.module, u.channels))
                        for u in found.unverified),
                  allow_outside=tuple(allow_outside))


def _check_tree_path(path: str, what: str) -> str:
    """A path inside a generation's tree: relative, normalised, no ``..``; or absolute."""
    norm = posixpath.normpath(path)
    if norm.startswith("/"):
        return norm
    if norm == ".." or norm.startswith("../") or "\0" in norm:
        raise UsageError(f"{what} {path!r} leaves the generation's directory",
                         "the registry is damaged: restore it from a backup")
    return norm


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
            channels_label: str = "channels.scm", pins: tuple[dict, ...] | None = None) -> Analysis:
    """Parse and validate inputs; raise SchemeError/UsageError with file:line:col on bad ones.
    ``pins``: the channels already read (an import reads each channels file once)."""
    variable = inputs.expression[:-1].split()[-1] if inputs.expression else None
    summary = os_config.summarize_os(inputs.config_text, config_label or inputs.config_name,
                                     extra_env=_visible_definitions(inputs), variable=variable)
    if pins is None:
        pins = read_pins(inputs.channels_text, channels_label)
    analysis = Analysis.of(pins, summary)
    if inputs.unverified:
        analysis.summary["channel_modules_not_verified"] = list(inputs.unverified)
    return analysis


def _visible_definitions(inputs: Inputs) -> dict:
    """Definitions the config sees from its recorded modules and included files, so that
    ``(operating-system (inherit base-os) …)`` summarises with the base's fields; names a
    module imports with ``#:prefix p:`` are visible as ``p:name`` too."""
    env: dict = {}
    by_path = {}
    for path, role in inputs.roles.items():
        if role in ("module", "include", "load"):
            try:   # the reader's cache: the closure read these very texts (not modified here)
                forms = reader.read_cached(inputs.files[path].decode(), path)[0]
            except (SchemeError, UnicodeDecodeError):
                continue
            by_path[path] = forms
            env.update(walker.definitions(forms))
    if not by_path:
        return env
    try:
        config_forms = reader.read_cached(inputs.config_text, inputs.config_name)[0]
    except SchemeError:
        return env
    for name, prefix, _ in closure.module_refs(config_forms):
        if not prefix:
            continue
        for d in reversed(inputs.load_path):    # the last -L first, as closure.on_load_path
            path = posixpath.normpath(posixpath.join(d, *name[:-1], name[-1] + ".scm"))
            if path in by_path:
                env.update({prefix + k: v for k, v in walker.definitions(by_path[path]).items()})
                break
    return env


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
        gen_id = reg.insert(
            "INSERT INTO generations (system, number, current_from, source, git_commit, message,"
            " config_path, config_sha256, channels_sha256, pins, unpinned, inputs_sha256, summary,"
            " recorded, layout, warnings) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (system, number, current_from, source, git_commit, message, inputs.config_name,
             config_sha, channels_sha, dumps(list(analysis.pins)), int(bool(analysis.unpinned)),
             digest, dumps(analysis.summary), timeutil.now(), dumps(inputs.layout_json),
             dumps(list(inputs.warnings))),
        )
        for path, content in sorted(inputs.files.items()):
            reg.execute("INSERT INTO generation_files (generation_id, path, sha256, mode, role) "
                        "VALUES (?,?,?,?,?)",
                        (gen_id, path, reg.put_blob(content, _content_sha(content)),
                         inputs.modes.get(path, 0o644),
                         inputs.roles.get(path, "local-file")))
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


def exists(reg: Registry, gen_id: int) -> bool:
    return reg.query_one("SELECT 1 FROM generations WHERE id = ?", (gen_id,)) is not None


def system_names(reg: Registry) -> list[str]:
    """Every system ever recorded, by name."""
    return [r["name"] for r in reg.query("SELECT name FROM systems ORDER BY name")]


def systems_with_generations(reg: Registry) -> set[str]:
    return {r["system"] for r in reg.query("SELECT DISTINCT system FROM generations")}


def unknown_system(reg: Registry, system: str) -> NotFound:
    names = system_names(reg)
    hint = f"known systems: {', '.join(names)}" if names else "record one with 'vmfleet add' or 'vmfleet import'"
    return NotFound(f"no system named {system!r}", hint)


def inputs_of(reg: Registry, gen: Generation) -> Inputs:
    rows = reg.query("SELECT path, sha256, mode, role FROM generation_files "
                     "WHERE generation_id = ? ORDER BY path", (gen.id,))
    files = {r["path"]: reg.get_blob(r["sha256"]) for r in rows}
    modes = {r["path"]: r["mode"] for r in rows if r["mode"] != 0o644}
    roles = {r["path"]: r["role"] for r in rows}
    lay = gen.layout
    return Inputs(gen.config_path, reg.get_blob(gen.config_sha256).decode(),
                  reg.get_blob(gen.channels_sha256).decode(), files, modes, roles,
                  tuple(lay.get("load_path", ())), lay.get("cwd", "."), lay.get("expression"),
                  gen.warnings, allow_outside=tuple(lay.get("allow_outside", ())))


@dataclass(frozen=True)
class Layout:
    """A generation's inputs written out for guix. ``run_dir`` is where guix runs, and every
    other path here is relative to it: ``config`` (None when ``expression`` is used instead),
    ``channels``, ``load_path``."""

    directory: Path
    run_dir: str                  # relative to ``directory``
    config: str | None
    channels: str
    load_path: tuple[str, ...]
    expression: str | None


PINNED_CHANNELS = "vmfleet-pinned-channels.scm"
ABSOLUTE_DIR = ".vmfleet-absolute"


def layout(reg: Registry, gen: Generation, directory: str | os.PathLike) -> Layout:
    """Write a generation's inputs into ``directory``, as they were on disk, for guix.

    The tree (config, modules, included and local files) is written under ``directory`` with
    the paths recorded. The pinned channels file gets a name of its own next to the tree
    (``vmfleet-pinned-channels.scm``, or another name if the tree holds one), so it never
    replaces a file of the config. Files the config names by an absolute path are written
    below ``.vmfleet-absolute/``, and the *build copies* of the Scheme files that name them
    read that copy instead, through a relative name (same file name, so the store item guix
    makes from it is the same); the recorded text, which ``show --config`` prints, keeps the
    original name.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    inputs = inputs_of(reg, gen)
    config_rel = _check_tree_path(inputs.config_name, "config")
    texts = {config_rel: inputs.config_text}
    absolute = {}
    for key, content in inputs.files.items():
        path = _check_tree_path(key, "recorded file")
        if path.startswith("/"):
            absolute[path] = posixpath.join(ABSOLUTE_DIR, path.lstrip("/"))
            _write(directory / absolute[path], content, inputs.modes.get(key, 0o644))
        elif inputs.roles.get(key) in ("module", "include", "load"):
            texts[path] = content.decode()
        else:
            _write(directory / path, content, inputs.modes.get(key, 0o644))
    for path, text in texts.items():
        for abs_name, copy in absolute.items():
            relative = posixpath.relpath(copy, posixpath.dirname(path) or ".")
            text = text.replace(render_string(abs_name), render_string(relative))
        _write(directory / path, text.encode(), 0o644)
    names = set(texts) | set(inputs.files)
    channels = PINNED_CHANNELS
    n = 1
    while channels in names:
        n += 1
        channels = f"vmfleet-pinned-channels-{n}.scm"
    (directory / channels).write_text(inputs.channels_text)
    run_dir = _check_tree_path(inputs.cwd, "working directory")
    (directory / run_dir).mkdir(parents=True, exist_ok=True)

    def from_run(p: str) -> str:
        rel = posixpath.relpath(p, run_dir)
        # A file named like an option (--expression=….scm) must reach guix as a file.
        return f"./{rel}" if rel.startswith("-") else rel

    return Layout(directory, run_dir, None if inputs.expression else from_run(config_rel),
                  from_run(channels), tuple(from_run(_check_tree_path(d, "load path"))
                                            for d in inputs.load_path), inputs.expression)


def materialize(reg: Registry, gen: Generation, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write a generation's inputs into ``directory``; return (config, channels) paths."""
    lay = layout(reg, gen, directory)
    config = Path(directory) / _check_tree_path(gen.config_path, "config")
    return config, Path(directory) / posixpath.normpath(posixpath.join(lay.run_dir, lay.channels))


def _write(path: Path, content: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(0o755 if mode & 0o111 else 0o644)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def input_changes(reg: Registry, previous: Generation, current: Generation) -> list[str]:
    """``ROLE PATH added|removed|changed`` for each recorded input (not the config) that
    differs, in the words of the diff's inputs layer."""
    def files(gen):
        return {r["path"]: (r["role"], r["sha256"]) for r in reg.query(
            "SELECT path, role, sha256 FROM generation_files WHERE generation_id = ?", (gen.id,))}

    a, b = files(previous), files(current)
    out = []
    for path in sorted(set(a) | set(b)):
        if a.get(path) == b.get(path):
            continue
        change = "added" if path not in a else "removed" if path not in b else "changed"
        out.append(f"{(b.get(path) or a.get(path))[0]} {path} {change}")
    return out


def describe_change(previous: Generation | None, current: Generation,
                    inputs: list[str] | None = None) -> str:
    """A one-line summary of what changed from ``previous`` to ``current``; ``inputs``: the
    input_changes, said when nothing else changed."""
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
    if previous.config_sha256 != current.config_sha256 and not parts:
        parts.append("config edited")
    if inputs:
        parts += inputs if len(inputs) <= 3 else [*inputs[:2], f"and {len(inputs) - 2} more inputs"]
    if not parts:
        parts.append("files changed")
    return " ".join(parts)


def _names(summary: dict, key: str) -> set[str]:
    """Package names, or the types of the services a config has (not markers or deletions)."""
    items = summary.get(key, [])
    if key == "services":
        return {i["type"] for i in items if i.get("kind", "service") in ("service", "simple-service")}
    return {i for i in items if not i.startswith("%")}
