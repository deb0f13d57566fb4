"""The command reference and the help texts stay in sync with the CLI."""

import re
from pathlib import Path

import pytest
import typer.main

from vmfleet.cli import app

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (ROOT / "docs" / "reference.md").read_text()


def commands():
    root = typer.main.get_command(app)
    out = []

    def walk(group, prefix):
        for name, cmd in sorted(group.commands.items()):
            out.append((f"{prefix}{name}".strip(), cmd))
            if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
                walk(cmd, f"{prefix}{name} ")
    walk(root, "")
    return out


def section(name: str) -> str:
    m = re.search(rf"^## vmfleet {re.escape(name)}\s*$(.*?)(?=^## |\Z)", REFERENCE, re.M | re.S)
    return m.group(1) if m else ""


@pytest.mark.parametrize("name,cmd", commands(), ids=[n for n, _ in commands()])
def test_every_command_has_help_and_a_reference_section(name, cmd):
    assert (cmd.help or "").strip(), f"vmfleet {name} has no help text"
    text = section(name)
    assert text.strip(), f"docs/reference.md has no section '## vmfleet {name}'"
    for param in cmd.params:
        if getattr(param, "param_type_name", "") == "option" and param.name != "help":
            assert any(opt in text for opt in param.opts), \
                f"docs/reference.md, vmfleet {name}: option {param.opts[0]} is not documented"


def test_reference_documents_no_command_that_does_not_exist():
    names = {n for n, _ in commands()}
    documented = set(re.findall(r"^## vmfleet (.+?)\s*$", REFERENCE, re.M))
    assert documented <= names, f"documented but not in the CLI: {sorted(documented - names)}"


def test_the_man_page_is_generated_from_the_reference_and_up_to_date():
    """docs/vmfleet.1 is docs/reference.md in roff (scripts/man.py): one source for both."""
    import shutil
    import subprocess
    import sys

    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "man.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    page = (ROOT / "docs" / "vmfleet.1").read_text()
    for name, _cmd in commands():
        assert f".SS vmfleet {name}".replace("-", "\\-") in page, name
    if shutil.which("groff"):
        out = subprocess.run(["groff", "-man", "-ww", "-z", str(ROOT / "docs" / "vmfleet.1")],
                             capture_output=True, text=True)
        assert out.returncode == 0 and out.stderr == "", out.stderr
