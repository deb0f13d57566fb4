"""The whole diff: each requested layer compared, or skipped with the reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmfleet.diff.channel_diff import ChannelChange, diff_channels
from vmfleet.diff.config_diff import ConfigDiff, diff_config
from vmfleet.diff.file_diff import FileChange, diff_files
from vmfleet.diff.input_diff import InputChange, diff_inputs
from vmfleet.diff.package_diff import PackagesDiff, diff_packages
from vmfleet.diff.sides import LAYERS, Side
from vmfleet.errors import UsageError

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
    inputs: tuple[InputChange, ...] | None = None
    packages: PackagesDiff | None = None
    files: tuple[FileChange, ...] | None = None
    skipped: tuple[LayerSkip, ...] = ()
    why: Any = None                  # vmfleet.diff.why.Why, with --why
    content: Any = None              # vmfleet.diff.content.ContentDiff, with --content
    content_skipped: str | None = None
    show_all: bool = False           # --all: unchanged items listed too

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
            discover_repos: bool = True, why: bool = False, content: bool = False,
            show_all: bool = False) -> Diff:
    """Compare two sides on the chosen layers; unknown layers become skips with a reason."""
    skipped: list[LayerSkip] = []
    result: dict = {}

    def unknown(layer: str, test: Callable[[Side], bool]) -> str | None:
        for side in (a, b):
            if not test(side):
                return side.missing.get(layer) or f"{side.label}: {layer} unknown"
        return None

    if "channels" in layers:
        reason = unknown("channels", lambda s: s.channels is not None)
        if reason:
            skipped.append(LayerSkip("channels", reason))
        else:
            result["channels"] = diff_channels(a.channels or (), b.channels or (),
                                               channel_repos, discover=discover_repos)
    if "config" in layers:
        reason = unknown("config", lambda s: s.config_text is not None)
        if reason:
            skipped.append(LayerSkip("config", reason))
        else:
            result["config"] = diff_config(a, b, text=text)
    if "inputs" in layers:
        if a.inputs is None and b.inputs is None and "inputs" not in a.missing \
                and "inputs" not in b.missing:
            layers = [x for x in layers if x != "inputs"]   # two images: no recorded inputs
        else:
            reason = next((s.missing.get("inputs") or f"{s.label} is not a generation: only "
                           "generations record their inputs" for s in (a, b)
                           if s.inputs is None), None)
            if reason:
                skipped.append(LayerSkip("inputs", reason))
            else:
                assert a.inputs is not None and b.inputs is not None  # else a reason above
                result["inputs"] = diff_inputs(a.inputs, b.inputs)
    if "packages" in layers:
        reason = unknown("packages", lambda s: s.facts is not None)
        if reason:
            skipped.append(LayerSkip("packages", reason))
        else:
            assert a.facts is not None and b.facts is not None  # else a reason above
            result["packages"] = diff_packages(a.facts, b.facts)
    if "files" in layers:
        reason = unknown("files", lambda s: s.facts is not None and s.facts.files is not None)
        if reason:
            skipped.append(LayerSkip("files", reason))
        else:
            assert a.facts is not None and b.facts is not None  # else a reason above
            assert a.facts.files is not None and b.facts.files is not None
            result["files"] = diff_files(a.facts.files, b.facts.files, content=file_content)
    if (why or content) and "packages" not in result:
        result["content_skipped"] = next(
            (s.reason for s in skipped if s.layer == "packages"),
            "--why and --content need the packages layer (--layers packages)")
    elif why or content:
        result |= _explain(a, b, result, why=why, content=content, repos=channel_repos,
                           discover=discover_repos)
    return Diff(a=a, b=b, layers=tuple(x for x in LAYERS if x in layers), skipped=tuple(skipped),
                show_all=show_all,
                **result)


def _explain(a: Side, b: Side, result: dict, *, why: bool, content: bool, repos,
             discover: bool) -> dict:
    """--why (vmfleet.diff.why) and --content (vmfleet.diff.content) over the packages layer."""
    out: dict = {}
    if why:
        from vmfleet.diff.why import explain

        config = result.get("config")
        if config is None and a.summary is not None and b.summary is not None:
            config = diff_config(a, b)
        out["why"] = explain(a, b, result["packages"], config, repos=repos, discover=discover)
    if content:
        from vmfleet.diff.content import compare_images

        images = [s.source for s in (a, b) if s.facts is not None and s.facts.kind == "image"]
        if len(images) < 2 or a.facts is None or b.facts is None:
            out["content_skipped"] = ("the contents of store items are compared between images "
                                      "(generations with a built image, or image files), not "
                                      "running VMs")
        else:
            out["content"] = compare_images(images[0], images[1], a.facts.items, b.facts.items)
    return out
