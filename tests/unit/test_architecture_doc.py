"""docs/architecture.md stays true: its layer table is one table, every module it names exists
and sits in the layer of its row (tests/unit/test_layers.py), and every module is in it."""

import fnmatch
import re
from pathlib import Path

from tests.unit.test_layers import LAYERS, layer_of

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "vmfleet"


def layer_table(text: str) -> list[tuple[str, list[str]]]:
    """(layer, module patterns) of each row of the table under '## Layers'; the table must be
    one block of '|' lines (a blank line ends a Markdown table: what follows is a paragraph)."""
    section = re.search(r"^## Layers\s*$(.*?)(?=^## |\Z)", text, re.M | re.S).group(1)
    lines = section.strip("\n").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| layer"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append(line)
    stray = [line for line in lines[start + len(block):] if line.startswith("|")]
    assert stray == [], f"table rows after a break in the layer table: {stray}"
    rows = []
    for line in block[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0], re.findall(r"`([^`]+\.py)`", cells[1])))
    return rows


def modules() -> list[str]:
    return sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
                  if p.name != "__init__.py" and "__pycache__" not in p.parts)


def dotted(path: str) -> str:
    return "vmfleet." + path.removesuffix(".py").replace("/", ".")


def test_every_module_named_exists_in_its_rows_layer_and_every_module_is_named():
    rows = layer_table((ROOT / "docs" / "architecture.md").read_text())
    assert len(rows) == len(LAYERS), [r[0] for r in rows]
    assert len({name for name, _ in rows}) == len(rows), "a layer has two rows"
    named: dict[str, int] = {}
    problems = []
    for i, (layer, patterns) in enumerate(rows):
        for pattern in patterns:
            hits = fnmatch.filter(modules(), pattern)
            if not hits:
                problems.append(f"{layer}: {pattern} does not exist")
            for module in hits:
                named[module] = i
                if layer_of(dotted(module)) != i:
                    problems.append(f"{layer}: {module} belongs to layer {layer_of(dotted(module))}")
    problems += [f"{m} is in no row" for m in modules() if m not in named]
    assert problems == []


def test_a_split_table_and_a_missing_module_are_found():
    text = ("## Layers\n\n| layer | modules | job |\n|---|---|---|\n| core | `errors.py` | x |\n\n"
            "| tools | `tools/run.py` | y |\n")
    try:
        layer_table(text)
    except AssertionError as e:
        assert "tools/run.py" in str(e)
    else:
        raise AssertionError("a table split by a blank line went unnoticed")
