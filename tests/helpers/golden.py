"""Expected-output ("golden") files: one helper and one flag for every test that keeps them.

The files live under tests/unit/expected/. After an intended change, rewrite them with
``VMFLEET_UPDATE_EXPECTED=1 .venv/bin/pytest TESTS`` and review the diff; without the flag a
missing file is a failure, never silently created.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FLAG = "VMFLEET_UPDATE_EXPECTED"
EXPECTED = Path(__file__).resolve().parents[1] / "unit" / "expected"


def check(name: str, actual: str) -> None:
    """``actual`` equals tests/unit/expected/``name`` (rewritten instead when the flag is set)."""
    path = EXPECTED / name
    if os.environ.get(FLAG) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with {FLAG}=1 and review it")
    assert actual == path.read_text(), f"{name} differs; if intended, rewrite it with {FLAG}=1 and review the diff"
