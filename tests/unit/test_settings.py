"""VMFLEET_* settings are read in one module (vmfleet.settings) and documented."""

import re
from pathlib import Path

import pytest

from vmfleet import settings

ROOT = Path(__file__).resolve().parents[2]


def test_no_other_module_reads_a_vmfleet_setting():
    readers = []
    for path in (ROOT / "src" / "vmfleet").rglob("*.py"):
        if path.name == "settings.py":
            continue
        if re.search(r"""environ(\.get)?[\[(]\s*["']VMFLEET_|getenv\(\s*["']VMFLEET_""", path.read_text()):
            readers.append(str(path.relative_to(ROOT)))
    assert not readers, f"read VMFLEET_* through vmfleet.settings instead: {readers}"


def setting_names_outside_settings() -> list[str]:
    """Modules naming a VMFLEET_* variable themselves (``os.environ.get(KILL_ENV)`` reads one
    as surely as ``os.environ.get("VMFLEET_KILL_AT")``)."""
    import ast

    found = []
    for path in sorted((ROOT / "src" / "vmfleet").rglob("*.py")):
        if path.name == "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and re.fullmatch(r"VMFLEET_[A-Z_]+", node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value}")
    return found


def test_no_other_module_names_a_vmfleet_setting():
    assert setting_names_outside_settings() == []


def test_every_setting_is_documented():
    reference = (ROOT / "docs" / "reference.md").read_text()
    assert [s for s in settings.ALL if s not in reference] == []


def test_empty_is_unset_and_unknown_names_are_refused(monkeypatch):
    monkeypatch.setenv(settings.GUIX, "")
    assert settings.get(settings.GUIX) is None
    monkeypatch.setenv(settings.SHUTDOWN_TIMEOUT, "soon")
    assert settings.shutdown_timeout(30) == 30
    monkeypatch.setenv(settings.SHUTDOWN_TIMEOUT, "2.5")
    assert settings.shutdown_timeout(30) == 2.5
    with pytest.raises(KeyError):
        settings.get("VMFLEET_NOSUCH")
