"""A diff operand (:class:`Side`): a generation, an image or a VM, reduced to what the layers compare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vmfleet.errors import SchemeError
from vmfleet.guix import channel_files, os_config
from vmfleet.guix.store import ChannelPin
from vmfleet.inspect.facts import ImageFacts

LAYERS = ("channels", "config", "inputs", "packages", "files")
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
    notes: tuple[str, ...] = ()              # where a layer came from when not from the side itself
    input_texts: Mapping[str, str] | None = None   # recorded Scheme inputs (modules, includes)
    inputs: tuple | None = None              # diff.input_diff.InputFile of a generation

    @property
    def system(self) -> str | None:
        return self.facts.system if self.facts else None


def side_from_facts(label: str, facts: ImageFacts, kind: str = "image") -> Side:
    """A side read from an image (or a VM): channels and config from its provenance."""

    missing: dict[str, str] = {}
    channels: tuple[ChannelPin, ...] | None = None
    if facts.provenance is not None:
        channels = facts.provenance.channels
    elif facts.channels_scm:
        try:
            channels = tuple(ChannelPin(c.name, c.url, c.branch, c.commit)
                             for c in channel_files.parse_channels(facts.channels_scm, "channels.scm"))
        except SchemeError as e:
            missing["channels"] = f"{label}: unreadable channels.scm ({e.message})"
    if channels is None and "channels" not in missing:
        missing["channels"] = (f"{label} has no provenance (built without --save-provenance)")
    summary = None
    if facts.configuration is not None:
        summary = _summarize(facts.configuration, f"{label}:configuration.scm", missing)
    elif facts.provenance is not None and facts.provenance.expression:
        from vmfleet.inspect.facts import expression_note
        missing["config"] = expression_note(label)
    else:
        missing["config"] = f"{label} has no configuration.scm (built without --save-provenance)"
    if facts.files is None:
        missing["files"] = f"{label}: files were not read"
    notes: tuple[str, ...] = ()
    if facts.unreadable:
        shown = ", ".join(facts.unreadable[:10]) + (" …" if len(facts.unreadable) > 10 else "")
        notes = (f"{label}: {len(facts.unreadable)} files or directories could not be read by "
                 f"the login user, so their contents are not compared: {shown}",)
    return Side(label=label, kind=kind, source=facts.source, facts=facts, channels=channels,
                config_text=facts.configuration, summary=summary, missing=missing, notes=notes)


def _summarize(text: str, filename: str, missing: dict[str, str]) -> dict | None:

    try:
        return os_config.summarize_os(text, filename).to_dict()
    except SchemeError as e:
        missing["config-structure"] = e.message
        return None
