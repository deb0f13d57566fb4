"""A small registry with every kind of check result, VMs, a fleet file and an apply, for the
report's tests; and what every report page must satisfy (HTML that parses without an error,
ids unique, every link resolving), shared by the unit and the browser tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import html5lib

from tests.helpers.deploy_env import make_fleet
from tests.helpers.fleet import channels_scm, os_config
from tests.helpers.fleet_env import fake_vm, fleet_text
from tests.helpers.pins import C_2023_06
from vmfleet import check
from vmfleet.fleet import file as fleet_file
from vmfleet.fleet import history
from vmfleet.fleet import plan as plan_mod
from vmfleet.registry import generations
from vmfleet.registry.db import dumps

HOSTILE = '<script>alert("x")</script> & "quotes"'

DRIFT_DETAIL = {
    "seconds": 12.5, "same_system": False, "same_closure": False,
    "reference": {"build": 1, "image_sha256": "a" * 64, "store_path": "/gnu/store/aaa-image.qcow2"},
    "rebuild": {"build": 2, "image_sha256": "b" * 64, "store_path": "/gnu/store/bbb-image.qcow2"},
    "diff": {"version": 1, "equal": False,
             "a": {"label": "build 1", "kind": "image", "source": None, "system": None},
             "b": {"label": "build 2", "kind": "image", "source": None, "system": None},
             "layers": {
                 "packages": {"status": "different", "items": {"a": 10, "b": 10},
                              "changes": [{"name": "openssl", "change": "rebuilt",
                                           "versions_a": ["3.0.8"], "versions_b": ["3.0.8"],
                                           "size_a": 1, "size_b": 2, "size_delta": 1,
                                           "requested": False, "paths_a": ["/gnu/store/x-openssl-3.0.8"],
                                           "paths_b": ["/gnu/store/y-openssl-3.0.8"]}]},
                 "files": {"status": "different", "changes": [
                     {"path": "/etc/motd", "change": "modified", "what": ["content"],
                      "a": None, "b": None, "diff": "-old\n+new <b>\n"}]}}},
    "diff_text": "packages\n  openssl rebuilt\n",
}


@dataclass
class ReportFleet:
    fleet: object          # tests.helpers.deploy_env.Fleet
    fleet_file: Path
    checks: list           # every check.Check recorded
    apply_id: str


def make_report_fleet(tmp_path: Path, monkeypatch):
    """``yield from`` it in a fixture: web@1, web@2 (hostile message), db@1; checks of each
    result on three dates; web-1 runs web@1 while the fleet file wants web (web@2); an apply
    that planned its replacement."""
    for f in make_fleet(tmp_path, monkeypatch):
        reg = f.reg
        db, _ = generations.record(reg, "db", generations.Inputs(
            "db.scm", os_config("db", packages=("postgresql",)), channels_scm(C_2023_06),
            {"vmfleet.pub": b"k\n"}), current_from="2024-01-10T00:00:00Z", message=HOSTILE)
        plan = [
            (f.old, "2024-06-02T03:00:00Z", check.Result.REPRODUCIBLE, {"seconds": 1.0}),
            (f.new, "2024-06-02T03:10:00Z", check.Result.REPRODUCIBLE, {"seconds": 1.0}),
            (db, "2024-06-02T03:20:00Z", check.Result.REPRODUCIBLE, {"seconds": 1.0}),
            (f.old, "2024-06-09T03:00:00Z", check.Result.IMAGE_DIFFERS,
             {"seconds": 3.0, "error": "guix build: error: derivation may not be deterministic",
              "same_system": True, "same_closure": True,
              "differing_derivation": "/gnu/store/ppp-partition.img.drv",
              "reference": {"build": 1, "image_sha256": "a" * 64, "store_path": "/gnu/store/a"}}),
            (f.new, "2024-06-09T03:10:00Z", check.Result.DRIFTED, DRIFT_DETAIL),
            (db, "2024-06-16T03:20:00Z", check.Result.FAILS,
             {"seconds": 2.0, "error": f"build of db@1 failed: {HOSTILE}", "hint": None}),
        ]
        done = []
        for gen, started, result, detail in plan:
            done.append(check._record(reg, gen, result, None, None, started, detail))
        fake_vm(reg, f.conn, f.home, "web-1", f.old, "local", created="2024-06-01T10:00:00Z")
        fake_vm(reg, f.conn, f.home, "db-1", db, "local", created="2024-06-01T11:00:00Z")
        fake_vm(reg, f.conn, f.home, "stray", f.new, "local")
        rows = [{"name": "web-1", "system": "web"}, {"name": "db-1", "system": "db"},
                {"name": "web-2", "system": "web"}]
        path = tmp_path / "fleet.toml"
        path.write_text(fleet_text(rows))
        p = plan_mod.make_plan(reg, f.home, fleet_file.read(path), source={"path": str(path)})
        apply_id = "a20240620t1000-abcd"
        with reg.write():  # what fleet/apply.py records before it starts
            reg.execute("INSERT INTO fleet_applies (id, started, finished, status, user, fleet,"
                        " fingerprint, plan, summary) VALUES (?,?,?,?,?,?,?,?,?)",
                        (apply_id, "2024-06-20T10:00:00Z", "2024-06-20T10:05:00Z", "failed",
                         "ops", str(path), p.fingerprint, dumps(plan_mod.to_json(p)),
                         "1 replaced, 1 failed"))
        yield ReportFleet(f, path, done, apply_id)


# --- what every page must satisfy ------------------------------------------------------------

class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])


def compared(reg, fleet_file_path: Path | None = None) -> dict:
    """site.write's fleet arguments, loaded as ``vmfleet report [--fleet-file FILE]`` loads them."""
    declared, source = history.fleet_to_compare(reg, str(fleet_file_path) if fleet_file_path else None)
    return {"fleet": declared, "fleet_source": source}


