"""Turning what the user typed (a generation spec, an image file, ``vm:NAME``) into a :class:`Side`."""

from __future__ import annotations

import os
from collections.abc import Callable

from vmfleet.diff.sides import Side, side_from_facts
from vmfleet.errors import ImageError, UsageError, VmfleetError
from vmfleet.guix.store import ChannelPin
from vmfleet.inspect.facts import ImageFacts

# --- resolving operands ----------------------------------------------------------------------


def looks_like_file(text: str) -> bool:
    return (os.path.sep in text or text.endswith((".qcow2", ".img", ".raw"))
            or os.path.isfile(text))


def load_side(text: str, *, files: bool = True, texts: bool = False, registry=None,
              vm_reader: Callable[[str], ImageFacts] | None = None) -> Side:
    """Resolve an operand: ``vm:NAME``, a path to an image file, or a generation spec.

    ``registry`` is a callable returning an open Registry (only called for specs and VMs).
    """
    from vmfleet.inspect.facts import inspect_image

    if text.startswith("vm:"):
        if vm_reader is None:
            raise UsageError(f"cannot read {text}", "vm: operands need the registry")
        side = side_from_facts(text, vm_reader(text[3:]), kind="vm")
        return _registry_provenance(side, registry, vm=text[3:])
    if looks_like_file(text):
        if not os.path.exists(text):
            raise ImageError(f"{text}: no such image file", "check the path")
        facts = inspect_image(text, files=files, texts=texts, store=_store(registry))
        return _registry_provenance(side_from_facts(text, facts), registry, image=text)
    if registry is None:
        raise UsageError(f"{text!r} is neither an image file nor vm:NAME",
                         "generation specs need a registry")
    return generation_side(registry(), text, files=files, texts=texts)


def _store(registry):
    """The store images an image file may be an overlay of: those of this home's registry
    (none without one, so a backing file is then refused)."""
    from vmfleet.inspect.disk import StoreImages

    if registry is None:
        return None
    try:
        return StoreImages.of(registry())
    except VmfleetError:  # no registry (an image inspected outside any vmfleet home)
        return None


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


def _registry_provenance(side: Side, registry, *, vm: str | None = None,
                         image: str | None = None) -> Side:
    """An image or VM without provenance (built without --save-provenance, as pins before
    2019-12-07 must be): take its channels and config from the generation the registry says it
    was made from (a VM's record, or a build whose image has the file's sha256), and say so."""
    if side.channels is not None and side.config_text is not None:
        return side
    if registry is None:
        return side
    import dataclasses
    import hashlib

    from vmfleet.registry import builds as build_rows
    from vmfleet.registry import generations
    from vmfleet.registry import vms as vm_rows

    try:
        reg = registry()
    except VmfleetError:  # no registry (an image inspected outside any vmfleet home)
        return side
    gen_id = None
    if vm is not None:
        gen_id = vm_rows.generation_id(reg, vm)
    elif image is not None:
        digest = hashlib.sha256()
        with open(image, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
        made = build_rows.first_making_image(reg, digest.hexdigest())
        gen_id = made["generation_id"] if made else None
    if gen_id is None:
        return side
    gen = generations.get(reg, gen_id)
    missing = dict(side.missing)
    changes: dict = {}
    if side.channels is None:
        changes["channels"] = tuple(ChannelPin(p.get("name", ""), p.get("url", ""),
                                               p.get("branch"), p.get("commit")) for p in gen.pins)
        missing.pop("channels", None)
    if side.config_text is None:
        inputs = generations.inputs_of(reg, gen)
        changes |= {"config_text": inputs.config_text, "config_name": inputs.config_name,
                    "summary": gen.summary or None}
        missing.pop("config", None)
    taken = " and ".join(k for k, key in (("channels", "channels"), ("config", "config_text"))
                         if key in changes)
    expression = side.facts is not None and side.facts.provenance is not None \
        and side.facts.provenance.expression
    why = ("was built from an expression (guix system -e: its provenance says "
           "(configuration-file #f))" if expression else
           "carries no provenance (built without --save-provenance)")
    note = f"{side.label} {why}: its {taken} come from the registry's record of {gen.label}"
    return dataclasses.replace(side, missing=missing, notes=(*side.notes, note), **changes)


def generation_side(reg, text: str, *, files: bool = True, texts: bool = False) -> Side:
    """A recorded generation: config and pins from the registry, the rest from its image."""
    from vmfleet.build import builds as build
    from vmfleet.inspect.facts import inspect_image
    from vmfleet.registry import generations, spec

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
    from vmfleet.diff.input_diff import inputs_of

    input_texts = {path: data.decode("utf-8", "replace") for path, data in inputs.files.items()
                   if path.endswith(".scm")}
    return Side(label=gen.label, kind="generation", source=image or gen.label, facts=facts,
                channels=channels, config_text=inputs.config_text,
                config_name=inputs.config_name, summary=gen.summary or None, missing=missing,
                input_texts=input_texts, inputs=inputs_of(inputs.files, inputs.roles))


def latest_image(build_module, reg, gen) -> str | None:
    builds = [b for b in build_module.list_builds(reg, gen.system)
              if b.generation_id == gen.id and str(b.status) == "succeeded" and b.image_path]
    return builds[-1].image_path if builds else None
