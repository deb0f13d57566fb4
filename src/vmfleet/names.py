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


_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
              "\r": "\\r", "\\": "\\\\"}


def escape(text: str) -> str:
    """``text`` as one line a terminal shows as it is, ``ls -b`` style: control characters as
    C escapes (``\\n``) or octal (``\\033``), format characters (right-to-left overrides and
    other bidi controls, zero-width marks) and line/paragraph separators as ``\\u202e``, and
    ``\\`` doubled. For names read from images and VMs in human output; ``--json`` keeps them raw."""
    import unicodedata

    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for c in text:
        if c in _C_ESCAPES:
            out.append(_C_ESCAPES[c])
        elif ord(c) < 0x100 and unicodedata.category(c) == "Cc":
            out.append(f"\\{ord(c):03o}")
        elif unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            out.append(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
        else:
            out.append(c)
    return "".join(out)
