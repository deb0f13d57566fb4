"""Kill points: named steps where a test can have vmfleet die as ``kill -9`` would kill it.

``$VMFLEET_KILL_AT=STEP`` makes the process SIGKILL itself when it reaches ``STEP`` (nothing
runs after it: no ``finally``, no cleanup, no flush), so a test can check that the next command
finds and finishes (or cleans up) what was cut short. In-process tests replace ``kill`` to stop
there without ending pytest. Each step is reached right after the intent of the next action is
recorded, or right after an action whose outcome is not recorded yet.
"""

from __future__ import annotations

import os
import signal

from vmfleet import settings

KILL_ENV = settings.KILL_AT


def kill(step: str) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def reached(step: str) -> None:
    """Die here when $VMFLEET_KILL_AT names ``step`` (a test hook; a no-op otherwise)."""
    if settings.get(settings.KILL_AT) == step:
        kill(step)
