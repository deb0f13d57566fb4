"""Putting the guix stand-in in place of guix for a test: its own store, the shared kernel cache."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIX = ROOT / "tests" / "standin" / "bin" / "guix"


def standin_env(where: Path) -> dict[str, str]:
    """Environment entries that make vmfleet run the stand-in, with a store under ``where``."""
    cache = os.environ.get("VMFLEET_STANDIN_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vmfleet-standin")
    return {
        "VMFLEET_STANDIN_CACHE": cache,          # the kernel download is shared
        "VMFLEET_GUIX": str(GUIX),
        "VMFLEET_STANDIN_STORE": str(where / "store"),
        "XDG_CACHE_HOME": str(where / "xdg"),    # no Guix checkouts of this machine
    }


@contextlib.contextmanager
def using_standin(where: Path) -> Iterator[dict[str, str]]:
    """Set ``standin_env`` in os.environ for the duration (for module-scoped fixtures)."""
    saved = dict(os.environ)
    env = standin_env(where)
    os.environ.update(env)
    try:
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