def parse_page(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text())
    return p


def check_pages(root: Path) -> list[str]:
    """Problems with the report under ``root``: HTML parse errors (html5lib, strict: the
    WHATWG parsing rules), duplicate ids, links that leave the folder or do not resolve
    (file and #anchor), a coloured cell with no text."""
    problems = []
    pages = sorted(root.rglob("*.html"))
    parsed = {p: parse_page(p) for p in pages}
    for page, links in parsed.items():
        rel = page.relative_to(root)
        try:
            html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page.read_bytes())
        except html5lib.html5parser.ParseError as e:
            problems.append(f"{rel}: not valid HTML: {e}")
        dup = {i for i in links.ids if links.ids.count(i) > 1}
        if dup:
            problems.append(f"{rel}: duplicate ids {sorted(dup)}")
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                problems.append(f"{rel}: link out of the report: {link}")
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.is_relative_to(root.resolve()) or not target.is_file():
                problems.append(f"{rel}: broken link {link}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed.get(target) or parse_page(target)
                if parts.fragment not in ids.ids:
                    problems.append(f"{rel}: broken anchor {link}")
        text = page.read_text()
        for m in re.finditer(r'<td class="s-(?!na)[a-z]+"[^>]*>(.*?)</td>', text):
            if not re.sub(r"<[^>]+>", "", m.group(1)).strip():
                problems.append(f"{rel}: a coloured cell without a text label: {m.group(0)[:80]}")
    return problems


def heat_cells(page: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(generation label, date) → (letter, title) of a system page's heat-map."""
    text = page.read_text()
    head = re.search(r'<table class="heat".*?<thead>(.*?)</thead>', text, re.S).group(1)
    dates = re.findall(r'<th scope="col">(\d{4}-\d\d-\d\d)</th>', head)
    out = {}
    for row in re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", text, re.S):
        label = re.sub(r"<[^>]+>", "", row.split("</th>")[0])
        tds = re.findall(r'<td class="[^"]*" title="([^"]*)">(.*?)</td>', row)
        for d, (title, inner) in zip(dates, tds, strict=True):
            out[(label, d)] = (re.sub(r"<[^>]+>", "", inner), title)
    return out


