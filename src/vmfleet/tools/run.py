"""The one way vmfleet runs external programs.

argv lists only (never a shell); every command is logged at debug level; a missing program or a
failure becomes a vmfleet error that names the fix. ``run`` raises on failure unless
``check=False``, in which case the caller inspects ``Result.returncode``.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vmfleet.errors import CommandFailed, CommandTimeout, ToolMissing

log = logging.getLogger("vmfleet.tools.run")

# Which Debian package provides a program, for the hint of a ToolMissing error.
DEBIAN_PACKAGES = {
    "qemu-img": "qemu-utils",
    "qemu-storage-daemon": "qemu-system-x86",
    "qemu-system-x86_64": "qemu-system-x86",
    "sfdisk": "fdisk",
    "debugfs": "e2fsprogs",
    "mkfs.ext4": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "syslinux": "syslinux",
    "cpio": "cpio",
    "faketime": "faketime",
    "git": "git",
    "ssh": "openssh-client",
    "sshd": "openssh-server",
    "fusermount": "fuse3",
    "virsh": "libvirt-clients",
    "systemctl": "systemd",
    "systemd-analyze": "systemd",
}


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(parent: int) -> None:
    """Runs in the child between fork and exec: the kernel sends it SIGKILL when vmfleet dies.

    Children run in their own session (so a timeout can end the whole group), which also means a
    vmfleet killed with SIGKILL would leave them working: an orphaned qemu-img once created a
    VM's overlay after 'destroy' had cleaned up the killed deploy. ``parent`` closes the race
    of a vmfleet that died between the fork and here: then nobody will send the signal."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def which(program: str, hint: str | None = None) -> str:
    """Return the full path of ``program`` or raise ToolMissing with an install hint."""
    path = shutil.which(program)
    if path is None:
        raise ToolMissing(f"{program} not found on PATH", hint or install_hint(program))
    return path


def install_hint(program: str) -> str:
    package = DEBIAN_PACKAGES.get(program)
    if package:
        return f"install it: apt-get install {package}"
    return f"install {program} or put it on PATH"


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    timeout: float | None = None,
    text: bool = True,
    hint: str | None = None,
) -> Result:
    """Run ``argv`` to completion and capture its output.

    ``env`` entries are added to the current environment. On timeout the whole process group
    is ended, so no grandchild outlives the call.
    """
    argv = [os.fspath(a) for a in argv]
    log.debug("run: %s", " ".join(argv))
    full_env = None
    if env is not None:
        full_env = {**os.environ, **env}
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            text=text,
            start_new_session=True,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
        )
    except FileNotFoundError:
        raise ToolMissing(f"{argv[0]} not found", hint or install_hint(argv[0])) from None
    except PermissionError:
        raise ToolMissing(f"{argv[0]} is not executable", f"check the permissions of {argv[0]}") from None
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        raise CommandTimeout(
            f"{os.path.basename(argv[0])} did not finish within {timeout:g} s",
            hint or "raise the timeout or look at what the command waits for",
            returncode=-1, stdout=out or "", stderr=err or "",
        ) from None
    except BaseException:
        kill_group(proc)
        raise
    result = Result(tuple(argv), proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise CommandFailed(
            f"{os.path.basename(argv[0])} failed (exit {proc.returncode}): {last_line(err or out)}",
            hint,
            returncode=proc.returncode, stdout=out or "", stderr=err or "",
        )
    return result


def kill_group(proc: subprocess.Popen) -> None:
    """End a process started by us with start_new_session=True, and all its children."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def last_line(text: str | bytes | None) -> str:
    if not text:
        return "(no output)"
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"
