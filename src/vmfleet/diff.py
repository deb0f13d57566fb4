"""What differs between two systems, layer by layer: channels, config, packages, files.

Each operand (a :class:`Side`) is a recorded generation (its config and channel pins from the
registry, its packages and files from the image of its latest successful build), an image file,
or a running VM (``vm:NAME``, read over SSH). Layers are compared independently; a layer that
one side cannot provide (a generation never built has no packages) is *skipped* with the reason,
not guessed.

- channels: per channel, commit A → B; with a local clone of the channel (``--channel-repo
  NAME=PATH``, or Guix's own checkout cache) the commit dates, how many commits lie between
  and whether B descends from A (otherwise it is a downgrade, or the histories diverged);
- config: a structural diff of the two ``operating-system`` declarations (vmfleet.scheme):
  fields changed, packages added/removed, services added/removed/reconfigured; optionally a
  unified diff of the texts;
- packages: the store items of both images grouped by package name, compared by store file
  name only (same name = same build inputs, guix-facts.md): added, removed, upgraded,
  downgraded, rebuilt (same version, new hash), with NAR size deltas and whether the system
  profile asked for the package;
- files: everything outside /gnu/store: added, removed, changed type/mode/owner/size/content/
  link target, with a unified diff for text files on request.

``to_json`` gives the stable JSON form documented by docs/diff.schema.json; ``render`` the
human one (one line per change, grouped by layer, in the manner of ``nix store diff-closures``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ImageError, SchemeError, UsageError, VmfleetError
from .inspect import FileFact, ImageFacts
from .storeitems import STORE, ChannelPin, StoreItem, compare_versions

LAYERS = ("channels", "config", "packages", "files")
JSON_VERSION = 1


# --- sides -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One operand of a diff, with what is known about each layer (None: unknown)."""

    label: str                               # as the user wrote it: web@3, ./a.qcow2, vm:web
    kind: str                                # 'generation', 'image' or 'vm'
    source: str                              # image file, VM name or generation label
    facts: ImageFacts | None = None          # packages and files layers
    channels: tuple[ChannelPin, ...] | None = None
    config_text: str | None = None
    config_name: str = "configuration.scm"
    summary: dict | None = None              # vmfleet.scheme.OsSummary.to_dict()
    missing: Mapping[str, str] = field(default_factory=dict)   # layer -> why it is unknown

    @property
    def system(self) -> str | None:
        return self.facts.system if self.facts else None


def side_from_facts(label: str, facts: ImageFacts, kind: str = "image") -> Side:
    """A side read from an image (or a VM): channels and config from its provenance."""
    from . import scheme

    missing: dict[str, str] = {}
    channels: tuple[ChannelPin, ...] | None = None
    if facts.provenance is not None:
        channels = facts.provenance.channels
    elif facts.channels_scm:
        try:
            channels = tuple(ChannelPin(c.name, c.url, c.branch, c.commit)
                             for c in scheme.parse_channels(facts.channels_scm, "channels.scm"))
        except SchemeError as e:
            missing["channels"] = f"{label}: unreadable channels.scm ({e.message})"
    if channels is None and "channels" not in missing:
        missing["channels"] = (f"{label} has no provenance (built without --save-provenance)")
    summary = None
    if facts.configuration is not None:
        summary = _summarize(facts.configuration, f"{label}:configuration.scm", missing)
    else:
        missing["config"] = f"{label} has no configuration.scm (built without --save-provenance)"
    if facts.files is None:
        missing["files"] = f"{label}: files were not read"
    return Side(label=label, kind=kind, source=facts.source, facts=facts, channels=channels,
                config_text=facts.configuration, summary=summary, missing=missing)


def _summarize(text: str, filename: str, missing: dict[str, str]) -> dict | None:
    from . import scheme

    try:
        return scheme.summarize_os(text, filename).to_dict()
    except SchemeError as e:
        missing["config-structure"] = e.message
        return None


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
    from .scheme import canonical_channel_url

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


