"""Adopting an image: record a generation from the provenance an image carries."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from vmfleet.errors import ImageError
from vmfleet.guix import os_config
from vmfleet.inspect.facts import NO_PROVENANCE_HINT, read_facts
from vmfleet.registry import builds as build_rows

# --- adopting an image -------------------------------------------------------------------------


@dataclass(frozen=True)
class Adoption:
    generation: object            # vmfleet.registry.generations.Generation
    created: bool                 # False when the same inputs were already recorded
    current_from: str
    current_from_source: str      # 'option', 'store database' or 'image file time'
    local_files: tuple[str, ...]  # the files the config refers to, found in the image's store


def adopt_image(reg, path, system: str, *, current_from: str | None = None,
                files: dict[str, bytes] | None = None, message: str = "") -> Adoption:
    """Record a generation of ``system`` from an image's channels.scm and configuration.scm.

    The files the config refers to with ``local-file`` are taken from the image's store
    (Guix copies each into an item named after the file); ``files`` supplies any that are not
    there. ``current_from`` defaults to the time the image's system was registered in its store
    database, else the image file's modification time.
    """
    import os

    from vmfleet import timeutil
    from vmfleet.inspect.disk import StoreImages, open_disk
    from vmfleet.registry import generations

    files = dict(files or {})
    with open_disk(path, store=StoreImages.of(reg)) as disk:
        _part, fs = disk.guix_root()
        facts = read_facts(fs, source=str(path), kind="image", files=False, texts=False,
                           workdir=disk.workdir)
        missing = []
        if facts.configuration is None and facts.provenance is not None \
                and facts.provenance.expression:
            from vmfleet.inspect.facts import expression_note
            known = _registry_generation(reg, path)
            raise ImageError(
                f"cannot adopt {expression_note(str(path))}",
                f"the registry already knows it as the image of {known}: use {known}" if known
                else "record the config it was built from instead: vmfleet add SYSTEM CONFIG "
                     "--channels CHANNELS (the image's channels: vmfleet inspect IMAGE)")
        if facts.configuration is None:
            missing.append("configuration.scm")
        if facts.channels_scm is None and facts.provenance is None:
            missing.append("channels.scm")
        if missing:
            known = _registry_generation(reg, path)
            raise ImageError(
                f"{path} has no provenance: {' and '.join(missing)} missing from its system "
                f"directory ({facts.system or 'no system found'}); images of Guix before "
                "2019-12-07 never have it",
                f"the registry already knows it as the image of {known}: use {known}" if known
                else NO_PROVENANCE_HINT)
        config = facts.configuration
        assert config is not None  # checked above
        if facts.channels_scm:
            channels_text = facts.channels_scm
        else:
            assert facts.provenance is not None  # checked above
            channels_text = channels_text_of(facts.provenance.channels)
        rels = os_config.local_files(config, "configuration.scm")
        store_names: dict[str, list[str]] = {}
        for item in facts.items:
            store_names.setdefault(item.path.rsplit("/", 1)[1][33:], []).append(item.path)
        for rel in rels:
            rel_norm = generations.safe_relpath(rel, "configuration.scm")
            if rel_norm in files:
                continue
            found = store_names.get(posixpath.basename(rel_norm), [])
            if len(found) != 1:
                why = "is not in the image's store" if not found else \
                    f"matches {len(found)} store items"
                raise ImageError(
                    f"{path}: the config refers to local-file {rel!r}, which {why}",
                    f"give its content: --file {rel_norm}=PATH")
            files[rel_norm] = fs.read_bytes(found[0])
    when, source = current_from, "option"
    if when is None:
        registered = next((i.registered for i in facts.items if i.path == facts.system), None)
        if registered and registered > 86400 * 365:
            when, source = timeutil.from_epoch(registered), "store database"
        else:
            when, source = timeutil.from_epoch(os.stat(path).st_mtime), "image file time"
    inputs = generations.Inputs(f"{system}.scm", config, channels_text, files)
    gen, created = generations.record(
        reg, system, inputs, current_from=when, source="adopted",
        message=message or f"adopted from {os.path.basename(str(path))}")
    return Adoption(gen, created, when, source, tuple(sorted(files)))


def _registry_generation(reg, path) -> str | None:
    """The generation (``web@3``) a build of the registry made this very image for, if any."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    row = build_rows.first_making_image(reg, digest.hexdigest())
    return row["label"] if row else None


def channels_text_of(channels) -> str:
    """A channels file for provenance channels (which carry no introductions)."""
    out = []
    for c in channels:
        lines = [f"(channel\n    (name '{c.name})", f'    (url "{c.url}")']
        if c.branch:
            lines.append(f'    (branch "{c.branch}")')
        if c.commit:
            lines.append(f'    (commit "{c.commit}")')
        out.append("\n".join(lines) + ")")
    return "(list " + "\n      ".join(out) + ")\n"
