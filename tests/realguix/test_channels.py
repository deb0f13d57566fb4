"""Part 5: the channels files of tests/corpus and systems/ as vmfleet reads them
(guix.channel_files, without evaluating) against the channels the built Guix loads from them
(channels-record.scm, as `guix time-machine -C` loads them). Every disagreement is listed."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.helpers import corpus
from tests.helpers import real_guix as real
from vmfleet.errors import VmfleetError
from vmfleet.guix import channel_files

pytestmark = pytest.mark.realguix
SCRIPT = Path(__file__).with_name("channels-record.scm")


def _files() -> list[Path]:
    manifest = tomllib.loads((corpus.CORPUS / "manifest.toml").read_text())
    files = [corpus.CORPUS / c["path"] for c in manifest["channels"]]
    return [*files, real.ROOT / "systems" / "channels.scm",
            real.ROOT / "systems" / "fleet-repo" / "channels.scm"]


def _ours(path: Path) -> list[dict] | str:
    try:
        chans = channel_files.parse_channels(path.read_text(), str(path))
    except VmfleetError as e:
        return f"refused: {e.message}"
    # Guix's record defaults: branch "master" (guix/channels.scm@8e2f32cee98:127)
    return [{"name": c.name, "url": c.canonical_url, "branch": c.branch or "master", "commit": c.commit,
             "introduction": c.introduction and (c.introduction.commit,
                                                 c.introduction.fingerprint.replace(" ", ""))}
            for c in chans]


def _theirs(entry: dict) -> list[dict] | str:
    if "error" in entry:
        return f"error: {entry['error']}"
    return [{"name": c["name"], "url": channel_files.canonical_channel_url(c["url"]),
             "branch": c["branch"], "commit": c["commit"],
             "introduction": c["introduction"] and (c["introduction"]["commit"],
                                                    c["introduction"]["signer"].replace(" ", ""))}
            for c in entry["channels"]]


def test_channels_files_read_as_the_real_guix_loads_them(built_guix, real_guix):
    files = [p for p in _files() if p.is_file()]
    ran = real_guix.run([str(built_guix.tree / "pre-inst-env"), "guix", "repl", "--", str(SCRIPT),
                         *map(str, files)], real.ROOT)
    assert ran.ok, ran.stderr[-3000:]
    records = json.loads(ran.stdout.strip().splitlines()[-1])
    assert len(records) == len(files)
    rows = []
    for path, entry in zip(files, records, strict=True):
        ours, theirs = _ours(path), _theirs(entry)
        name = str(path.relative_to(real.ROOT))
        if isinstance(ours, str) or isinstance(theirs, str):
            if isinstance(ours, str) != isinstance(theirs, str):   # one refuses, the other reads
                rows.append((name, "outcome", f"vmfleet {ours if isinstance(ours, str) else 'reads it'}; "
                             f"guix {theirs if isinstance(theirs, str) else 'loads it'}"))
            continue
        if ours != theirs:
            rows.append((name, "channels", f"vmfleet {ours}; guix {theirs}"))
    print(f"\n{len(files)} channels files read by vmfleet and loaded by guix; {len(rows)} disagreements")
    if rows:
        pytest.fail(f"{len(rows)} disagreements:\n" + real.table(rows, ("file", "what", "detail")),
                    pytrace=False)