def _git(repo: Path, *args: str):
    from .run import run

    return run(["git", "-C", str(repo), *args], check=False, timeout=120,
               env={"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})


def commit_relation(repo: Path, a: str | None, b: str | None) -> dict:
    """Dates of ``a`` and ``b`` in a local clone, and how they relate."""
    out: dict = {}
    if not a or not b:
        return out
    for key, commit in (("date_a", a), ("date_b", b)):
        res = _git(repo, "show", "-s", "--format=%cI", f"{commit}^{{commit}}")
        if res.returncode == 0 and res.stdout.strip():
            out[key] = res.stdout.strip().splitlines()[-1]
    if "date_a" not in out or "date_b" not in out:
        return out
    if _git(repo, "merge-base", "--is-ancestor", a, b).returncode == 0:
        out["relation"] = "descends"
    elif _git(repo, "merge-base", "--is-ancestor", b, a).returncode == 0:
        out["relation"] = "ancestor"
    else:
        out["relation"] = "diverged"
    res = _git(repo, "rev-list", "--left-right", "--count", f"{a}...{b}")
    if res.returncode == 0:
        left, right = res.stdout.split()
        out["behind"], out["ahead"] = int(left), int(right)
    return out


def find_checkout(url: str | None) -> Path | None:
    """Guix's own clone of a channel (~/.cache/guix/checkouts/*), if it has one."""
    from .run import which
    from .scheme import canonical_channel_url

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
        res = _git(d, "config", "--get", "remote.origin.url")
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


# --- config ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ServiceChange:
    type: str
    kind: str                    # service, simple-service, base, modified, deleted, other
    change: str                  # added, removed, reconfigured
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ConfigDiff:
    fields: tuple[FieldChange, ...] = ()
    packages_added: tuple[str, ...] = ()
    packages_removed: tuple[str, ...] = ()
    services: tuple[ServiceChange, ...] = ()
    text_changed: bool = False
    structural: bool = True      # False when a config could not be read structurally
    text_diff: str | None = None

    @property
    def equal(self) -> bool:
        return not self.text_changed


def diff_config(a: Side, b: Side, *, text: bool = False) -> ConfigDiff:
    ta, tb = a.config_text or "", b.config_text or ""
    unified = None
    if text and ta != tb:
        unified = "".join(difflib.unified_diff(
            ta.splitlines(keepends=True), tb.splitlines(keepends=True),
            fromfile=f"a/{a.config_name}", tofile=f"b/{b.config_name}"))
    if ta == tb:
        return ConfigDiff(text_diff=unified)
    sa, sb = a.summary, b.summary
    if sa is None or sb is None:
        return ConfigDiff(text_changed=True, structural=False, text_diff=unified)
    pa, pb = list(sa.get("packages", [])), list(sb.get("packages", []))
    added = tuple(p for p in dict.fromkeys(pb) if p not in pa)
    removed = tuple(p for p in dict.fromkeys(pa) if p not in pb)
    services = _diff_services(sa.get("services", []), sb.get("services", []))
    fa, fb = sa.get("fields", {}), sb.get("fields", {})
    fields = []
    for name in _ordered_union(fa, fb):
        if fa.get(name) == fb.get(name):
            continue
        # Packages and services are listed one by one below; their field is only worth a line
        # when the change is something else (order, spelling).
        if name == "packages" and (added or removed):
            continue
        if name == "services" and services:
            continue
        fields.append(FieldChange(name, fa.get(name), fb.get(name)))
    return ConfigDiff(fields=tuple(fields), packages_added=added, packages_removed=removed,
                      services=services, text_changed=True, text_diff=unified)


def _ordered_union(a: Mapping, b: Mapping) -> list:
    return list(dict.fromkeys([*a, *b]))


def _diff_services(a: list[dict], b: list[dict]) -> tuple[ServiceChange, ...]:
    def group(services):
        out: dict[tuple[str, str], list[str]] = {}
        for s in services:
            key = (s.get("type", "?"), s.get("kind", "service"))
            out.setdefault(key, []).append(s.get("config", ""))
        return out

    ga, gb = group(a), group(b)
    changes = []
    for key in _ordered_union(ga, gb):
        type_, kind = key
        ca, cb = ga.get(key, []), gb.get(key, [])
        if ca == cb:
            continue
        if not ca:
            changes += [ServiceChange(type_, kind, "added", None, c) for c in cb]
        elif not cb:
            changes += [ServiceChange(type_, kind, "removed", c, None) for c in ca]
        else:
            # The same type in both: pair them in order; extra instances are added/removed.
            for i in range(max(len(ca), len(cb))):
                before = ca[i] if i < len(ca) else None
                after = cb[i] if i < len(cb) else None
                if before == after:
                    continue
                change = ("added" if before is None else "removed" if after is None
                          else "reconfigured")
                changes.append(ServiceChange(type_, kind, change, before, after))
    return tuple(changes)


# --- packages --------------------------------------------------------------------------------

PACKAGE_ORDER = ("upgraded", "downgraded", "added", "removed", "rebuilt", "changed")


@dataclass(frozen=True)
class PackageChange:
    name: str
    change: str                  # added, removed, upgraded, downgraded, rebuilt, changed
    versions_a: tuple[str, ...]
    versions_b: tuple[str, ...]
    size_a: int | None
    size_b: int | None
    requested: bool              # the system profile asked for it (in either image)
    paths_a: tuple[str, ...] = ()
    paths_b: tuple[str, ...] = ()

    @property
    def size_delta(self) -> int | None:
        if self.size_a is None and self.size_b is None:
            return None
        return (self.size_b or 0) - (self.size_a or 0)


@dataclass(frozen=True)
class PackagesDiff:
    changes: tuple[PackageChange, ...]
    items_a: int
    items_b: int
    size_a: int | None
    size_b: int | None
    unchanged: int               # package names present in both with the same items

    @property
    def equal(self) -> bool:
        return not self.changes

    @property
    def size_delta(self) -> int | None:
        if self.size_a is None or self.size_b is None:
            return None
        return self.size_b - self.size_a


def _group(items: Iterable[StoreItem]) -> dict[str, list[StoreItem]]:
    groups: dict[str, list[StoreItem]] = {}
    for item in items:
        groups.setdefault(item.package, []).append(item)
    return groups


def _size(items: list[StoreItem]) -> int | None:
    if not items:
        return 0
    if any(i.nar_size is None for i in items):
        return None
    return sum(i.nar_size or 0 for i in items)


def _newest(versions: Iterable[str]) -> str:
    best = ""
    for v in versions:
        if compare_versions(v, best) > 0:
            best = v
    return best


def classify(versions_a: Sequence[str], versions_b: Sequence[str], paths_equal: bool) -> str:
    """How a package changed, from its versions on both sides (multisets) and its file names."""
    if not versions_a:
        return "added"
    if not versions_b:
        return "removed"
    if paths_equal:
        return "unchanged"
    if sorted(versions_a) == sorted(versions_b):
        return "rebuilt"
    order = compare_versions(_newest(versions_b), _newest(versions_a))
    if order > 0:
        return "upgraded"
    if order < 0:
        return "downgraded"
    return "changed"


def diff_packages(a: ImageFacts, b: ImageFacts) -> PackagesDiff:
    ga, gb = _group(a.items), _group(b.items)
    requested = {p.name for p in (*a.packages, *b.packages)}
    requested_paths = {p.path for p in (*a.packages, *b.packages)}
    changes = []
    unchanged = 0
    for name in sorted(set(ga) | set(gb)):
        ia, ib = ga.get(name, []), gb.get(name, [])
        pa = tuple(sorted(i.path for i in ia))
        pb = tuple(sorted(i.path for i in ib))
        if pa == pb:  # the same file names: the same items (most of a closure)
            unchanged += 1
            continue
        va = tuple(sorted((i.version for i in ia), key=_version_key))
        vb = tuple(sorted((i.version for i in ib), key=_version_key))
        kind = classify(va, vb, False)
        asked = name in requested or bool(requested_paths & {*pa, *pb})
        changes.append(PackageChange(name, kind, va, vb, _size(ia), _size(ib), asked, pa, pb))
    changes.sort(key=lambda c: (PACKAGE_ORDER.index(c.change), c.name))
    return PackagesDiff(tuple(changes), len(a.items), len(b.items), a.closure_size,
                        b.closure_size, unchanged)


def _version_key(v: str):
    import functools

    return functools.cmp_to_key(compare_versions)(v)


# --- files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileChange:
    path: str
    change: str                  # added, removed, changed
    what: tuple[str, ...]        # for changed: type, mode, owner, size, content, target
    a: FileFact | None
    b: FileFact | None
    diff: str | None = None      # unified diff of text content, with --files


def diff_files(a: Sequence[FileFact], b: Sequence[FileFact], *,
               content: bool = False) -> tuple[FileChange, ...]:
    by_a = {f.path: f for f in a}
    by_b = {f.path: f for f in b}
    changes = []
    for path in sorted(set(by_a) | set(by_b)):
        fa, fb = by_a.get(path), by_b.get(path)
        if fa is None or fb is None:
            change = "added" if fa is None else "removed"
            text_diff = _text_diff(fa, fb, path) if content else None
            changes.append(FileChange(path, change, (), fa, fb, text_diff))
            continue
        what = []
        if fa.kind != fb.kind:
            what.append("type")
        if fa.mode != fb.mode:
            what.append("mode")
        if (fa.uid, fa.gid) != (fb.uid, fb.gid):
            what.append("owner")
        if fa.kind == fb.kind == "file":
            if fa.size != fb.size:
                what.append("size")
            if fa.sha256 != fb.sha256:
                what.append("content")
        if fa.target != fb.target and fa.kind == fb.kind == "symlink":
            what.append("target")
        if what:
            text_diff = _text_diff(fa, fb, path) if content and "content" in what else None
            changes.append(FileChange(path, "changed", tuple(what), fa, fb, text_diff))
    return tuple(changes)


def _text_diff(fa: FileFact | None, fb: FileFact | None, path: str) -> str | None:
    def text_of(f: FileFact | None) -> str | None:
        if f is None:
            return ""
        if f.kind != "file":
            return None
        return f.text

    ta, tb = text_of(fa), text_of(fb)
    if ta is None or tb is None:
        return None
    return "".join(difflib.unified_diff(
        ta.splitlines(keepends=True), tb.splitlines(keepends=True),
        fromfile=f"a{path}" if fa else "/dev/null", tofile=f"b{path}" if fb else "/dev/null"))


# --- the whole diff --------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSkip:
    layer: str
    reason: str


@dataclass(frozen=True)
class Diff:
    a: Side
    b: Side
    layers: tuple[str, ...]
    channels: tuple[ChannelChange, ...] | None = None
    config: ConfigDiff | None = None
    packages: PackagesDiff | None = None
    files: tuple[FileChange, ...] | None = None
    skipped: tuple[LayerSkip, ...] = ()

    def layer_equal(self, layer: str) -> bool | None:
        value = getattr(self, layer)
        if value is None:
            return None
        if layer == "config":
            return value.equal
        if layer == "packages":
            return value.equal
        return not value

    @property
    def compared(self) -> tuple[str, ...]:
        return tuple(layer for layer in self.layers if getattr(self, layer) is not None)

    @property
    def equal(self) -> bool:
        return all(self.layer_equal(layer) for layer in self.compared)


def parse_layers(text: str | None) -> tuple[str, ...]:
    if not text:
        return LAYERS
    chosen = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in chosen if x not in LAYERS]
    if bad or not chosen:
        raise UsageError(f"unknown layer {', '.join(bad) or repr(text)}",
                         f"choose from {','.join(LAYERS)}")
    return tuple(x for x in LAYERS if x in chosen)


def compare(a: Side, b: Side, *, layers: Sequence[str] = LAYERS, text: bool = False,
            file_content: bool = False, channel_repos: Mapping[str, Path] | None = None,
            discover_repos: bool = True) -> Diff:
    """Compare two sides on the chosen layers; unknown layers become skips with a reason."""
    skipped: list[LayerSkip] = []
    result: dict = {}

    def why(layer: str, test: Callable[[Side], bool]) -> str | None:
        for side in (a, b):
            if not test(side):
                return side.missing.get(layer) or f"{side.label}: {layer} unknown"
        return None

    if "channels" in layers:
        reason = why("channels", lambda s: s.channels is not None)
        if reason:
            skipped.append(LayerSkip("channels", reason))
        else:
            result["channels"] = diff_channels(a.channels or (), b.channels or (),
                                               channel_repos, discover=discover_repos)
    if "config" in layers:
        reason = why("config", lambda s: s.config_text is not None)
        if reason:
            skipped.append(LayerSkip("config", reason))
        else:
            result["config"] = diff_config(a, b, text=text)
    if "packages" in layers:
        reason = why("packages", lambda s: s.facts is not None)
        if reason:
            skipped.append(LayerSkip("packages", reason))
        else:
            result["packages"] = diff_packages(a.facts, b.facts)
    if "files" in layers:
        reason = why("files", lambda s: s.facts is not None and s.facts.files is not None)
        if reason:
            skipped.append(LayerSkip("files", reason))
        else:
            result["files"] = diff_files(a.facts.files, b.facts.files, content=file_content)
    return Diff(a=a, b=b, layers=tuple(x for x in LAYERS if x in layers), skipped=tuple(skipped),
                **result)


# --- resolving operands ----------------------------------------------------------------------


def looks_like_file(text: str) -> bool:
    return (os.path.sep in text or text.endswith((".qcow2", ".img", ".raw"))
            or os.path.isfile(text))


def load_side(text: str, *, files: bool = True, texts: bool = False, registry=None,
              vm_reader: Callable[[str], ImageFacts] | None = None) -> Side:
    """Resolve an operand: ``vm:NAME``, a path to an image file, or a generation spec.

    ``registry`` is a callable returning an open Registry (only called for specs and VMs).
    """
    from .inspect import inspect_image

    if text.startswith("vm:"):
        if vm_reader is None:
            raise UsageError(f"cannot read {text}", "vm: operands need the registry")
        return side_from_facts(text, vm_reader(text[3:]), kind="vm")
    if looks_like_file(text):
        if not os.path.exists(text):
            raise ImageError(f"{text}: no such image file", "check the path")
        return side_from_facts(text, inspect_image(text, files=files, texts=texts))
    if registry is None:
        raise UsageError(f"{text!r} is neither an image file nor vm:NAME",
                         "generation specs need a registry")
    return generation_side(registry(), text, files=files, texts=texts)


def load_sides(a: str, b: str, **kwargs) -> tuple[Side, Side]:
    """Both operands, read at the same time (the work is in subprocesses: debugfs, qemu).

    Each thread opens (and closes) its own registry connection when it needs one: sqlite3
    connections stay in the thread that made them.
    """
    from concurrent.futures import ThreadPoolExecutor

    registry = kwargs.pop("registry", None)

    def one(text: str) -> Side:
        opened = []

        def reg():
            opened.append(registry())
            return opened[-1]

        try:
            return load_side(text, registry=reg if registry else None, **kwargs)
        finally:
            for r in opened:
                r.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        fa, fb = pool.submit(one, a), pool.submit(one, b)
        return fa.result(), fb.result()


def generation_side(reg, text: str, *, files: bool = True, texts: bool = False) -> Side:
    """A recorded generation: config and pins from the registry, the rest from its image."""
    from . import build, generations, spec
    from .inspect import inspect_image

    gen = spec.resolve(reg, text)
    inputs = generations.inputs_of(reg, gen)
    channels = tuple(ChannelPin(p.get("name", ""), p.get("url", ""), p.get("branch"),
                                p.get("commit")) for p in gen.pins)
    missing: dict[str, str] = {}
    facts = None
    image = latest_image(build, reg, gen)
    if image is None:
        reason = f"{gen.label} has no built image: vmfleet build {gen.label}"
        missing["packages"] = missing["files"] = reason
    else:
        facts = inspect_image(image, files=files, texts=texts)
        if facts.files is None:
            missing["files"] = f"{gen.label}: files were not read"
    return Side(label=gen.label, kind="generation", source=image or gen.label, facts=facts,
                channels=channels, config_text=inputs.config_text,
                config_name=inputs.config_name, summary=gen.summary or None, missing=missing)


def latest_image(build_module, reg, gen) -> str | None:
    builds = [b for b in build_module.list_builds(reg, gen.system)
              if b.generation_id == gen.id and str(b.status) == "succeeded" and b.image_path]
    return builds[-1].image_path if builds else None


# --- output ----------------------------------------------------------------------------------


def human_size(n: int | None, signed: bool = False) -> str:
    if n is None:
        return "?"
    sign = ("+" if n > 0 else "-" if n < 0 else "±") if signed else ("-" if n < 0 else "")
    v = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024 or unit == "GiB":
            return f"{sign}{v:.0f} {unit}" if unit == "B" else f"{sign}{v:.1f} {unit}"
        v /= 1024
    raise AssertionError("unreachable")


COLOURS = {"added": "32", "removed": "31", "upgraded": "36", "downgraded": "35",
           "rebuilt": "33", "changed": "33", "updated": "36", "reconfigured": "33",
           "url-changed": "33", "heading": "1"}


def _paint(text: str, kind: str, colour: bool) -> str:
    code = COLOURS.get(kind)
    if not colour or not code:
        return text
    return f"\x1b[{code}m{text}\x1b[0m"


def _short(commit: str | None) -> str:
    return commit[:10] if commit else "(none)"


def render(d: Diff, *, colour: bool = False) -> str:
    """The human report: a heading per layer, one line per change."""
    out: list[str] = [
        f"--- a: {d.a.label}" + (f"  ({d.a.system})" if d.a.system else ""),
        f"+++ b: {d.b.label}" + (f"  ({d.b.system})" if d.b.system else ""),
    ]
    skipped = {s.layer: s.reason for s in d.skipped}

    def heading(name: str, extra: str = "") -> None:
        out.append("")
        out.append(_paint(name, "heading", colour) + (f"  {extra}" if extra else ""))

    for layer in d.layers:
        if layer in skipped:
            heading(layer, f"skipped: {skipped[layer]}")
            continue
        if layer == "channels":
            heading("channels", "" if d.channels else "same")
            for c in d.channels or ():
                out.append("  " + _channel_line(c, colour))
        elif layer == "config":
            cfg = d.config
            heading("config", "same" if cfg.equal else "")
            out += ["  " + line for line in _config_lines(cfg, colour)]
        elif layer == "packages":
            p = d.packages
            extra = (f"{p.items_a} → {p.items_b} items, {human_size(p.size_a)} → "
                     f"{human_size(p.size_b)}")
            if p.size_delta is not None:
                extra += f" ({human_size(p.size_delta, signed=True)})"
            if p.equal:
                extra += ", same"
            heading("packages", extra)
            out += ["  " + line for line in _package_lines(p, colour)]
        elif layer == "files":
            heading("files", "" if d.files else "same")
            singles, moved = _group_retargets(d.files or ())
            for f in singles:
                out.append("  " + _file_line(f, colour))
                if f.diff:
                    out += ["    " + ln for ln in f.diff.rstrip("\n").split("\n")]
            for (old, new), links in moved.items():
                out.append("  " + _retarget_line(old, new, links, colour))
        if layer == "config" and d.config and d.config.text_diff:
            out += ["    " + ln for ln in d.config.text_diff.rstrip("\n").split("\n")]
    return "\n".join(out) + "\n"


def _channel_line(c: ChannelChange, colour: bool) -> str:
    word = _paint(f"{c.change:<10}", c.change, colour)
    if c.change in ("added", "removed"):
        commit = c.commit_b if c.change == "added" else c.commit_a
        url = c.url_b if c.change == "added" else c.url_a
        return f"{word} {c.name}  {_short(commit)}  {url}"
    if c.change == "url-changed":
        return f"{word} {c.name}  {c.url_a} → {c.url_b}"
    line = f"{word} {c.name}  {_short(c.commit_a)} → {_short(c.commit_b)}"
    details = []
    if c.date_a and c.date_b:
        details.append(f"{c.date_a[:10]} → {c.date_b[:10]}")
    if c.relation == "descends":
        details.append(f"{c.ahead} commits forward")
    elif c.relation == "ancestor":
        details.append(f"DOWNGRADE: {c.behind} commits back")
    elif c.relation == "diverged":
        details.append(f"diverged: {c.ahead} new, {c.behind} dropped")
    if details:
        line += "  (" + ", ".join(details) + ")"
    return line


def _config_lines(cfg: ConfigDiff, colour: bool) -> list[str]:
    lines = []
    if cfg.equal:
        return lines
    if not cfg.structural:
        lines.append(_paint("changed   ", "changed", colour)
                     + " text (not readable structurally; see --text)")
        return lines
    for f in cfg.fields:
        lines.append(f"{_paint('changed   ', 'changed', colour)} field {f.field}: "
                     f"{_clip(f.before)} → {_clip(f.after)}")
    for p in cfg.packages_added:
        lines.append(f"{_paint('added     ', 'added', colour)} package {p}")
    for p in cfg.packages_removed:
        lines.append(f"{_paint('removed   ', 'removed', colour)} package {p}")
    for s in cfg.services:
        what = s.type if s.kind == "service" else f"{s.type} ({s.kind})"
        line = f"{_paint(f'{s.change:<10}', s.change, colour)} service {what}"
        if s.change == "reconfigured":
            line += f": {_clip(s.before)} → {_clip(s.after)}"
        lines.append(line)
    if not (cfg.fields or cfg.packages_added or cfg.packages_removed or cfg.services):
        lines.append(_paint("changed   ", "changed", colour)
                     + " text only (comments or layout; same declaration)")
    return lines


def _clip(text: str | None, limit: int = 60) -> str:
    if text is None:
        return "(none)"
    if text == "":
        return "(default)"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _versions(vs: Sequence[str]) -> str:
    shown = [v or "ε" for v in dict.fromkeys(vs)]
    return ", ".join(shown) if shown else "∅"


def _package_lines(p: PackagesDiff, colour: bool) -> list[str]:
    versioned = [c for c in p.changes
                 if not (c.change in ("rebuilt", "changed")
                         and not any([*c.versions_a, *c.versions_b]))]
    unversioned = [c for c in p.changes if c not in versioned]
    width = max((len(c.name) + (1 if c.requested else 0) for c in versioned), default=0)
    lines = []
    for c in versioned:
        name = (c.name + ("*" if c.requested else "")).ljust(width)
        if c.change == "added":
            versions = _versions(c.versions_b)
        elif c.change in ("removed", "rebuilt"):
            versions = _versions(c.versions_a)
        else:
            versions = f"{_versions(c.versions_a)} → {_versions(c.versions_b)}"
        lines.append(f"{_paint(f'{c.change:<10}', c.change, colour)} {name}  "
                     f"{versions:<24} {human_size(c.size_delta, signed=True):>12}")
    if unversioned:
        delta = sum(c.size_delta or 0 for c in unversioned)
        names = ", ".join(c.name for c in unversioned[:8])
        if len(unversioned) > 8:
            names += f", … ({len(unversioned) - 8} more)"
        lines.append(f"{_paint('rebuilt   ', 'rebuilt', colour)} {len(unversioned)} items "
                     f"without a version: {names}  ({human_size(delta, signed=True)})")
    if any(c.requested for c in p.changes):
        lines.append("(* = asked for by the system profile; the others are dependencies)")
    return lines


def _mode(f: FileFact) -> str:
    import stat

    kinds = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK,
             "char": stat.S_IFCHR, "block": stat.S_IFBLK, "fifo": stat.S_IFIFO,
             "socket": stat.S_IFSOCK}
    return stat.filemode(kinds.get(f.kind, 0) | f.mode)


