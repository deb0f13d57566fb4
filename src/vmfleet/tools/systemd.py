"""systemd as vmfleet meets it: is it running here, its quoting, systemctl and systemd-analyze.

The one module that runs systemctl and systemd-analyze (tools/run.py runs them).
"""

from __future__ import annotations

from pathlib import Path

from vmfleet.errors import ToolMissing, UsageError
from vmfleet.tools.run import last_line, run, which


def running(root: Path = Path("/")) -> bool:
    """Whether systemd is the service manager here: sd_booted(3) tests for /run/systemd/system/."""
    return (root / "run/systemd/system").is_dir()


def quote(arg: str, *, expands: bool = True) -> str:
    """One ExecStart= argument, double-quoted for systemd.

    systemd.service(5) "Command lines": arguments may be quoted with double quotes, in which
    C-style escapes (\\\\, \\") are unescaped; "%" starts a specifier (written "%%"), "$" an
    environment variable (written "$$"; ``expands=False`` for settings that expand none, as
    Environment=, systemd.exec(5)). A newline cannot be written in a unit line.
    """
    if "\n" in arg or "\r" in arg or "\0" in arg:
        raise UsageError(f"{arg[:40]!r}…: a newline or NUL cannot be part of a systemd unit",
                         "write the command on one line")
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    if expands:
        escaped = escaped.replace("$", "$$")
    return f'"{escaped}"'


def value(text: str) -> str:
    """A plain setting's value (Description=, paths): one line; "%" is a specifier there too."""
    if "\n" in text or "\r" in text or "\0" in text:
        raise UsageError(f"{text[:40]!r}: a newline cannot be part of a systemd unit",
                         "use a value on one line")
    return text.replace("%", "%%")


def calendar_error(expression: str) -> str | None:
    """systemd's own verdict on an OnCalendar= expression (None: valid, or no systemd-analyze
    here to ask, in which case the expression is still checked for a newline by ``value``)."""
    if not available("systemd-analyze"):
        return None
    result = run(["systemd-analyze", "calendar", expression], check=False, timeout=30)
    if result.returncode == 0:
        return None
    return last_line(result.stderr or result.stdout)


def available(program: str) -> bool:
    try:
        which(program)
    except ToolMissing:
        return False
    return True


def verify(paths: list[Path]) -> tuple[bool, str]:
    """``systemd-analyze verify`` of unit files: (ok, what it said)."""
    result = run(["systemd-analyze", "verify", *map(str, paths)], check=False, timeout=60)
    return result.returncode == 0, (result.stderr + result.stdout).strip()


def systemctl(user: bool, *args: str) -> None:
    run(["systemctl", *(["--user"] if user else []), *args], timeout=60,
        hint="see 'systemctl status' and 'journalctl -xe'")
