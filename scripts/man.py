#!/usr/bin/env python3
"""Write docs/vmfleet.1 (the man page) from docs/reference.md, its one source.

reference.md is held to the CLI by tests/unit/test_docs.py (a section per command naming every
option); the man page is that text in roff, so both say the same. tests/unit/test_docs.py
also checks that docs/vmfleet.1 is what this script writes now.

    .venv/bin/python scripts/man.py            # rewrite docs/vmfleet.1
    .venv/bin/python scripts/man.py --check    # exit 1 if it is out of date

The markdown it reads is the small subset reference.md uses: '#'/'##' headings, paragraphs,
'- ' items (continued by indented lines), blocks indented by four spaces, `code`, **bold**.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "docs" / "reference.md"
TARGET = ROOT / "docs" / "vmfleet.1"


def escape(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" if not 0x600 <= ord(c) < 0x2000
                   else f"U+{ord(c):04X}" for c in text)  # groff's names; no glyph: the code
    return re.sub(r"^([.'])", r"\\&\1", text)


def inline(text: str) -> str:
    """`code` in bold, **words** in bold, the rest escaped for roff."""
    out = []
    for part in re.split(r"(`[^`]*`|\*\*[^*]+\*\*)", text):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append("\\fB" + escape(part[1:-1]) + "\\fR")
        elif part.startswith("**") and part.endswith("**"):
            out.append("\\fB" + escape(part[2:-2]) + "\\fR")
        else:
            out.append(escape(part))
    line = "".join(out)
    return "\\&" + line if line.startswith((".", "'")) else line


def convert(markdown: str, version: str) -> str:
    out = [f'.TH VMFLEET 1 "" "vmfleet {version}" "vmfleet manual"',
           ".SH NAME", "vmfleet \\- record, build, boot, redeploy and diff every generation of a "
           "fleet of Guix VMs",
           ".SH SYNOPSIS", "\\fBvmfleet\\fR [\\fB\\-\\-home\\fR \\fIDIR\\fR] [\\fB\\-\\-debug\\fR] "
           "\\fICOMMAND\\fR [\\fIARGS\\fR]...", ".br", "\\fBvmfleet \\-\\-version\\fR"]
    para: list[str] = []
    block: list[str] = []
    item = False

    def flush() -> None:
        nonlocal item
        if para:
            out.append(".IP \\(bu 2" if item else ".PP")
            out.append(inline(" ".join(para)))
            para.clear()
        item = False

    def flush_block() -> None:
        if block:
            while block and not block[-1].strip():
                block.pop()
            out.extend([".PP", ".RS 4", ".nf", *(escape(b) for b in block), ".fi", ".RE"])
            block.clear()

    for raw in markdown.splitlines():
        if raw.startswith("    ") and not para:
            block.append(raw[4:])
            continue
        if block and not raw.strip():
            block.append("")
            continue
        flush_block()
        if raw.startswith("# "):
            flush()
            out.append(".SH DESCRIPTION")
        elif raw.startswith("## "):
            flush()
            title = raw[3:].strip()
            if title.startswith("vmfleet "):
                out.append(".SS " + escape(title))
            else:
                out.append(".SH " + escape(title.upper()))
        elif not raw.strip():
            flush()
        elif raw.startswith("- "):
            flush()
            item = True
            para.append(raw[2:].strip())
        else:
            para.append(raw.strip())
    flush()
    flush_block()
    out += [".SH SEE ALSO", "The workflow guide: docs/usage.md in vmfleet's source."]
    return "\n".join(out) + "\n"


def version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    return m.group(1) if m else "unknown"


def main(argv: list[str]) -> int:
    page = convert(SOURCE.read_text(), version())
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != page:
            print(f"{TARGET} is out of date: run scripts/man.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(page)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
