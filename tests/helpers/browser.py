"""Debian's chromium, headless, driven by chromium-driver through selenium (pinned in
pyproject.toml): the report's browser test, the report benchmark and docs/report.png.

Why selenium and chromium-driver rather than playwright: both come as Debian packages built
from the same chromium source (so driver and browser always match, and apt updates them
together); selenium is a pure-Python wheel. Playwright's Python package bundles its own
Node.js driver and is made for the browser builds it downloads itself, which cannot be
fetched here, and it supports a system chromium only as a best effort.

One browser per test session: starting chromium costs about a second, a page load far less.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage")


def missing() -> str | None:
    """Why the browser cannot run here (None when it can)."""
    for path, package in ((CHROMIUM, "chromium"), (DRIVER, "chromium-driver")):
        if not shutil.which(path):
            return f"{path} is missing (apt-get install {package}; scripts/setup.sh does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@contextlib.contextmanager
def chromium(*, width: int = 1400, height: int = 1000,
             prefix: str = "vmfleet-chromium-") -> Iterator[object]:
    """A headless chromium with a fresh profile (removed afterwards) and its console log kept;
    ``prefix`` names the profile folder (the tests put their leak token in it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix=prefix)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()  # ends chromedriver and its chromium
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """Console messages of level SEVERE since the last call (a failed load, a script error)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
