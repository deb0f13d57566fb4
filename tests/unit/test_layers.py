"""The architecture as a test: each module imports only from its own layer or lower ones.

docs/architecture.md describes these layers; a lower layer importing a higher one (even inside
a function, or through an ``importlib.import_module("vmfleet.…")`` string) fails here, and so
do an import cycle between modules or between packages, a use case importing another use case,
and a ``_private`` name used outside the module that defines it (publish it, or move it).
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
        elif (isinstance(node, ast.Call) and call_name(node) in DYNAMIC_IMPORTS
              and node.args and isinstance(node.args[0], ast.Constant)
              and str(node.args[0].value).startswith("vmfleet")):
            found.add(node.args[0].value)  # lazy("vmfleet.x"), importlib.import_module("vmfleet.x")
    return found


# Calls that import the module their first argument names: the CLI's lazy(), importlib's.
DYNAMIC_IMPORTS = {"lazy", "import_module", "__import__"}


def call_name(node: ast.Call) -> str | None:
    return getattr(node.func, "id", None) or getattr(node.func, "attr", None)


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
    assert cycles_in(graph) == []


def test_an_importlib_string_is_an_import():
    text = "import importlib\ndef f():\n    return importlib.import_module('vmfleet.fleet.apply')\n"
    assert upward_edges({"vmfleet.deploy.rollout": imports_in(text, "vmfleet.deploy.rollout")}) == [
        "vmfleet.deploy.rollout -> vmfleet.fleet.apply"]


def package_of(module: str) -> str:
    """vmfleet.deploy.rollout -> vmfleet.deploy; a top-level module is its own package."""
    parts = module.split(".")
    if len(parts) > 2 or (PKG.parent / module.replace(".", "/")).is_dir():
        return ".".join(parts[:2])
    return module


def cycles_in(graph: dict[str, set[str]]) -> list[str]:
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
    return sorted(set(cycles))


def package_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for me, imported in modules.items():
        mine = package_of(me)
        graph.setdefault(mine, set()).update(
            p for p in map(package_of, imported) if p != mine and p != "vmfleet")
    return graph


def test_no_import_cycles_between_packages():
    assert cycles_in(package_graph({module_name(p): imports_of(p) for p in all_modules()})) == []


def test_a_package_cycle_is_found():
    graph = package_graph({"vmfleet.deploy.a": {"vmfleet.diff.b"}, "vmfleet.diff.c": {"vmfleet.deploy.d"}})
    assert cycles_in(graph) == ["vmfleet.deploy -> vmfleet.diff -> vmfleet.deploy",
                                "vmfleet.diff -> vmfleet.deploy -> vmfleet.diff"]


USE_CASES = LAYERS[-2]


def use_case_of(module: str) -> str | None:
    return next((p for p in USE_CASES if module == p or module.startswith(p + ".")), None)


def use_case_edges(graph: dict[str, set[str]]) -> list[str]:
    """Use cases stand on the layers below them, never on another use case."""
    return [f"{me} -> {other}" for me, imported in sorted(graph.items()) for other in sorted(imported)
            if use_case_of(me) and use_case_of(other) and use_case_of(me) != use_case_of(other)]


def test_no_use_case_imports_another():
    assert use_case_edges({module_name(p): imports_of(p) for p in all_modules()}) == []


def test_a_use_case_importing_another_is_found():
    text = "from vmfleet import check\n"
    assert use_case_edges({"vmfleet.fleet.apply": imports_in(text, "vmfleet.fleet.apply")}) == [
        "vmfleet.fleet.apply -> vmfleet.check"]


def private_uses(text: str, module: str, is_pkg: bool = False) -> list[str]:
    """``_names`` this module takes from other vmfleet modules: imported by name, or read as an
    attribute of an imported vmfleet module."""
    tree = ast.parse(text)
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = resolve_from(node, module, is_pkg)
            if not source.startswith("vmfleet"):
                continue
            for a in node.names:
                if is_module(f"{source}.{a.name}"):
                    modules.add(a.asname or a.name)
                elif a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"{module}: {a.name} from {source}")
        elif isinstance(node, ast.Import):
            modules |= {a.asname for a in node.names if a.asname and a.name.startswith("vmfleet")}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in modules and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            found.append(f"{module}: {node.value.id}.{node.attr}")
    return found


def resolve_from(node: ast.ImportFrom, module: str, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    here = module.split(".")
    base = here if is_pkg else here[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def is_module(dotted: str) -> bool:
    path = PKG.parent / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


def test_no_private_name_is_used_outside_its_module():
    found = []
    for p in all_modules():
        found += private_uses(p.read_text(), module_name(p), p.name == "__init__.py")
    assert found == []


def test_a_private_name_taken_from_another_module_is_found():
    text = ("from vmfleet.deploy.lifecycle import _boot, deploy\n"
            "from vmfleet.guix import reader\n"
            "x = reader._definitions(1)\n")
    assert private_uses(text, "vmfleet.deploy.rollout") == [
        "vmfleet.deploy.rollout: _boot from vmfleet.deploy.lifecycle",
        "vmfleet.deploy.rollout: reader._definitions"]


# Imported by every command anyway: a function-local import of them saves nothing.
ALWAYS_LOADED = {"json", "vmfleet.errors"}


def needless_local_imports(text: str) -> list[str]:
    """Imports inside functions that save nothing: of a name the module imports at its top
    already, or of a module every command has loaded anyway."""
    def pairs(node):
        if isinstance(node, ast.Import):
            return {(a.name, None) for a in node.names}
        if isinstance(node, ast.ImportFrom) and not node.level:
            return {(node.module, a.name) for a in node.names}
        return set()

    tree = ast.parse(text)
    top = set().union(*(pairs(n) for n in tree.body))
    found = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                imported = pairs(node)
                if imported and (imported <= top or {m for m, _ in imported} <= ALWAYS_LOADED):
                    found.append(f"{node.lineno}: {', '.join(sorted(n or m for m, n in imported))}")
    return found


def test_no_function_local_import_that_saves_nothing():
    found = [f"{module_name(p)}:{hit}" for p in all_modules()
             for hit in needless_local_imports(p.read_text())]
    assert found == []
    text = "import os\nfrom vmfleet.x import y\ndef f():\n    import json\n    from vmfleet.x import y\n"
    assert needless_local_imports(text) == ["4: json", "5: y"]
