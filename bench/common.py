"""What the benchmarks share."""

from __future__ import annotations

import subprocess
from pathlib import Path


def drop_caches() -> bool:
    """Start from a cold page cache, alike for vmfleet and its baseline (needs root; returns
    whether it worked, so a report can say the numbers are warm)."""
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False
