import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.fleet import C1, KEY1, KEY2, channels_scm, commit_files, new_repo, os_config
from vmfleet.registry import generations, spec
from vmfleet.registry import git_import as history
from vmfleet.registry.db import Registry


def test_each_commit_that_changed_inputs_is_a_generation(reg, git_fleet):
    result = history.import_system(reg, git_fleet, "web", "systems/web.scm", "channels.scm")
    assert result.recorded == ("web@1", "web@2", "web@3", "web@4")
    gens = generations.list_for(reg, "web")
    assert [g.current_from for g in gens] == ["2023-06-12T10:00:00Z", "2023-10-20T09:30:00Z",
                                              "2024-01-05T06:00:00Z", "2024-05-14T16:00:00Z"]
    assert [g.message for g in gens][2] == "rotate key"
    assert generations.inputs_of(reg, gens[2]).files["vmfleet.pub"] == KEY2.encode()
    assert generations.inputs_of(reg, gens[1]).files["vmfleet.pub"] == KEY1.encode()
    assert spec.resolve(reg, "web@2023-12").number == 2


def test_reimport_is_a_no_op(reg, git_fleet):
    history.import_system(reg, git_fleet, "web", "systems/web.scm", "channels.scm")
    again = history.import_system(reg, git_fleet, "web", "systems/web.scm", "channels.scm")
    assert again.recorded == () and len(generations.list_for(reg, "web")) == 4


def test_since(reg, git_fleet):
    result = history.import_system(reg, git_fleet, "web", "systems/web.scm", "channels.scm",
                                   since="2024-01-01")
    assert len(result.recorded) == 2
    gens = generations.list_for(reg, "web")
    # the state before the first imported commit is taken from the tree, not assumed empty
    assert "curl" in gens[0].summary["packages"]


def test_a_broken_commit_is_skipped_with_its_reason(reg, git_fleet):
    commit_files(git_fleet, {"systems/web.scm": "(operating-system (host-name \"web\"\n"}, "oops",
                 "2024-06-01T00:00:00+00:00")
    commit_files(git_fleet, {"systems/web.scm": os_config("web", ("nginx", "git"))}, "fix",
                 "2024-06-02T00:00:00+00:00")
    result = history.import_system(reg, git_fleet, "web", "systems/web.scm", "channels.scm")
    assert len(result.recorded) == 5
    assert len(result.skipped) == 1 and "web.scm:1:" in result.skipped[0]


def test_not_a_repository(reg, tmp_path):
    from vmfleet.errors import UsageError

    with pytest.raises(UsageError, match="not a git repository"):
        history.import_system(reg, tmp_path, "web", "web.scm", "channels.scm")


def test_parallel_imports_and_adds_never_lose_or_duplicate(tmp_path, git_fleet):
    """Four processes import the same history and add generations at once."""
    db = tmp_path / "registry.db"
    Registry.create(db).close()
    script = textwrap.dedent(f"""
        import sys
        from vmfleet.registry import generations
        from vmfleet.registry import git_import as history
        from vmfleet.registry.db import Registry
        from pathlib import Path
        reg = Registry.open(Path({str(db)!r}))
        history.import_system(reg, {str(git_fleet)!r}, "web", "systems/web.scm", "channels.scm")
        n = int(sys.argv[1])
        from tests.helpers.fleet import channels_scm, os_config
        inputs = generations.Inputs("db.scm", os_config("db", ("postgresql", f"p{{n}}"), key_file=None),
                                    channels_scm("{C1}"))
        generations.record(reg, "db", inputs, current_from=f"2025-01-0{{n+1}}T00:00:00Z")
    """)
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], cwd=root) for i in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    reg = Registry.open(db)
    assert len(generations.list_for(reg, "web")) == 4
    db_gens = generations.list_for(reg, "db")
    assert sorted(g.number for g in db_gens) == [1, 2, 3, 4]
    assert len({g.inputs_sha256 for g in db_gens}) == 4


def test_a_file_added_to_a_recursive_local_file_or_a_link_target_changed_is_a_generation(
        reg, tmp_path):
    """Neither commit touches a path the closure read by its own name: one adds a file below a
    directory taken with #:recursive? #t, the other changes the file a link leads to."""
    repo = new_repo(tmp_path / "repo")
    config = os_config("web", extra_services=(
        '\n (simple-service (quote f) etc-service-type (list (list "f" (local-file "../files" '
        '#:recursive? #t)) (list "motd" (local-file "motd"))))'))
    (repo / "systems").mkdir()
    (repo / "systems/motd").symlink_to("../motd.txt")
    commit_files(repo, {"channels.scm": channels_scm(C1), "systems/web.scm": config,
                        "systems/vmfleet.pub": KEY1, "files/a": "a\n", "motd.txt": "hi\n"},
                 "first", "2024-01-01T00:00:00Z")
    commit_files(repo, {"files/b": "b\n"}, "add b", "2024-01-02T00:00:00Z")
    commit_files(repo, {"motd.txt": "changed\n"}, "new motd", "2024-01-03T00:00:00Z")
    commit_files(repo, {"README": "x\n"}, "unrelated", "2024-01-04T00:00:00Z")
    result = history.import_system(reg, repo, "web", "systems/web.scm", "channels.scm")
    assert result.recorded == ("web@1", "web@2", "web@3") and not result.skipped
    gens = generations.list_for(reg, "web")
    assert [g.message for g in gens] == ["first", "add b", "new motd"]
    files = [generations.inputs_of(reg, g).files for g in gens]
    assert sorted(p for p in files[1] if p.startswith("files/")) == ["files/a", "files/b"]
    assert files[1]["systems/motd"] == b"hi\n" and files[2]["systems/motd"] == b"changed\n"
