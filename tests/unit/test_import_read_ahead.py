"""Import reads blobs ahead in batches (git_import.Blobs.prefetch): the answers stay in step
with the requests, a missing object is reported only where it is needed, and an import with
read-ahead records exactly what reading one blob at a time records."""

import os

import pytest

from tests.helpers.fleet import KEY1, channels_scm, commit_files, git, new_repo, os_config
from tests.helpers.pins import C_2023_03, V1_4_0
from vmfleet.errors import CommandFailed
from vmfleet.registry import git_import as history
from vmfleet.registry.db import Registry


def test_prefetch_keeps_answers_in_step_and_leaves_a_missing_object_to_get(tmp_path, monkeypatch):
    repo = new_repo(tmp_path / "repo")
    contents = [f"blob {i}\n".encode() * (i % 7 + 1) for i in range(40)]
    for i, data in enumerate(contents):
        (tmp_path / f"f{i}").write_bytes(data)
    shas = git(repo, "hash-object", "-w", *(str(tmp_path / f"f{i}") for i in range(40))).split()
    missing = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setattr(history, "PREFETCH_BATCH", 7)
    blobs = history.Blobs(repo)
    try:
        blobs.prefetch([*shas[:20], missing, *shas[:25], ""])
        assert missing not in blobs.cache
        assert {s: blobs.cache[s] for s in shas[:25]} == dict(zip(shas[:25], contents[:25], strict=True))
        with pytest.raises(CommandFailed):
            blobs.get(missing)
        assert [blobs.get(s) for s in shas[25:]] == contents[25:]  # still in step after it
    finally:
        blobs.close()


MODULE = """(define-module (fleet base)
  #:export (motd))
(define motd (local-file "{name}"))
"""


def _history(repo):
    """A history with a module on -L, its local-file, a broken module, a removed and restored
    config, a link, an unrelated change and a channels change."""
    config = os_config("web").replace("(use-modules (gnu))", "(use-modules (gnu) (fleet base))")
    steps = [
        {"channels.scm": channels_scm(V1_4_0), "systems/web.scm": config,
         "systems/vmfleet.pub": KEY1, "lib/fleet/base.scm": MODULE.format(name="motd.txt"),
         "lib/fleet/motd.txt": "hello\n"},
        {"lib/fleet/motd.txt": "hello again\n"},
        {"README": "unrelated\n"},
        {"lib/fleet/base.scm": MODULE.format(name="motd.txt") + "(define extra 1)\n"},
        {"lib/fleet/base.scm": "(define-module (fleet base)\n"},
        {"lib/fleet/base.scm": MODULE.format(name="motd.txt")},
        {"systems/web.scm": None},
        {"systems/web.scm": os_config("web", ("nginx", "git")).replace(
            "(use-modules (gnu))", "(use-modules (gnu) (fleet base))")},
        {"lib/fleet/motd2.txt": "linked\n", "lib/fleet/motd.txt": None},
        {"lib/fleet/motd2.txt": "linked, changed\n"},
        {"channels.scm": channels_scm(C_2023_03)},
        {"systems/vmfleet.pub": KEY1.replace("one", "three")},
    ]
    for n, files in enumerate(steps):
        commit_files(repo, files, f"step {n}", f"2024-01-{n + 1:02d}T12:00:00Z")
        if n == 8:  # motd.txt becomes a link to motd2.txt, inside the repository
            os.symlink("motd2.txt", repo / "lib/fleet/motd.txt")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "--amend", "--no-edit")


def _recorded(reg: Registry) -> list[tuple]:
    gens = [tuple(r) for r in reg.conn.execute(
        "SELECT number, current_from, git_commit, message, config_path, config_sha256,"
        " channels_sha256, pins, unpinned, inputs_sha256, summary, layout, warnings"
        " FROM generations ORDER BY number")]
    files = [tuple(r) for r in reg.conn.execute(
        "SELECT g.number, f.path, f.sha256, f.mode, f.role FROM generation_files f"
        " JOIN generations g ON g.id = f.generation_id ORDER BY g.number, f.path")]
    return gens + files


def test_read_ahead_records_what_one_blob_at_a_time_records(tmp_path, monkeypatch):
    repo = new_repo(tmp_path / "repo")
    _history(repo)

    def run(prefetch: bool):
        reg = Registry.memory()
        with monkeypatch.context() as m:
            m.setattr(history, "PREFETCH_COMMITS", 2)
            m.setattr(history, "PREFETCH_BATCH", 1)
            asked = []
            real = history.Blobs.prefetch

            def spy(self, shas):
                shas = list(shas)
                asked.extend(shas)
                if prefetch:
                    real(self, shas)
            m.setattr(history.Blobs, "prefetch", spy)
            result = history.import_system(reg, repo, "web", "systems/web.scm", "channels.scm",
                                           load_path=["lib"])
        try:
            return result, _recorded(reg), asked
        finally:
            reg.close()

    ahead, ahead_rows, asked = run(True)
    single, single_rows, _ = run(False)
    assert len(asked) > 5  # the read-ahead took part
    assert ahead_rows == single_rows
    assert (ahead.recorded, ahead.skipped, ahead.commits_seen) == \
        (single.recorded, single.skipped, single.commits_seen)
    assert len(ahead.skipped) == 1 and len(ahead.recorded) >= 8
