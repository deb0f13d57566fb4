"""Exclusive lock files under Home.locks (flock): the kernel drops a lock when its process dies,
so a killed vmfleet never leaves one behind."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator

from vmfleet.errors import Busy
from vmfleet.home import Home


@contextlib.contextmanager
def lock(home: Home, name: str, *, wait: bool = True, busy: str = "",
         shared: bool = False) -> Iterator[None]:
    """Hold the lock ``name``; wait for it, or raise Busy (message ``busy``) when ``wait=False``.

    ``shared``: many holders at once, none while an exclusive holder has it."""
    home.locks.mkdir(parents=True, exist_ok=True)
    with open(home.locks / f"{name}.lock", "a") as f:
        try:
            fcntl.flock(f, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
                        | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise Busy(busy or f"{name} is locked by another vmfleet",
                       "wait for the other command to finish") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def is_locked(home: Home, name: str) -> bool:
    """Whether another process holds the lock ``name`` right now."""
    path = home.locks / f"{name}.lock"
    if not path.exists():
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False
