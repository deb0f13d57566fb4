"""The image's ``.drv`` file: everything needed to build the image again, kept in the store.

Real Guix writes a derivation (ATerm) into /gnu/store whenever it computes one (``guix system
image -d``, a build, a dry run), and ``guix build [--check] DRV`` later rebuilds from it alone:
the config and its local files were copied into the store, so their folder may be gone. The
stand-in's .drv is JSON (nothing in vmfleet reads it) holding the guix revision and channels,
the config's file name and text, its local files' contents, the image options and the knobs
that change store names (``DRIFT``, ``BIG``): the derivation is fixed by its inputs, so a knob
set later does not change it. Knobs about one build (``NONDETERMINISTIC``, ``SLOW``, ``VANISH``)
are read when it is built.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from pathlib import Path

from . import history, osconfig
from .channels import Resolved, Travel
from .errors import GuixError
from .settings import Knobs

FORMAT = "vmfleet-standin-derivation/3"
READS = (FORMAT, "vmfleet-standin-derivation/2")    # /2: before the genimage.cfg level


def text(build, role: str) -> str:
    """The .drv's contents for a ``build.Build`` (deterministic: sorted keys, fixed layout).

    ``role`` is 'esp' or 'partition' (a partition image), 'genimage' (genimage.cfg, whose
    inputs are the partition derivations) or 'image' (whose input is the genimage.cfg
    derivation), as in gnu/system/image.scm."""
    cfg, opts, knobs = build.config, build.opts, build.knobs
    inputs = [build.closure.system.drv, build.closure.grub.drv]
    partitions = [str(build.partition_drv(k)) for k in build.layout]
    if role == "esp":
        inputs = []
    elif role == "genimage":
        inputs = partitions
    elif role == "image":
        inputs = ([str(build.cfg_drv)] if build.uses_genimage else partitions) + inputs
    doc = {
        "format": FORMAT,
        "role": role,
        "output": {"partition": build.part_out, "esp": build.esp_out,
                   "genimage": build.cfg_out, "image": build.image_out}[role].name,
        "inputs": inputs,
        "guix": build.rev.commit,
        "channels": [{"name": c.name, "url": c.url, "branch": c.branch, "commit": c.commit,
                      "introduction": list(c.introduction) if c.introduction else None}
                     for c in build.travel.channels],
        "configuration": {"expression": cfg.expression} if cfg.expression is not None
        else {"file": str(cfg.path), "text": cfg.text},
        # -L as the evaluation read it: a relative DIR against that cwd
        # (guix/scripts/build.scm@43770a9d8ac:248-253); the .drv holds the modules, so a later
        # `guix build DRV` in another directory finds them by these names
        "load-path": [os.path.abspath(d) for d in cfg.load_path],
        # the directory guix ran in, when the evaluation depended on it (a file named relative to -L:
        # (current-filename), evaluate.py current_filename): a rebuild evaluates there too
        **({"cwd": cfg.cwd} if cfg.cwd else {}),
        # every module, include and load the config read, so a rebuild needs none of them
        "sources": [{"file": src.path, "kind": src.kind,
                     "base64": base64.b64encode(src.data).decode()}
                    for src in (cfg.sources if cfg.expression is not None else cfg.sources[1:])],
        "local-files": [{"file": str(f.path), "written": f.written,
                         "base64": base64.b64encode(f.data).decode(),
                         "tree": [[rel, base64.b64encode(d).decode()] for rel, d in f.tree]
                         if f.tree is not None else None}
                        for f in cfg.local_files],
        "image": {"action": opts.action, "type": opts.image_type, "size": opts.image_size,
                  "save-provenance": opts.save_provenance},
        "knobs": {"drift": sorted(knobs.drift), "big-items": knobs.big_items,
                  "big-bytes": knobs.big_bytes},
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def write(build) -> None:
    """Write the build's .drv files into the store unless they are there (store items never
    change)."""
    roles = [("esp" if k == "esp" else "partition", build.partition_drv(k))
             for k in build.layout]
    if build.uses_genimage:
        roles.append(("genimage", build.cfg_drv))
    roles.append(("image", build.image_drv))
    for role, drv in roles:
        drv.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(drv, "rb") as f:
                if f.read(1) == b"{":
                    continue
        except FileNotFoundError:
            pass
        tmp = drv.with_name(drv.name + f".tmp{os.getpid()}")
        tmp.write_text(text(build, role))
        os.chmod(tmp, 0o444)
        os.replace(tmp, drv)


def inputs(drv: Path) -> list[str]:
    """The derivation's inputs that are files in this store (``guix gc --references``)."""
    try:
        doc = json.loads(drv.read_text())
    except (OSError, ValueError):
        return []
    return [i for i in doc.get("inputs", []) if Path(i).is_file()]


@dataclasses.dataclass(frozen=True)
class Loaded:
    travel: Travel
    config: osconfig.SystemConfig
    action: str
    image_type: str
    image_size: int | None
    save_provenance: bool
    knobs: Knobs
    output: str
    role: str = "image"


def read(drv: Path, knobs: Knobs) -> Loaded:
    """What a .drv says to build; ``knobs`` are this run's, except those the .drv fixed."""
    try:
        doc = json.loads(drv.read_text())
        if doc.get("format") not in READS:
            raise ValueError(doc.get("format"))
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise GuixError(f"{drv}: not a derivation the stand-in wrote (run `guix system image "
                        "-d' again to write it)", program="guix build") from None
    rev = history.by_commit().get(doc["guix"])
    if rev is None:
        raise GuixError(f"{drv}: unknown guix commit {doc['guix']}", program="guix build")
    chans = tuple(Resolved(c["name"], c["url"], c["branch"], c["commit"],
                           tuple(c["introduction"]) if c["introduction"] else None)
                  for c in doc["channels"])
    files = {}
    for f in doc["local-files"]:
        if f.get("tree") is not None:
            for rel, data in f["tree"]:
                files[f"{f['file']}/{rel}"] = base64.b64decode(data)
        else:
            files[f["file"]] = base64.b64decode(f["base64"])
    for src in doc.get("sources", []):
        files[src["file"]] = base64.b64decode(src["base64"])
    conf = doc["configuration"]
    if "expression" in conf:
        config = osconfig.load(None, rev, file_data=files, expression=conf["expression"],
                               load_path=tuple(doc.get("load-path", ())), cwd=doc.get("cwd"))
    else:
        config = osconfig.load(conf["file"], rev, text=conf["text"], file_data=files,
                               load_path=tuple(doc.get("load-path", ())), cwd=doc.get("cwd"))
    k = doc["knobs"]
    knobs = dataclasses.replace(knobs, drift=frozenset(k["drift"]), big_items=k["big-items"],
                                big_bytes=k["big-bytes"])
    img = doc["image"]
    return Loaded(Travel(rev, chans, ()), config, img["action"], img["type"], img["size"],
                  img["save-provenance"], knobs, doc["output"], doc.get("role", "image"))
