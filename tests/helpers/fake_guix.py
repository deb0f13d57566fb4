"""A guix that hands out one fixed qcow2 as its build result, for tests about vmfleet's side of a
build (recording, locks, kills, the store), not about what guix makes.

$FAKE_GUIX_PIDS: it writes its pid there, says it is building and works for a minute (the
kill-point tests kill vmfleet meanwhile); $FAKE_GUIX_HELPER too: it first starts a helper that
works in the build directory and outlives it, as a guix that outlived its vmfleet would.
"""

from __future__ import annotations

from pathlib import Path

SCRIPT = """#!/usr/bin/env python3
import os, shutil, subprocess, sys, time
pids = os.environ.get("FAKE_GUIX_PIDS")
if pids:
    if os.environ.get("FAKE_GUIX_HELPER"):
        helper = subprocess.Popen(["sleep", "60"], start_new_session=True)
        open(pids + ".helper", "w").write(str(helper.pid))
    open(pids + ".tmp", "w").write(str(os.getpid()))
    os.rename(pids + ".tmp", pids)
    print("building /gnu/store/...-image.qcow2.drv...", file=sys.stderr, flush=True)
    time.sleep(60)
store = os.environ["FAKE_GUIX_STORE"]
os.makedirs(store, exist_ok=True)
out = os.path.join(store, "0000-image.qcow2")
if not os.path.exists(out):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", out, "16M"], check=True)
print(out)
"""


def install(directory: Path) -> dict[str, str]:
    """Write the fake guix into ``directory``; returns the environment that makes vmfleet use it."""
    guix = directory / "guix"
    guix.write_text(SCRIPT)
    guix.chmod(0o755)
    return {"VMFLEET_GUIX": str(guix), "FAKE_GUIX_STORE": str(directory / "gnu")}
