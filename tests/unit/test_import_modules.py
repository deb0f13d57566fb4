"""Importing a multi-module config repository from git history (issue 8): every module,
included and local file recorded per commit, generations in git order whatever the dates say,
and each generation laid out again from the registry alone."""

import hashlib

import pytest

from tests.helpers import corpus
from vmfleet.registry import generations, spec
from vmfleet.registry import git_import as history


@pytest.fixture(scope="module")
def fleet_history(tmp_path_factory):
    return corpus.build(tmp_path_factory.mktemp("hist") / "repo")


def test_fleet_repo_imports_every_input_in_git_order(reg, fleet_history, tmp_path):
    repo = fleet_history.repo
    result = history.import_system(reg, repo, "web", corpus.FLEET_HOSTS["web"],
                                   corpus.FLEET_CHANNELS, load_path=corpus.FLEET_LOAD_PATH)
    assert not result.skipped and len(result.recorded) == 3
    gens = generations.list_for(reg, "web")
    # The third commit is dated before its parent: it still comes after it.
    assert [g.git_commit for g in gens] == [s.commit for s in fleet_history.steps[:3]]
    times = [g.current_from for g in gens]
    assert times == sorted(times) and len(set(times)) == 3
    assert spec.resolve(reg, "web@2024-03-06").number == 3
    newest = gens[-1]
    inputs = generations.inputs_of(reg, newest)
    recorded = {inputs.config_name, *inputs.files}
    assert recorded == set(corpus.FLEET_INPUTS["web"])
    assert inputs.load_path == corpus.FLEET_LOAD_PATH
    # From the registry alone, into an empty directory: the same bytes at the same places.
    lay = generations.layout(reg, newest, tmp_path / "out")
    for rel in corpus.FLEET_INPUTS["web"]:
        want = (corpus.ROOT / rel) if rel != "systems/vmfleet.pub" else None
        got = (tmp_path / "out" / rel).read_bytes()
        if want is not None and rel.startswith(corpus.FLEET_DIR):
            assert hashlib.sha256(got).digest() == hashlib.sha256(want.read_bytes()).digest()
    assert lay.load_path == (corpus.FLEET_DIR,) and lay.config == corpus.FLEET_HOSTS["web"]
    assert lay.channels == "vmfleet-pinned-channels.scm"
    again = history.import_system(reg, repo, "web", corpus.FLEET_HOSTS["web"],
                                  corpus.FLEET_CHANNELS, load_path=corpus.FLEET_LOAD_PATH)
    assert again.recorded == ()


def test_a_module_outside_the_load_path_skips_the_commits_with_the_hint(reg, fleet_history):
    result = history.import_system(reg, fleet_history.repo, "web", corpus.FLEET_HOSTS["web"],
                                   corpus.FLEET_CHANNELS)
    assert result.recorded == () and result.skipped
    assert "module (acme systems base)" in result.skipped[0]
