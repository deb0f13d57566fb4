"""One date format and one duration format in every table, lists wrapped, columns aligned,
words that agree with their numbers (issue 19's 'small things that make it feel unfinished')."""

from __future__ import annotations

import re
from pathlib import Path

from vmfleet import timeutil
from vmfleet.diff import human
from vmfleet.diff.package_diff import PackageChange, PackagesDiff
from vmfleet.inspect.facts import ImageFacts, Package
from vmfleet.inspect.report import render_facts

CLI = Path(__file__).resolve().parents[2] / "src" / "vmfleet" / "cli"


def test_one_date_and_one_duration_format():
    assert timeutil.show("2026-12-06T20:56:35Z") == "2026-12-06 20:56"
    assert timeutil.show(None) == "-"
    assert [timeutil.show_duration(s) for s in (0.04, 1.44, 3.654, 9.96, 42.4, 303, 7620, 273600)
            ] == ["0.0s", "1.4s", "3.7s", "10s", "42s", "5m03s", "2h07m", "3d04h"]
    assert timeutil.show_duration(None) == "-"


def test_no_command_formats_a_stamp_or_a_duration_of_its_own():
    """Issue 19: builds showed '1.4s' and checks '3.654', dates '2026-12-06 20:56' and
    '2026-12-06T20:56:35Z': each table formatted its own."""
    own = re.compile(r'replace\("T", " "\)|:g\}s|:\.\d?f\}s')
    found = [f"{p.name}:{n}: {line.strip()}" for p in sorted(CLI.glob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if own.search(line)]
    assert found == [], "use timeutil.show / timeutil.show_duration:\n" + "\n".join(found)


def test_import_counts_agree_with_their_nouns():
    from vmfleet.cli.registry_cmds import _count

    assert _count(1, "new version") == "1 new version"  # was: '1 new versions'
    assert _count(2, "new generation") == "2 new generations"
    assert _count(0, "commit") == "0 commits"


def test_package_sizes_stay_aligned_whatever_the_versions():
    def change(name, a, b, delta):
        return PackageChange(name, "upgraded", a, b, 1000, 1000 + delta, True)

    d = PackagesDiff((change("bash", ("5.1.16",), ("5.2.21",), 10_000),
                      change("glibc", ("2.35", "2.35-static-pie-really-long"),
                             ("2.39", "2.39-static-pie-really-long"), 2_000_000)),
                     10, 10, None, None, 0)
    lines = [line for line in human._package_lines(d, colour=False) if "upgraded" in line]
    ends = {len(line) for line in lines}
    assert len(ends) == 1, lines  # was: a long versions cell pushed its size to the right


def test_inspect_wraps_the_package_list_and_says_whose_generation_it_is():
    pkgs = tuple(Package(f"package-{i}", "1.2.3", "out", f"/gnu/store/x-package-{i}")
                 for i in range(60))
    facts = ImageFacts("web.qcow2", "image", "/gnu/store/x-system", 1, None, None, None, pkgs,
                       (), None, "listing", format="qcow2", partition_table="dos",
                       root_partition=1)
    text = render_facts(facts, width=80)
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("packages"))
    end = next(i for i, line in enumerate(lines) if line.startswith("closure"))
    listing = lines[start:end]
    assert len(listing) > 5 and max(len(line) for line in listing) <= 80
    assert all(re.search(r"package-\d+ 1\.2\.3", line) for line in listing)  # never split
    # (was: one ~500-character line)
    assert "package-59 1.2.3" in text and text.count("packages   60:") == 1
    assert "(Guix system generation 1, not a vmfleet generation)" in text  # was: '(generation 1)'
