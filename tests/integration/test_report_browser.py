"""The report in a real browser: Debian's chromium, headless, through chromium-driver and
selenium (tests/helpers/browser.py says why). One browser for the whole file: every page is
loaded from file:// once and must load without a console error, every link must reach a page
(and an id on it) that exists, and the heat-maps must show the results the registry holds. A
failure leaves a screenshot of the page it happened on (its path is in the message)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.helpers import browser, leaks
from tests.helpers.report_env import compared, make_report_fleet
from vmfleet import check
from vmfleet.report import site
from vmfleet.report.html import STATUSES

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))]

# What a page tells the test: its ids, its links as the browser resolved them, its heat-map.
READ_PAGE = """
const ids = Array.from(document.querySelectorAll('[id]'), e => e.id);
const links = Array.from(document.querySelectorAll('a[href], link[href]'), e => e.href);
const dates = Array.from(document.querySelectorAll('table.heat thead th'), e => e.textContent)
  .slice(1);
const cells = [];
for (const tr of document.querySelectorAll('table.heat tbody tr')) {
  const label = tr.querySelector('th').textContent;
  tr.querySelectorAll('td').forEach((td, i) => cells.push(
    [label, dates[i], td.innerText.trim(), td.className, td.title,
     getComputedStyle(td).backgroundColor]));
}
const sheet = document.styleSheets.length;
return {ids, links, cells, sheet, ready: document.readyState, title: document.title};
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    mp = pytest.MonkeyPatch()
    gen = make_report_fleet(tmp, mp)
    rf = next(gen)
    site.write(rf.fleet.reg, tmp / "site", **compared(rf.fleet.reg, rf.fleet_file))
    checks = check.list_checks(rf.fleet.reg)
    yield tmp / "site", checks
    gen.close()
    mp.undo()


def test_every_page_loads_links_resolve_and_the_heat_map_shows_the_registry(report, tmp_path):
    root, checks = report
    pages = sorted(root.rglob("*.html"))
    seen: dict[Path, dict] = {}
    with browser.chromium(prefix=f"vmfleet-test-{leaks.RUN}-chromium-") as driver:
        current = None

        def fail(message: str):
            shot = tmp_path / f"failed-{(current or root).stem}.png"
            driver.save_screenshot(str(shot))
            pytest.fail(f"{message} (screenshot: {shot})")

        browser.console_errors(driver)  # nothing from the start page counts
        for current in pages:
            driver.get(current.as_uri())
            info = driver.execute_script(READ_PAGE)
            errors = browser.console_errors(driver)
            if errors:
                fail(f"{current.relative_to(root)}: console errors: {errors}")
            if info["ready"] != "complete" or not info["title"] or info["sheet"] != 1:
                fail(f"{current.relative_to(root)}: did not load whole: {info}")
            seen[current] = info
        for page, info in seen.items():
            for href in info["links"]:
                parts = urlsplit(href)
                target = Path(unquote(parts.path))
                if parts.scheme != "file" or not target.is_file() or \
                        not target.resolve().is_relative_to(root.resolve()):
                    current = page
                    fail(f"{page.relative_to(root)}: link {href} does not resolve in the report")
                if parts.fragment and target.suffix == ".html" and \
                        parts.fragment not in seen[target]["ids"]:
                    current = page
                    fail(f"{page.relative_to(root)}: no id {parts.fragment!r} on {target.name}")
        # the heat-maps, as the browser shows them, against the registry
        shown = {}
        for info in seen.values():
            for label, date, text, cls, title, colour in info["cells"]:
                shown[(label, date)] = (text, cls, title, colour)
        colours = {}
        for c in checks:
            text, cls, title, colour = shown[(c.label, c.started[:10])]
            klass, letter, words = STATUSES[str(c.result)]
            if (text, cls) != (letter, f"s-{klass}") or words not in title:
                current = root / "systems" / f"{c.label.split('@')[0]}.html"
                driver.get(current.as_uri())
                fail(f"check {c.id} ({c.label} {c.started}: {c.result}) shows as {text!r} {cls!r}")
            colours.setdefault(str(c.result), set()).add(colour)
        # one colour per status, and no two statuses alike
        assert all(len(v) == 1 for v in colours.values()), colours
        assert len({next(iter(v)) for v in colours.values()}) == len(colours), colours
        assert set(colours) == {"reproducible", "image-differs", "drifted", "fails"}
