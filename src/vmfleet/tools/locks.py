"""Exclusive lock files under Home.locks (flock): the kernel drops a lock when its process dies,
so a killed vmfleet never leaves one behind.

An exclusive holder writes its pid and its command line into the file, so that ``ps`` can say
which operation is under way (``holder``); what a dead holder wrote means nothing, because only
a lock held right now is read."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass

from vmfleet.errors import Busy
from vmfleet.home import Home

# What this process is doing, as the CLI was called ('vmfleet redeploy web@2'): set once by the
# CLI; library callers keep the default.
operation = "vmfleet"


@dataclass(frozen=True)
class Holder:
    pid: int
    operation: str


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
        if not shared:
            with contextlib.suppress(OSError):
                f.truncate(0)
                f.write(f"{os.getpid()} {operation}\n"[:1024])
                f.flush()
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


def holder(home: Home, name: str) -> Holder | None:
    """Who holds the lock ``name`` right now (pid and operation), or None when nobody does."""
    path = home.locks / f"{name}.lock"
    if not path.exists():
        return None
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid, _, op = f.read(1024).strip().partition(" ")
            return Holder(int(pid) if pid.isdigit() else 0, op or "vmfleet")
        fcntl.flock(f, fcntl.LOCK_UN)
        return None