def _describe(f: FileFact) -> str:
    text = f"{_mode(f)} {f.uid}:{f.gid}"
    if f.kind == "file":
        text += f" {human_size(f.size)}"
    if f.kind == "symlink":
        text += f" → {f.target}"
    return text


def _store_item(target: str | None) -> str | None:
    """The store item a symlink target lies in (``/gnu/store/HASH-NAME``), else None."""
    if not target or not target.startswith(STORE + "/"):
        return None
    return "/".join(target.split("/")[:4])


def _group_retargets(changes: Sequence[FileChange]
                     ) -> tuple[list[FileChange], dict[tuple[str, str], list[FileChange]]]:
    """Split off symlinks whose only change is pointing into another store item.

    An upgrade moves every link into a package (/bin/* into busybox, /etc/static into etc) at
    once; one line per moved pair of items says it, the packages layer says why.
    """
    singles: list[FileChange] = []
    moved: dict[tuple[str, str], list[FileChange]] = {}
    for c in changes:
        old, new = (_store_item(c.a.target) if c.a else None,
                    _store_item(c.b.target) if c.b else None)
        if (c.change == "changed" and c.what == ("target",) and old and new
                and c.a.target[len(old):] == c.b.target[len(new):]):
            moved.setdefault((old, new), []).append(c)
        else:
            singles.append(c)
    # Moves of a single link read better as the link itself.
    for key in [k for k, v in moved.items() if len(v) == 1]:
        singles.append(moved.pop(key)[0])
    singles.sort(key=lambda c: c.path)
    return singles, moved


