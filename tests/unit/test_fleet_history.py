"""The fleet file's history from git, and the fleet of a past date."""

from __future__ import annotations

import pytest

from tests.helpers.deploy_env import C_NEW, C_OLD
from tests.helpers.fleet import channels_scm, commit_files, new_repo, os_config
from vmfleet.cli import main
from vmfleet.errors import NotFound, UsageError
from vmfleet.fleet import history
from vmfleet.registry import git_import

V1 = 'vm = [ { name = "web-1", system = "web" } ]\n'
V2 = ('vm = [\n  { name = "web-1", system = "web" },\n'
      '  { name = "web-2", system = "web", memory = "1G" },\n]\n')
V3 = ('vm = [\n  { name = "web-1", system = "web@1", tags = ["old"] },\n'
      '  { name = "web-2", system = "web", memory = "2G" },\n]\n')


@pytest.fixture
def repo(tmp_path):
    r = new_repo(tmp_path / "repo")
    commit_files(r, {"systems/web.scm": os_config("web"), "systems/vmfleet.pub": "ssh-ed25519 K",
                     "channels.scm": channels_scm(C_OLD), "fleet.toml": V1},
                 "web and a fleet", "2023-06-01T00:00:00Z")
    commit_files(r, {"fleet.toml": V2}, "second web", "2023-09-01T00:00:00Z")
    commit_files(r, {"fleet.toml": "vm = [ { nam = 1 } ]\n"}, "a broken fleet",
                 "2023-09-15T00:00:00Z")
    commit_files(r, {"channels.scm": channels_scm(C_NEW)}, "guix update", "2023-11-01T00:00:00Z")
    commit_files(r, {"fleet.toml": V3}, "pin web-1", "2024-02-01T00:00:00Z")
    commit_files(r, {"fleet.toml": V3 + "# a comment\n"}, "comment", "2024-03-01T00:00:00Z")
    return r


def test_import_records_each_version_once_and_skips_broken_ones(reg, repo):
    result = history.import_fleet(reg, repo)
    assert result.recorded == (1, 2, 3, 4) and len(result.skipped) == 1
    assert result.skipped[0].endswith(":fleet.toml:1: vm: unknown key 'nam' (did you mean "
                                      "'name'?) (and 2 more)")
    assert history.import_fleet(reg, repo).recorded == ()
    entries = history.history(reg)
    assert [(e.number, e.current_from[:10], e.vms) for e in entries] == [
        (1, "2023-06-01", 1), (2, "2023-09-01", 2), (3, "2024-02-01", 2), (4, "2024-03-01", 2)]
    assert entries[1].change == "+web-2 (web)"
    assert entries[2].change == ("web-1: system web→web@1, tags []→[old]; web-2: memory "
                                 "1024→2048")
    assert entries[3].change == "no change to the VMs (comments or formatting)"


def test_the_fleet_of_a_date_pins_each_system_to_its_generation_of_then(reg, repo):
    git_import.import_system(reg, repo, "web", "systems/web.scm", "channels.scm")
    history.import_fleet(reg, repo)
    fleet, version, pin = history.fleet_at(reg, "@2023-10")
    assert version.number == 2 and pin == "2023-10"
    assert [(v.name, v.system, v.memory_mib) for v in fleet.vms] == [
        ("web-1", "web@2023-10", 512), ("web-2", "web@2023-10", 1024)]
    from vmfleet.registry import spec

    assert spec.resolve(reg, fleet.vms[0].system).number == 1   # before the guix update
    later, version, _ = history.fleet_at(reg, "@2024-02-15")
    assert version.number == 3
    assert [v.system for v in later.vms] == ["web@1", "web@2024-02-15"]  # pinned stays pinned
    assert spec.resolve(reg, later.vms[1].system).number == 2
    by_number, _, pin = history.fleet_at(reg, "@2")
    assert pin == "2023-09-01T00:00:00" and by_number.vms[0].system == "web@2023-09-01T00:00:00"
    commit = history.list_versions(reg)[0].git_commit
    assert history.fleet_at(reg, "@" + commit[:8])[1].number == 1


def test_refs_that_match_nothing_say_what_exists(reg, repo):
    with pytest.raises(NotFound, match="no fleet file versions are recorded"):
        history.fleet_at(reg, "@2023-10")
    history.import_fleet(reg, repo)
    with pytest.raises(NotFound, match="no fleet file version matches @2020-01") as exc:
        history.fleet_at(reg, "@2020-01")
    assert exc.value.hint.startswith("versions 1 to 4 exist, the first from 2023-06-01")
    with pytest.raises(UsageError, match="not a date, version number or commit"):
        history.fleet_at(reg, "@yesterday")


def test_vmfleet_import_picks_up_fleet_toml_and_fleet_history_lists_it(repo, tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.setenv("VMFLEET_HOME", str(tmp_path / "home"))
    assert main(["init"]) == 0
    assert main(["import", str(repo), "--system", "web=systems/web.scm", "--channels",
                 "channels.scm"]) == 0
    assert "fleet file fleet.toml: 5 commits, 4 new versions" in capsys.readouterr().err
    assert main(["fleet", "history"]) == 0
    out = capsys.readouterr().out
    assert "@3" in out and "web-1: system web→web@1" in out
    assert main(["fleet", "show", "--fleet", "@2023-10"]) == 0
    out = capsys.readouterr().out
    assert "web@2023-10" in out and "web@1" in out


def test_an_import_whose_fleet_file_could_not_be_read_at_all_fails(tmp_path, capsys, monkeypatch):
    """Every version broken: exit 2 and say so, as for a system none of whose commits could be
    read (the systems' generations are still recorded)."""
    r = new_repo(tmp_path / "repo")
    commit_files(r, {"systems/web.scm": os_config("web"), "systems/vmfleet.pub": "ssh-ed25519 K",
                     "channels.scm": channels_scm(C_OLD), "fleet.toml": "vm = [ { nam = 1 } ]\n"},
                 "web and a broken fleet", "2023-06-01T00:00:00Z")
    monkeypatch.setenv("VMFLEET_HOME", str(tmp_path / "home"))
    assert main(["init"]) == 0
    assert main(["import", str(r), "--system", "web=systems/web.scm", "--channels",
                 "channels.scm"]) == 2
    err = capsys.readouterr().err
    assert "fleet file fleet.toml: none of its 1 versions could be read" in err
    assert main(["generations", "web", "--json"]) == 0
    assert "\"label\": \"web@1\"" in capsys.readouterr().out
