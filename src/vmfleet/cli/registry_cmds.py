"""Commands over the registry: init, import, add, systems, generations, show, resolve."""

from __future__ import annotations

from ..registry import Registry
from .app import app, home, say


@app.command()
def init() -> None:
    """Create the registry and vmfleet's state directory (idempotent)."""
    h = home()
    for d in h.dirs():
        d.mkdir(parents=True, exist_ok=True)
    existed = h.registry.exists()
    Registry.create(h.registry).close()
    say(f"{'registry already at' if existed else 'created registry at'} {h.registry}")