def _retarget_line(old: str, new: str, links: list[FileChange], colour: bool) -> str:
    word = _paint(f"{'changed':<10}", "changed", colour)
    examples = ", ".join(c.path for c in links[:3]) + (", …" if len(links) > 3 else "")
    return (f"{word} {len(links)} symlinks ({examples})  target "
            f"{old.rsplit('/', 1)[1][33:]} → {new.rsplit('/', 1)[1][33:]} "
            f"(same file in the new store item)")


def _file_line(c: FileChange, colour: bool) -> str:
    word = _paint(f"{c.change:<10}", c.change, colour)
    if c.change == "added":
        return f"{word} {c.path}  {_describe(c.b)}"
    if c.change == "removed":
        return f"{word} {c.path}  {_describe(c.a)}"
    parts = []
    a, b = c.a, c.b
    for what in c.what:
        if what == "type":
            parts.append(f"type {a.kind} → {b.kind}")
        elif what == "mode":
            parts.append(f"mode {_mode(a)} → {_mode(b)}")
        elif what == "owner":
            parts.append(f"owner {a.uid}:{a.gid} → {b.uid}:{b.gid}")
        elif what == "size":
            parts.append(f"size {a.size} → {b.size}")
        elif what == "content":
            parts.append("content")
        elif what == "target":
            parts.append(f"target {a.target} → {b.target}")
    return f"{word} {c.path}  " + ", ".join(parts)


