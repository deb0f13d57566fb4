"""vmfleet report: the pages it writes from a registry with every kind of check, VMs, a fleet
file and an apply: valid HTML, links that resolve, the heat-map showing what the registry holds,
text next to every colour, untrusted text escaped, its folder handled with care."""

from __future__ import annotations

import json

import pytest

from tests.helpers.report_env import check_pages, compared, heat_cells, make_report_fleet
from vmfleet.cli import main
from vmfleet.errors import UsageError
from vmfleet.report import site
from vmfleet.report.html import STATUSES


@pytest.fixture
def rf(tmp_path, monkeypatch):
    yield from make_report_fleet(tmp_path, monkeypatch)


def test_every_page_is_valid_and_every_link_resolves(rf, tmp_path):
    out = tmp_path / "report"
    written = site.write(rf.fleet.reg, out, **compared(rf.fleet.reg, rf.fleet_file))
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*.html"))
    drifted, differs = rf.checks[4].id, rf.checks[3].id
    assert names == sorted([
        "index.html", "systems/db.html", "systems/web.html",
        f"diffs/check-{differs}.html", f"diffs/check-{drifted}.html",
        f"diffs/apply-{rf.apply_id}-web-1.html"]), names
    assert written.pages == len(names) + 1  # and style.css
    assert check_pages(out) == []


def test_the_heat_map_shows_what_the_registry_holds(rf, tmp_path):
    out = tmp_path / "report"
    site.write(rf.fleet.reg, out, **compared(rf.fleet.reg, rf.fleet_file))
    web, db = heat_cells(out / "systems/web.html"), heat_cells(out / "systems/db.html")
    for c in rf.checks:
        cells = web if c.label.startswith("web@") else db
        letter, title = cells[(c.label, c.started[:10])]
        assert letter == STATUSES[str(c.result)][1], (c.label, c.started)
        assert STATUSES[str(c.result)][2] in title
    # db@1 was recorded on 2024-01-10, checked on 06-02 and 06-16, not on 06-09 (web was).
    assert db[("db@1", "2024-06-09")][0] == "?"
    assert "not checked" in db[("db@1", "2024-06-09")][1]
    # the reasons, on hover and as text
    text = (out / "systems/web.html").read_text()
    assert "rebuilding /gnu/store/ppp-partition.img.drv gave other bytes" in text
    assert "drifted: openssl rebuilt" in text
    db_text = (out / "systems/db.html").read_text()
    assert "no longer builds" in db_text and "build of db@1 failed" in db_text


def test_untrusted_text_is_escaped(rf, tmp_path):
    out = tmp_path / "report"
    site.write(rf.fleet.reg, out, **compared(rf.fleet.reg, rf.fleet_file))
    for page in out.rglob("*.html"):
        assert "<script" not in page.read_text(), page
    assert "&lt;script&gt;alert" in (out / "systems/db.html").read_text()
    diff = (out / f"diffs/check-{rf.checks[4].id}.html").read_text()
    assert "+new &lt;b&gt;" in diff and "openssl" in diff and "/etc/motd" in diff


def test_the_fleet_against_its_file(rf, tmp_path):
    out = tmp_path / "report"
    site.write(rf.fleet.reg, out, **compared(rf.fleet.reg, rf.fleet_file))
    index = (out / "index.html").read_text()
    assert "drift: generation web@1 → web@2" in index
    assert "declared, not deployed" in index          # web-2
    assert "drift: not in the fleet file" in index     # stray
    assert index.count("as declared") == 1              # db-1
    assert "2024-06-01 10:00" in index                  # web-1 since when
    apply_page = (out / f"diffs/apply-{rf.apply_id}-web-1.html").read_text()
    assert "generation web@1 → web@2" in apply_page and "+git" in apply_page
    assert '<h2 id="config">' in apply_page


def test_the_folder_is_handled_with_care(rf, tmp_path, capsys):
    busy = tmp_path / "www"
    busy.mkdir()
    (busy / "mine.html").write_text("keep me")
    with pytest.raises(UsageError, match="not empty and holds no earlier vmfleet report"):
        site.write(rf.fleet.reg, busy, **compared(rf.fleet.reg))
    assert (busy / "mine.html").read_text() == "keep me"
    out = tmp_path / "report"
    site.write(rf.fleet.reg, out, **compared(rf.fleet.reg))
    stale = out / "diffs" / "check-999.html"
    stale.write_text("old")
    (out / "notes.txt").write_text("the user's")
    site.write(rf.fleet.reg, out, **compared(rf.fleet.reg))
    assert not stale.exists() and (out / "notes.txt").exists()
    # without --fleet-file and no recorded fleet file, the fleet is shown without drift
    assert "no fleet file recorded" in (out / "index.html").read_text()
    (out / "systems").rename(out / "elsewhere")
    (out / "systems").symlink_to(tmp_path)
    with pytest.raises(UsageError, match="not a folder of the report"):
        site.write(rf.fleet.reg, out, **compared(rf.fleet.reg))


def test_cli_prints_the_index(rf, tmp_path, capsys):
    out = tmp_path / "r"
    home = ["--home", str(rf.fleet.home.root)]
    assert main([*home, "report", str(out), "--fleet-file", str(rf.fleet_file)]) == 0
    stdout, err = capsys.readouterr()
    assert stdout == f"{out / 'index.html'}\n" and "wrote 7 pages" in err
    assert main([*home, "report", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["systems"] == 2


def test_a_bad_fleet_file_fails_before_anything_is_written(rf, tmp_path, capsys):
    bad = tmp_path / "fleet.toml"
    bad.write_text('[[vm]]\nname = "web-1"\nsystem = "web"\nvcpus = "many"\n')
    out = tmp_path / "r"
    home = ["--home", str(rf.fleet.home.root)]
    assert main([*home, "report", str(out), "--fleet-file", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err and not out.exists()


def test_names_from_the_registry_never_make_a_path():
    from vmfleet.report import model

    plan = {"steps": [{"action": "replace", "name": "../../etc/evil"},
                      {"action": "replace", "name": "web-1"}, {"action": "keep", "name": "db-1"}]}
    rows = [{"id": "a20240620t1000-abcd", "started": "2024-06-20T10:00:00Z", "status": "failed",
             "plan": json.dumps(plan)},
            {"id": "../x", "started": "2024-06-20T10:00:00Z", "status": "failed", "plan": json.dumps(plan)},
            {"id": "a2", "started": "2024-06-20T10:00:00Z", "status": "failed", "plan": "not json"}]
    assert [s.page for s in model.apply_steps(rows)] == ["apply-a20240620t1000-abcd-web-1.html"]
