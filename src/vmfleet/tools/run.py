"""The one way vmfleet runs external programs.

argv lists only (never a shell); every command is logged at debug level; a missing program or a
failure becomes a vmfleet error that names the fix. ``run`` raises on failure unless
``check=False``, in which case the caller inspects ``Result.returncode``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


# Every child ends with vmfleet, and no Python runs in it between fork and exec (``preexec_fn`` is
# unsafe in a process with threads, and fleet apply starts programs from worker threads): the
# child execs util-linux's setpriv, which sets PR_SET_PDEATHSIG (the kernel sends SIGKILL when
# the thread that started it ends; PR_SET_PDEATHSIG survives exec, so it carries on to the
# program), then a POSIX sh that checks its parent is still the vmfleet that forked it (a
# vmfleet killed between the fork and the prctl would never send the signal: the child ends
# itself) and execs the program. bench/spawn.py on 2 busy cores (load 12-14): 4.9-6.0 ms per
# start, against 10.7-11.1 ms for the preexec_fn it replaces (a full fork of vmfleet) and
# 1.3 ms for a bare vfork+exec; setpriv alone, without the parent check, 2.9-4.2 ms.
SETPRIV = "/usr/bin/setpriv"
SH = "/bin/sh"
_PARENT_GUARD = 'test "$PPID" = "$1" || kill -KILL $$; shift; exec "$@"'


def child_argv(argv: Sequence[str], parent: int | None = None) -> list[str]:
    """What is executed to run ``argv`` as a child of ``parent`` (this process) that ends with it."""
    return [SETPRIV, "--pdeathsig", "KILL", "--", SH, "-c", _PARENT_GUARD, "vmfleet-child",
            str(os.getpid() if parent is None else parent), *argv]


def resolve(program: str, env: Mapping[str, str] | None = None, hint: str | None = None) -> str:
    """The file ``program`` names (looked up on PATH unless it holds a '/'), else ToolMissing:
    the wrapper would start even when the program does not exist."""
    found = program if "/" in program else shutil.which(
        program, path=(env if env is not None else os.environ).get("PATH"))
    if found is None:
        raise ToolMissing(f"{program} not found", hint or install_hint(program))
    path = found
    if not os.path.isfile(path):
        raise ToolMissing(f"{program} not found", hint or install_hint(program))
    if not os.access(path, os.X_OK):
        raise ToolMissing(f"{program} is not executable", f"check the permissions of {program}")
    return path


def spawn(
    argv: Sequence[str | os.PathLike],
    *,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = subprocess.PIPE,
    stderr: int | None = subprocess.PIPE,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    text: bool = False,
    hint: str | None = None,
) -> subprocess.Popen:
    """Start ``argv`` (a list, never a shell line) in a session of its own (so a timeout or
    Ctrl-C ends its whole group: ``kill_group``), ended by the kernel when vmfleet ends.

    The one door for child processes: ``run`` builds on it, and so do the long-lived ones
    (guix builds streaming their log, git cat-file). ``env``: the child's whole environment
    (None: vmfleet's). A missing program is ToolMissing with ``hint`` (else the Debian package).
    """
    args = [os.fspath(a) for a in argv]
    if not args:
        raise ValueError("spawn needs a program to run")
    log.debug("run: %s", " ".join(args))
    program = resolve(args[0], env, hint)
    for wrapper, package in ((SETPRIV, "util-linux"), (SH, "dash")):
        if not os.access(wrapper, os.X_OK):
            raise ToolMissing(f"{wrapper} not found", f"install it: apt-get install {package}")
    return subprocess.Popen(child_argv([program, *args[1:]]), stdin=stdin, stdout=stdout,
                            stderr=stderr, env=None if env is None else dict(env), cwd=cwd,
                            text=text, start_new_session=True)


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: Any  # str, or bytes with text=False
    stderr: Any

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
    """Run ``argv`` to completion (through ``spawn``) and capture its output.

    ``env`` entries are added to the current environment. On timeout the whole process group
    is ended, so no grandchild outlives the call.
    """
    argv = [os.fspath(a) for a in argv]
    full_env = None if env is None else {**os.environ, **env}
    proc = spawn(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                 env=full_env, cwd=cwd, text=text, hint=hint)
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


def working_in(directory: str | os.PathLike) -> list[int]:
    """The processes (of any program) whose working directory is ``directory`` or below it:
    a guix that outlived the vmfleet that started it still works there."""
    root = os.path.realpath(directory)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:  # gone, or another user's
            continue
        if (cwd == root or cwd.startswith(root + "/")) and pid_alive(int(entry)):
            found.append(int(entry))
    return found


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
