"""One error hierarchy. Every error carries a one-line message and a hint that names the fix.

The CLI prints ``error: MESSAGE`` and ``hint: HINT`` and exits with ``exit_code``; nothing else
in vmfleet prints errors, so library users get the same information as exceptions.
"""

from __future__ import annotations


class VmfleetError(Exception):
    """Base of every error vmfleet reports to a user."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None, *, details: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details  # extra lines shown before the error (e.g. a log's tail)

    def __str__(self) -> str:
        return self.message


class UsageError(VmfleetError):
    """The user asked for something malformed: a bad name, spec, option or file."""


class NotFound(VmfleetError):
    """A system, generation, build, image, VM or host that does not exist."""


class SchemeError(UsageError):
    """A Scheme file that cannot be read, or is not what it should be (file:line:col)."""


class RegistryError(VmfleetError):
    """The SQLite registry is missing, corrupt, read-only or locked."""


class ToolMissing(VmfleetError):
    """An external program vmfleet needs is not installed."""


class CommandFailed(VmfleetError):
    """An external program ran and failed."""

    def __init__(self, message: str, hint: str | None = None, *, returncode: int = 1,
                 stdout: str = "", stderr: str = ""):
        super().__init__(message, hint)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class CommandTimeout(CommandFailed):
    """An external program ran longer than allowed and was ended."""


class Busy(VmfleetError):
    """Another vmfleet holds a lock this command needs (and the command would not wait)."""


class BuildError(VmfleetError):
    """A build failed, timed out or was interrupted (the build record says which).

    ``kind`` is guix's failure class (guix.Failure) when guix itself failed, else None;
    ``drv`` the derivation guix named (the one a ``--check`` found not deterministic).
    """

    kind: object = None          # a guix.command.Failure (errors.py cannot import it: lower layer)
    drv: str | None = None
    output: str | None = None    # a --check that differed: the output, on the build machine …
    kept: str | None = None      # … and the second result guix kept (OUT-check)
    reason: tuple[str, ...] = ()    # guix's lines after its error line


class DeployError(VmfleetError):
    """A VM could not be deployed, started, stopped or reached."""


class ImageGone(DeployError):
    """An image was removed from the store (by ``images gc``) before anything could hold it."""


class LibvirtError(DeployError):
    """libvirtd is unreachable or refused an operation."""


class SshError(VmfleetError):
    """An SSH connection failed: unreachable, refused key, or a host key that does not match."""


class UnknownHostKey(SshError):
    """A machine whose host key is not pinned yet, where trusting it must be asked for."""


class HostKeyMismatch(SshError):
    """A VM or build host presented a different host key than the pinned one."""


class ImageError(VmfleetError):
    """An image that cannot be read: not a disk, truncated, or without the expected content."""
