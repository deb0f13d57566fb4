"""The architecture as a test: each module imports only from its own layer or lower ones.

docs/architecture.md describes these layers; a lower layer importing a higher one (even inside
a function) fails here, and so does an import cycle between packages of the same layer.
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "src" / "vmfleet"

# Lowest first. A module belongs to the first entry that is a prefix of its dotted name.
LAYERS = (
    ("vmfleet.errors", "vmfleet.home", "vmfleet.names", "vmfleet.timeutil", "vmfleet.settings",
     "vmfleet.units"),
    ("vmfleet.tools",),
    ("vmfleet.guix",),
    ("vmfleet.registry",),
    ("vmfleet.build",),
    ("vmfleet.inspect",),
    ("vmfleet.deploy",),
    ("vmfleet.diff",),
    ("vmfleet.check", "vmfleet.adopt", "vmfleet.fleet", "vmfleet.schedule", "vmfleet.report"),
    ("vmfleet.cli", "vmfleet.__main__"),
)


def layer_of(module: str) -> int | None:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py")


def imports_in(text: str, module: str, is_pkg: bool = False) -> set[str]:
    """Every vmfleet module a file imports, at any depth (function-local imports included)."""
    here = module.split(".")
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("vmfleet")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            if not mod.startswith("vmfleet"):
                continue
            for a in node.names:  # `from vmfleet.x import y` may name a module y
                sub = f"{mod}.{a.name}"
                found.add(sub if (PKG.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                          or (PKG.parent / sub.replace(".", "/")).is_dir() else mod)
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy"
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(node.args[0].value)  # the CLI's lazy("vmfleet.x") imports
    return found


def all_modules():
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_has_a_layer():
    assert [module_name(p) for p in all_modules() if layer_of(module_name(p)) is None] == ["vmfleet"]


def upward_edges(graph: dict[str, set[str]]) -> list[str]:
    upward = []
    for me, imported in sorted(graph.items()):
        mine = layer_of(me)
        for other in sorted(imported):
            theirs = layer_of(other)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{me} -> {other}")
    return upward


def test_no_module_imports_a_higher_layer():
    assert upward_edges({module_name(p): imports_of(p) for p in all_modules()}) == []


def test_an_upward_import_inside_a_function_is_found():
    text = "def f():\n    from vmfleet.deploy import lifecycle\n"
    assert upward_edges({"vmfleet.build.builds": imports_in(text, "vmfleet.build.builds")}) == [
        "vmfleet.build.builds -> vmfleet.deploy.lifecycle"]


def test_no_import_cycles_between_modules():
    graph = {module_name(p): {m for m in imports_of(p) if m != module_name(p)} for p in all_modules()}
    cycles = []

    def visit(node, stack, seen):
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, [*stack, nxt], seen)

    for start in graph:
        visit(start, [start], {start})
    assert sorted(set(cycles)) == []
