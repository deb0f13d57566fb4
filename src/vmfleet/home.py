"""Where vmfleet keeps its state: the registry, the image store, overlays, keys, logs and locks.

Chosen by ``--home``, else ``$VMFLEET_HOME``, else ``$XDG_DATA_HOME/vmfleet`` (default
``~/.local/share/vmfleet``). Everything vmfleet writes lives below this one directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vmfleet import settings


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def locate(cls, explicit: str | os.PathLike | None = None) -> Home:
        if explicit:
            return cls(Path(explicit).expanduser().absolute())
        env = settings.get(settings.HOME)
        if env:
            return cls(Path(env).expanduser().absolute())
        xdg = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        return cls(Path(xdg).absolute() / "vmfleet")

    @property
    def registry(self) -> Path:
        return self.root / "registry.db"

    @property
    def images(self) -> Path:
        """The content-addressed image store: images/<sha256>.qcow2, read-only."""
        return self.root / "images"

    @property
    def overlays(self) -> Path:
        """Copy-on-write qcow2 overlays of local VMs, one per VM."""
        return self.root / "overlays"

    @property
    def keys(self) -> Path:
        """vmfleet's own SSH key pair (id_ed25519, mode 0600) and known_hosts."""
        return self.root / "keys"

    @property
    def logs(self) -> Path:
        """Build logs and VM serial consoles."""
        return self.root / "logs"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def work(self) -> Path:
        """Scratch space for builds; on the same file system as images/ so renames are atomic."""
        return self.root / "work"

    def dirs(self) -> list[Path]:
        return [self.root, self.images, self.overlays, self.keys, self.logs, self.locks, self.work]
