"""Validation of the names users give: systems, VMs, hosts.

Names become file names (overlays, logs, locks) and libvirt domain names, so they are kept to
a safe alphabet: no '/', no '..', no spaces.
"""

from __future__ import annotations

import re

from vmfleet.errors import UsageError

NAME_RE = re.compile(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")  # \Z: '$' would accept "web\n"


def check_name(name: str, what: str = "system") -> str:
    if not NAME_RE.match(name or ""):
        raise UsageError(
            f"invalid {what} name {name!r}",
            f"a {what} name is lowercase letters, digits and '-', starting with a letter or digit "
            "(at most 63 characters; no '/', '..' or spaces)",
        )
    return name
