"""Every VMFLEET_* environment setting, read here and nowhere else (docs/reference.md,
"Environment"; tests/unit/test_settings.py keeps other modules from reading them).

Each reader looks at the environment when it is called, so a setting given by a parent process
or changed by a test counts at once. An empty value counts as unset.
"""

from __future__ import annotations

import os

HOME = "VMFLEET_HOME"                  # the state directory (else $XDG_DATA_HOME/vmfleet)
GUIX = "VMFLEET_GUIX"                  # the guix command, may hold arguments (else guix on PATH)
GUIX_PINNED = "VMFLEET_GUIX_PINNED"    # a guix that IS the pinned revision: no time-machine (else unset)
ACCEL = "VMFLEET_ACCEL"                # auto|kvm|tcg for new local VMs (else auto)
LOCAL_URI = "VMFLEET_LOCAL_URI"        # where the 'local' host points (else qemu:///system)
PORT_RANGE = "VMFLEET_PORT_RANGE"      # LOW-HIGH host ports for SSH forwards (else 22200-22999)
SHUTDOWN_TIMEOUT = "VMFLEET_SHUTDOWN_TIMEOUT"  # seconds a guest gets to power off (else 30)
MAX_INPUT_SIZE = "VMFLEET_MAX_INPUT_SIZE"            # bytes or 16M: one input file (else 16M)
MAX_GENERATION_SIZE = "VMFLEET_MAX_GENERATION_SIZE"  # all of a generation's inputs (else 64M)
KILL_AT = "VMFLEET_KILL_AT"            # tests only: the step where vmfleet kills itself (tools.killpoint)

ALL = (HOME, GUIX, GUIX_PINNED, ACCEL, LOCAL_URI, PORT_RANGE, SHUTDOWN_TIMEOUT, MAX_INPUT_SIZE,
       MAX_GENERATION_SIZE, KILL_AT)


def get(name: str) -> str | None:
    """The setting's text, or None when it is unset or empty."""
    if name not in ALL:
        raise KeyError(f"{name} is not a vmfleet setting")
    return os.environ.get(name) or None


def shutdown_timeout(default: float) -> float:
    """Seconds; ``default`` when unset or not a number (a typo must not make a stop hang)."""
    try:
        return float(get(SHUTDOWN_TIMEOUT) or default)
    except ValueError:
        return default
