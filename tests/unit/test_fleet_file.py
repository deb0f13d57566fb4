"""The fleet file: what it accepts, and that every mistake is reported with its line."""

import pytest

from tests.helpers.deploy_env import record_web
from vmfleet.errors import UsageError
from vmfleet.fleet import file as fleet_file

GOOD = """\
# the fleet
vm = [
  { name = "web-1", system = "web", tags = ["front"] },      # a comment, with a # and { in it
  { name = "web-2", system = "web@2023-10", host = "hv2", memory = "1G", vcpus = 2 },
  { name = "db", system = "web@1", memory = 2048, accel = "tcg", health = "herd status nginx" },
]

[defaults]
host = "hv1"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(UsageError) as exc:
        fleet_file.parse(text, "f.toml")
    e = exc.value
    return e.details.splitlines() if e.details else [e.message]


def test_a_good_file_with_defaults_and_every_key():
    fleet = fleet_file.parse(GOOD, "f.toml")
    web1, web2, db = fleet.vms
    assert (web1.name, web1.system, web1.host, web1.memory_mib, web1.tags, web1.line) == (
        "web-1", "web", "hv1", 512, ("front",), 3)
    assert not web1.pinned and web2.pinned and web2.system_name == "web"
    assert (web2.host, web2.memory_mib, web2.vcpus, web2.line) == ("hv2", 1024, 2, 4)
    assert (db.memory_mib, db.accel, db.health, db.line) == (2048, "tcg", "herd status nginx", 5)


def test_table_form_is_accepted_with_header_lines():
    text = '[[vm]]\nname = "a"\nsystem = "web"\n\n[[vm]]\nname = "b"\nsystem = "web"\n'
    assert [v.line for v in fleet_file.parse(text).vms] == [1, 5]
    assert problems(text + 'vcpus = 0\n') == [
        "f.toml:8: vm 'b': vcpus 0 must be a whole number from 1 to 256"]


def test_every_problem_is_reported_at_once_with_its_line():
    text = """\
vm = [
  { name = "web-1", system = "web" },
  { name = "web-2", system = "web", vcpus = 0 },
  { name = "db", system = "web@2023-13" },
  # { name = "commented", system = "out" },
  { name = "x", system = "web", memory = "lots", colour = "red", accel = "fast" },
  { name = "Bad_Name", system = "web", tags = "front" },
  { name = "web-1", system = "web", health = "" },
  { name = "web-1", system = "web" },
]
[defaults]
memroy = "1G"
"""
    got = problems(text)
    assert got == [
        "f.toml:3: vm 'web-2': vcpus 0 must be a whole number from 1 to 256",
        "f.toml:4: vm 'db': 'web@2023-13': '2023-13' is not a valid date; dates are YYYY-MM, "
        "YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)",
        "f.toml:6: vm 'x': unknown key 'colour' (known: name, system, host, memory, vcpus, "
        "accel, tags, health)",
        "f.toml:6: vm 'x': memory 'lots' is not a size: write \"512M\", \"2G\" or a number of MiB",
        "f.toml:6: vm 'x': accel 'fast' must be one of auto, kvm, tcg",
        "f.toml:7: vm 'Bad_Name': invalid VM name 'Bad_Name': lowercase letters, digits and '-', "
        "at most 63",
        "f.toml:7: vm 'Bad_Name': tags 'front' must be a list of names like [\"front\", \"eu\"]",
        "f.toml:8: vm 'web-1': health '' must be one line of shell command, e.g. "
        "\"herd status nginx\"",
        "f.toml:8: duplicate VM name 'web-1' (first at line 2)",  # with its other problem
        "f.toml:9: duplicate VM name 'web-1' (first at line 2)",
        "f.toml:12: [defaults]: unknown key 'memroy' (did you mean 'memory'?) (name and system "
        "belong to each VM)",
    ]


def test_toml_syntax_errors_give_line_and_column():
    assert problems('vm = [ { name = "a", system = web } ]\n') == [
        "f.toml:1:31: not valid TOML: Invalid value"]


def test_keys_in_the_wrong_place_are_explained():
    assert problems('[defaults]\nhost = "a"\nvm = [ { name = "a", system = "web" } ]\n') == [
        "f.toml:3: 'vm' is inside [defaults]: in TOML every key after a [table] header belongs "
        "to that table; put vm = [...] above [defaults]"]
    assert problems('vms = [ { name = "a", system = "web" } ]\n')[0].startswith(
        "f.toml:1: unknown key 'vms' (did you mean 'vm'?)")
    assert problems("") == ["f.toml: declares no VM"]
    assert problems('vm = [ { system = "web" } ]\n') == [
        'f.toml:1: a vm entry has no name (name = "web-1")']


def test_unknown_systems_generations_and_hosts_need_the_registry(reg):
    record_web(reg)  # web@1 (2023-06), web@2 (2024-05)
    text = ('vm = [\n  { name = "a", system = "web" },\n  { name = "b", system = "wbe" },\n'
            '  { name = "c", system = "web@9" },\n  { name = "d", system = "web", host = "hv9" },\n]\n')
    fleet = fleet_file.parse(text, "f.toml")
    with pytest.raises(UsageError) as exc:
        fleet_file.check_against(reg, fleet, ["local", "hv1"])
    assert exc.value.details.splitlines() == [
        "f.toml:3: vm 'b': unknown system 'wbe' (did you mean 'web'?)",
        "f.toml:4: vm 'c': web@9 does not exist (web has generations 1 to 2)",
        "f.toml:5: vm 'd': unknown host 'hv9' (did you mean 'hv1'?); add it: vmfleet host add "
        "hv9 URI",
    ]


def test_selection_by_tag_and_name():
    fleet = fleet_file.parse(GOOD)
    assert fleet_file.select(fleet, ["@front"]) == ({"web-1"}, set())
    assert fleet_file.select(fleet, ["@front,db", "gone"]) == ({"web-1", "db"}, {"db", "gone"})
    with pytest.raises(UsageError, match="no VM has the tag 'back'"):
        fleet_file.select(fleet, ["@back"])


def test_the_example_fleet_file_is_valid():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "systems" / "fleet.toml"
    fleet = fleet_file.read(example)
    assert [(v.name, v.system, v.host) for v in fleet.vms] == [
        ("web-1", "web", "local"), ("web-2", "web", "local"), ("db", "db@2024-05", "local")]


def test_a_duplicate_name_is_reported_with_the_other_problems_of_its_entries():
    """Issue 19: duplicate names were reported only after the entries' other problems were
    fixed."""
    found = problems('vm = [\n { name = "web-1", system = "web", vcpus = 0 },\n'
                     ' { name = "web-1", system = "web", memory = "1X" },\n]\n')
    assert found == ["f.toml:2: vm 'web-1': vcpus 0 must be a whole number from 1 to 256",
                     "f.toml:3: vm 'web-1': memory '1X' is not a size: write \"512M\", "
                     "\"2G\" or a number of MiB",
                     "f.toml:3: duplicate VM name 'web-1' (first at line 2)"]


def test_a_bad_default_is_reported_once_not_once_per_vm():
    """Issue 19: 'vcpus 0' in [defaults] was reported for each VM."""
    found = problems('[defaults]\nvcpus = 0\n\n[[vm]]\nname = "a"\nsystem = "web"\n\n'
                     '[[vm]]\nname = "b"\nsystem = "web"\n')
    assert found == ["f.toml:2: [defaults]: vcpus 0 must be a whole number from 1 to 256"]
