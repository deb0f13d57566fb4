#!/usr/bin/env python3
"""Lay out the config corpus (tests/corpus) and the example config repository
(systems/fleet-repo) as one git history, for issue 8's import tests.

    python tests/helpers/corpus.py DEST [--key-file PUBKEY] [--abs-dir DIR]

Four dated commits.  The third is dated EARLIER than its parent (as after a rebase), so
``web@DATE`` must follow the git order, not the dates.  The newest commit holds
systems/fleet-repo and tests/corpus as they are; older commits are derived from them by the
edits below, so the files in the repository stay the one source of truth.

Absolute paths: corpus configs write ``@ABSROOT@/...``.  With ``abs_dir`` the corpus is
committed with ``@ABSROOT@`` replaced by that directory, and absroot/** is copied there, so
the absolute names exist (see tests/corpus/README.md).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers.fleet import commit_files, git, new_repo  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
FLEET = ROOT / "systems" / "fleet-repo"
ABS_PLACEHOLDER = "@ABSROOT@"

# The example repository inside the laid-out history: its load path (-L) and its hosts.
FLEET_DIR = "systems/fleet-repo"
FLEET_LOAD_PATH = (FLEET_DIR,)
FLEET_CHANNELS = f"{FLEET_DIR}/channels.scm"
FLEET_HOSTS = {"web": f"{FLEET_DIR}/acme/systems/web.scm",
               "db": f"{FLEET_DIR}/acme/systems/db.scm"}
_BASE_INPUTS = (f"{FLEET_DIR}/acme/systems/base.scm", f"{FLEET_DIR}/acme/systems/accounts.scm",
                f"{FLEET_DIR}/acme/systems/motd", "systems/vmfleet.pub")
# Every file Guix reads to build each host (repository-relative): the host module, the base
# module it uses, the file base.scm includes, and base.scm's local files (motd, the key).
FLEET_INPUTS = {host: (path, *_BASE_INPUTS) for host, path in FLEET_HOSTS.items()}
FLEET_MODULES = {"web": ("(acme systems web)", "(acme systems base)"),
                 "db": ("(acme systems db)", "(acme systems base)")}

OLD_GUIX = "60c97924e9519361494aaf0686e28eb831a42315"     # real guix commit, 2023-11-01
NEW_GUIX = "dc4c48f10281007a0ab3541b8a64198c60c6d5b0"     # real guix commit, 2024-05-31
OLD_MOTD = "acme fleet machine.\n"
WEB_CURL = '\n                          (specification->package "curl"))'


@dataclass(frozen=True)
class Step:
    commit: str
    date: str
    message: str


@dataclass(frozen=True)
class CorpusHistory:
    repo: Path
    steps: tuple[Step, ...]     # oldest first, in git (parent -> child) order


def _fleet_files(key_text: str, *, web_curl: bool, db: bool, new_motd: bool,
                 guix: str) -> dict[str, str | None]:
    def read(rel: str) -> str:
        return (FLEET / rel).read_text()

    channels = read("channels.scm")
    if NEW_GUIX not in channels:
        raise SystemExit("corpus history: systems/fleet-repo/channels.scm no longer pins "
                         f"{NEW_GUIX}; update NEW_GUIX")
    web = read("acme/systems/web.scm")
    if not web_curl:
        if WEB_CURL not in web:
            raise SystemExit("corpus history: web.scm no longer lists curl as expected")
        web = web.replace(WEB_CURL, ")")
    files: dict[str, str | None] = {
        FLEET_CHANNELS: channels.replace(NEW_GUIX, guix),
        f"{FLEET_DIR}/acme/systems/base.scm": read("acme/systems/base.scm"),
        f"{FLEET_DIR}/acme/systems/accounts.scm": read("acme/systems/accounts.scm"),
        f"{FLEET_DIR}/acme/systems/motd": read("acme/systems/motd") if new_motd else OLD_MOTD,
        FLEET_HOSTS["web"]: web,
        "systems/vmfleet.pub": key_text,
    }
    if db:
        files[FLEET_HOSTS["db"]] = read("acme/systems/db.scm")
    return files


def copy_corpus(dest: Path, abs_dir: Path | None = None) -> Path:
    """Copy tests/corpus to DEST (modes kept); with ABS_DIR, make its absolute names real."""
    shutil.copytree(CORPUS, dest, dirs_exist_ok=True)
    if abs_dir is not None:
        shutil.copytree(CORPUS / "absroot", abs_dir, dirs_exist_ok=True)
        for scm in dest.rglob("*.scm"):
            data = scm.read_bytes()
            if ABS_PLACEHOLDER.encode() in data:
                scm.write_bytes(data.replace(ABS_PLACEHOLDER.encode(), str(abs_dir).encode()))
    return dest


def build(dest: Path, key_text: str | None = None, abs_dir: Path | None = None) -> CorpusHistory:
    key = key_text or (ROOT / "systems" / "vmfleet.pub").read_text()
    repo = new_repo(dest)
    steps = []

    def commit(files, message, date):
        steps.append(Step(commit_files(repo, files, message, date), date, message))

    commit(_fleet_files(key, web_curl=False, db=False, new_motd=False, guix=OLD_GUIX),
           "acme: base system and web host", "2024-01-10T09:00:00+00:00")
    commit(_fleet_files(key, web_curl=True, db=True, new_motd=False, guix=OLD_GUIX),
           "acme: db host; web gets curl", "2024-03-05T14:00:00+00:00")
    # Dated before its parent, as a rebased commit keeps its older date.
    commit(_fleet_files(key, web_curl=True, db=True, new_motd=True, guix=NEW_GUIX),
           "acme: new motd; guix pull", "2024-02-20T08:00:00+00:00")
    copy_corpus(repo / "tests" / "corpus", abs_dir)
    commit({}, "tests: the config corpus", "2024-06-01T10:00:00+00:00")
    return CorpusHistory(repo, tuple(steps))


def parents_in_order(history: CorpusHistory) -> bool:
    """True when each step's commit is the parent of the next (a straight history)."""
    for older, newer in zip(history.steps, history.steps[1:], strict=False):
        parent = git(history.repo, "rev-parse", f"{newer.commit}^").strip()
        if parent != older.commit:
            return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--key-file", type=Path, help="public key to authorize in the acme systems")
    ap.add_argument("--abs-dir", type=Path, help="where the corpus's absolute file names point")
    args = ap.parse_args()
    if args.dest.exists() and any(args.dest.iterdir()):
        print(f"corpus history: {args.dest} is not empty", file=sys.stderr)
        return 2
    history = build(args.dest, args.key_file.read_text() if args.key_file else None,
                    args.abs_dir.resolve() if args.abs_dir else None)
    for step in history.steps:
        print(step.commit, step.date, step.message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
