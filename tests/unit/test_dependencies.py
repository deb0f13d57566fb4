"""Pinned dependencies: every package vmfleet and its tests install is pinned in constraints.txt,
set-up installs with it, and the running environment is the pinned one (help text, table
layout and the type checker's verdict all depend on these versions)."""

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            found[canonical(name)] = version.strip()
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_of(dist: str, extras: tuple[str, ...] = ()) -> set[str]:
    """The distributions ``dist`` (with ``extras``) needs, transitively, in this environment."""
    seen, todo = set(), [(dist, extras)]
    while todo:
        name, wanted = todo.pop()
        for text in metadata.requires(name) or ():
            req = Requirement(text)
            envs = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker and not any(req.marker.evaluate(env) for env in envs):
                continue
            key = canonical(req.name)
            if key not in seen:
                seen.add(key)
                todo.append((req.name, tuple(req.extras)))
    return seen


def test_every_dependency_is_pinned_at_the_installed_version():
    pinned = pins()
    needed = requirements_of("vmfleet", ("test",))
    assert {"typer", "mypy"} <= needed and {"typer", "click"} <= pinned.keys()
    unpinned = sorted(needed - pinned.keys())
    assert unpinned == [], f"add to constraints.txt: {unpinned}"
    differs = {n: (metadata.version(n), pinned[n]) for n in needed
               if metadata.version(n) != pinned[n]}
    assert differs == {}, f"installed != pinned (run scripts/setup.sh): {differs}"


def test_setup_installs_with_the_constraints():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    installs = [line for line in setup.splitlines() if "pip install" in line]
    assert installs and all("-c constraints.txt" in line for line in installs), installs
    assert "constraints.txt -nt" in setup  # a changed pin reinstalls


def test_the_package_says_it_is_typed():
    assert (ROOT / "src" / "vmfleet" / "py.typed").is_file()
    assert 'vmfleet = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()
