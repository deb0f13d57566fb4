"""Choosing a builder from ``--builder``: ``local`` or ``ssh://user@host[:port]``."""

from __future__ import annotations

from vmfleet.build.local import LocalBuilder
from vmfleet.build.runner import Builder
from vmfleet.errors import UsageError
from vmfleet.home import Home


def parse_builder(text: str | None, home: Home, *, trust_new_host: bool = False) -> Builder:
    """'local' (default) or 'ssh://user@host[:port][?guix=/path/to/guix]'."""
    if not text or text == "local":
        return LocalBuilder()
    if text.startswith("ssh://"):
        from vmfleet.build.remote import RemoteBuilder, parse_ssh_url

        return RemoteBuilder(**parse_ssh_url(text), home=home, trust_new_host=trust_new_host)
    raise UsageError(f"unknown builder {text!r}", "use 'local' or ssh://user@host[:port]")
