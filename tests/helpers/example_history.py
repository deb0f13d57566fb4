#!/usr/bin/env python3
"""Build the example fleet's git history from systems/: three dated steps (2023-06, 2023-10,
2024-05) that upgrade the guix commit, add and remove packages and services.

Used by the README's demo and by the tests:

    python tests/helpers/example_history.py DEST [--key-file PUBKEY]

The newest step is systems/ as it is; older steps are derived from it by the edits below, so
the example configs stay the one source of truth.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers.fleet import commit_files, new_repo  # noqa: E402

SYSTEMS = Path(__file__).resolve().parents[2] / "systems"
NEWEST_GUIX = "dc4c48f10281007a0ab3541b8a64198c60c6d5b0"   # 2024-05-31

# (date, message, guix commit, {file: [(old text, new text), ...]}) applied to the newest files.
STEPS = [
    ("2023-06-12T10:00:00+00:00", "web, db: first versions", "GUIX_2023_06", {
        "systems/web.scm": [('(list (specification->package "nginx")\n'
                             '                          (specification->package "curl")\n'
                             '                          htop)',
                             '(list (specification->package "nginx")\n'
                             '                          (specification->package "wget"))')],
        "systems/db.scm": [('(list postgresql-15\n                          (specification->package "rsync"))',
                            '(list postgresql-15)')],
    }),
    ("2023-10-20T09:30:00+00:00", "web: add curl and htop; guix pull", "GUIX_2023_10", {
        "systems/web.scm": [('(specification->package "curl")\n                          htop)',
                             '(specification->package "curl")\n'
                             '                          (specification->package "wget")\n'
                             '                          htop)')],
        "systems/db.scm": [('(list postgresql-15\n                          (specification->package "rsync"))',
                            '(list postgresql-15)')],
    }),
    ("2024-05-28T16:00:00+00:00", "web: drop wget; db: add rsync; guix pull", NEWEST_GUIX, {}),
]

# The guix commits of the older steps: real commits of the guix channel (docs/guix-facts.md), as
# a real fleet's channels.scm holds them.
GUIX_COMMITS = {"GUIX_2023_06": "76e39909e886bb51cf9b2fa03a1523545faca880",   # 2023-07-01
                "GUIX_2023_10": "60c97924e9519361494aaf0686e28eb831a42315"}   # 2023-11-01


def build(dest: Path, key_text: str | None = None) -> Path:
    repo = new_repo(dest)
    channels = (SYSTEMS / "channels.scm").read_text()
    for date, message, guix_commit, edits in STEPS:
        commit = GUIX_COMMITS.get(guix_commit, guix_commit)
        files = {"channels.scm": channels.replace(NEWEST_GUIX, commit)}
        for name in ("web.scm", "db.scm"):
            text = (SYSTEMS / name).read_text()
            for old, new in edits.get(f"systems/{name}", []):
                if old not in text:
                    raise SystemExit(f"example_history: {name} no longer contains {old!r}")
                text = text.replace(old, new)
            files[f"systems/{name}"] = text
        files["systems/vmfleet.pub"] = key_text or (SYSTEMS / "vmfleet.pub").read_text()
        commit_files(repo, files, message, date)
    return repo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--key-file", type=Path, help="public key to authorize in the systems")
    args = ap.parse_args()
    if args.dest.exists() and any(args.dest.iterdir()):
        print(f"example_history: {args.dest} is not empty", file=sys.stderr)
        return 2
    build(args.dest, args.key_file.read_text() if args.key_file else None)
    print(args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