# --- JSON ------------------------------------------------------------------------------------


def _file_json(f: FileFact | None) -> dict | None:
    if f is None:
        return None
    return {"kind": f.kind, "mode": f"{f.mode:04o}", "uid": f.uid, "gid": f.gid, "size": f.size,
            "sha256": f.sha256, "target": f.target}


def _side_json(s: Side) -> dict:
    return {"label": s.label, "kind": s.kind, "source": s.source, "system": s.system}


def to_json(d: Diff) -> dict:
    """The stable JSON form (docs/diff.schema.json, version 1)."""
    skipped = {s.layer: s.reason for s in d.skipped}
    layers: dict = {}
    for layer in d.layers:
        if layer in skipped:
            layers[layer] = {"status": "skipped", "reason": skipped[layer]}
            continue
        status = "equal" if d.layer_equal(layer) else "different"
        if layer == "channels":
            layers[layer] = {"status": status, "changes": [
                {"name": c.name, "change": c.change, "url_a": c.url_a, "url_b": c.url_b,
                 "commit_a": c.commit_a, "commit_b": c.commit_b, "date_a": c.date_a,
                 "date_b": c.date_b, "relation": c.relation, "ahead": c.ahead,
                 "behind": c.behind} for c in d.channels]}
        elif layer == "config":
            c = d.config
            layers[layer] = {
                "status": status, "text_changed": c.text_changed, "structural": c.structural,
                "fields": [{"field": f.field, "before": f.before, "after": f.after}
                           for f in c.fields],
                "packages": {"added": list(c.packages_added),
                             "removed": list(c.packages_removed)},
                "services": [{"type": s.type, "kind": s.kind, "change": s.change,
                              "before": s.before, "after": s.after} for s in c.services],
                "text_diff": c.text_diff,
            }
        elif layer == "packages":
            p = d.packages
            layers[layer] = {
                "status": status,
                "items": {"a": p.items_a, "b": p.items_b},
                "size": {"a": p.size_a, "b": p.size_b, "delta": p.size_delta},
                "unchanged": p.unchanged,
                "changes": [{"name": c.name, "change": c.change,
                             "versions_a": list(c.versions_a), "versions_b": list(c.versions_b),
                             "size_a": c.size_a, "size_b": c.size_b,
                             "size_delta": c.size_delta, "requested": c.requested,
                             "paths_a": list(c.paths_a), "paths_b": list(c.paths_b)}
                            for c in p.changes],
            }
        elif layer == "files":
            layers[layer] = {"status": status, "changes": [
                {"path": f.path, "change": f.change, "what": list(f.what),
                 "a": _file_json(f.a), "b": _file_json(f.b), "diff": f.diff}
                for f in d.files]}
    return {"version": JSON_VERSION, "equal": d.equal, "a": _side_json(d.a),
            "b": _side_json(d.b), "layers": layers}
