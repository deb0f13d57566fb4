"""Linters run as tests: ruff over the package, the tests and the benchmarks."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: run scripts/setup.sh")
    proc = subprocess.run([ruff, "check", "src", "tests", "bench"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# Modules whose every error must come with a hint (the CLI prints it as 'hint: ...').
HINTED_MODULES = (*sorted(str(p.relative_to(ROOT / "src" / "vmfleet"))
                           for p in (ROOT / "src" / "vmfleet" / "deploy").glob("*.py")),
                  "inspect/ext4.py", "tools/ssh.py")


def test_errors_raised_in_these_modules_name_a_fix():
    import ast

    import vmfleet.errors as errors

    kinds = {name for name, value in vars(errors).items()
             if isinstance(value, type) and issubclass(value, errors.VmfleetError)}
    missing = []
    for module in HINTED_MODULES:
        path = ROOT / "src" / "vmfleet" / module
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in kinds):
                continue
            hint = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "hint"), None)
            if hint is None or (isinstance(hint, ast.Constant) and not hint.value):
                missing.append(f"{module}:{node.lineno} {node.func.id}")
    assert missing == [], "errors without a hint: " + ", ".join(missing)


def test_no_empty_section_header():
    """A '# --- name ---' header is followed by what it names (two blank lines at most)."""
    import re

    found = []
    for path in sorted((ROOT / "src" / "vmfleet").rglob("*.py")):
        text = path.read_text()
        for m in re.finditer(r"^# ---[^\n]*\n([ \t]*\n){3,}|^# ---[^\n]*\n\s*(?=^# ---|\Z)", text, re.M):
            found.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}")
    assert found == []


def test_who_acts_is_decided_in_one_place():
    """The user an audit entry names ($SUDO_USER, else the login) is one function's answer."""
    found = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "src" / "vmfleet").rglob("*.py"))
             if "SUDO_USER" in p.read_text()]
    assert found == ["src/vmfleet/deploy/vm_records.py"]
