"""Every config the tier evaluates: the example systems (systems/), the example config repository
(systems/fleet-repo) and every config of tests/corpus/manifest.toml, each with the directory,
load path and expression vmfleet builds it with."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import corpus

ROOT = corpus.ROOT


@dataclass(frozen=True)
class Case:
    name: str                    # as the table shows it
    cwd: Path
    config: str | None           # relative to cwd; None with an expression
    file: str = ""               # the config file, relative to cwd (also with an expression)
    load_path: tuple[str, ...] = ()
    expression: str | None = None
    kind: str = "os"             # the manifest's kind: os, module-os, not-os, malformed


def all_cases(corpus_dir: Path) -> list[Case]:
    systems = ROOT / "systems"
    fleet = systems / "fleet-repo"
    cases = [Case(f"systems/{n}", systems, n, n) for n in ("web.scm", "db.scm")]
    cases += [Case(f"systems/fleet-repo/acme/systems/{n}", fleet, f"acme/systems/{n}", f"acme/systems/{n}",
                   (".",)) for n in ("web.scm", "db.scm")]
    manifest = tomllib.loads((corpus.CORPUS / "manifest.toml").read_text())
    for c in manifest["config"]:
        cwd = corpus_dir / c["cwd"]
        expression = c.get("expression")
        file = os.path.relpath(corpus_dir / c["path"], cwd)
        load_path = tuple(os.path.relpath(corpus_dir / d, cwd) for d in c["load_path"])
        cases.append(Case(f"tests/corpus/{c['path']}", cwd, None if expression else file, file, load_path,
                          expression, c["kind"]))
    return cases
