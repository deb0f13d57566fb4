"""tests/helpers/corpus.py lays out the corpus and systems/fleet-repo as the git history
issue 8's import tests need (a commit dated before its parent; the newest files as they are),
and its FLEET_INPUTS agree with what the fleet modules include and name as local files."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import corpus
from tests.helpers.fleet import git

ROOT = Path(__file__).resolve().parents[2]


def test_history_is_straight_with_a_date_going_backwards(tmp_path):
    history = corpus.build(tmp_path / "repo", key_text="ssh-ed25519 AAAAtest corpus\n")
    assert len(history.steps) == 4
    assert corpus.parents_in_order(history)
    dates = [git(history.repo, "show", "-s", "--format=%cI", s.commit).strip() for s in history.steps]
    assert any(child < parent for parent, child in zip(dates, dates[1:], strict=False))
    first, newest = history.steps[0].commit, history.steps[-1].commit
    for rel in ("acme/systems/web.scm", "acme/systems/db.scm", "acme/systems/base.scm",
                "acme/systems/motd", "channels.scm"):
        shown = git(history.repo, "show", f"{newest}:systems/fleet-repo/{rel}")
        assert shown == (ROOT / "systems/fleet-repo" / rel).read_text(), rel
    assert corpus.OLD_GUIX in git(history.repo, "show", f"{first}:{corpus.FLEET_CHANNELS}")
    assert "curl" not in git(history.repo, "show", f"{first}:{corpus.FLEET_HOSTS['web']}")
    listed = git(history.repo, "ls-tree", "-r", "--name-only", newest).split()
    assert "tests/corpus/manifest.toml" in listed
    for inputs in corpus.FLEET_INPUTS.values():
        assert set(inputs) <= set(listed)


def test_copy_corpus_makes_absolute_names_real(tmp_path):
    dest = corpus.copy_corpus(tmp_path / "c", tmp_path / "abs")
    text = (dest / "os/absolute-key.scm").read_text()
    assert corpus.ABS_PLACEHOLDER not in text
    name = re.search(r'\(local-file "(/[^"]+)"\)', text).group(1)
    assert Path(name).read_bytes() == (corpus.CORPUS / "absroot/etc/vmfleet/root-ops.pub").read_bytes()


def _literal_refs(path: Path) -> set[str]:
    text = path.read_text()
    names = re.findall(r'\((?:local-file|include) "([^"]+)"', text)
    return {(path.parent / n).resolve().relative_to(ROOT).as_posix() for n in names}


def test_fleet_inputs_match_the_modules():
    for host, inputs in corpus.FLEET_INPUTS.items():
        modules = [m for m in inputs if m.endswith(".scm") and "define-module" in (ROOT / m).read_text()]
        assert {f"(define-module {name}" for name in corpus.FLEET_MODULES[host]} == {
            re.search(r"\(define-module \([^)]*\)", (ROOT / m).read_text()).group(0) for m in modules}
        refs = set().union(*(_literal_refs(ROOT / m) for m in modules))
        assert refs == set(inputs) - set(modules), host
        for rel in inputs:
            assert (ROOT / rel).is_file(), rel
