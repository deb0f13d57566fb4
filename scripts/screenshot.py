#!/usr/bin/env python3
"""A screenshot of a report page in headless chromium (how docs/report.png is made):

    .venv/bin/python scripts/screenshot.py /tmp/vmfleet-demo/report docs/report.png [PAGE] [WIDTHxHEIGHT]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import browser  # noqa: E402


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    report, out = Path(sys.argv[1]).absolute(), Path(sys.argv[2])
    page = sys.argv[3] if len(sys.argv) > 3 else "index.html"
    width, _, height = (sys.argv[4] if len(sys.argv) > 4 else "1280x900").partition("x")
    why = browser.missing()
    if why:
        print(f"screenshot: {why}", file=sys.stderr)
        return 2
    with browser.chromium(width=int(width), height=int(height)) as driver:
        driver.get((report / page).as_uri())
        errors = browser.console_errors(driver)
        if errors:
            print(f"screenshot: console errors: {errors}", file=sys.stderr)
            return 1
        driver.save_screenshot(str(out))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
