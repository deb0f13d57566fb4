"""What the registry vouches for when vmfleet meets a file it did not just make."""

from __future__ import annotations

from vmfleet.registry.db import Registry


def recorded_images(reg: Registry) -> frozenset[str]:
    """The sha256 of every image the registry recorded in its store (``images`` rows): the only
    files an image vmfleet reads may name as its backing file."""
    return frozenset(r["sha256"] for r in reg.query("SELECT sha256 FROM images"))
