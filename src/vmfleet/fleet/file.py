"""The fleet file (``fleet.toml``): which VMs should run, of which system, on which host.

    [defaults]                      # optional; any VM key but name and system
    host = "hv1"

    vm = [
      { name = "web-1", system = "web",        host = "hv1", tags = ["front"] },
      { name = "db",    system = "db@2024-05", memory = "2G", health = "herd status postgres" },
    ]

(``[[vm]]`` tables work as well.) Everything is checked before anything runs, and every
mistake is reported at once with its line: tomllib gives no positions for values, so each VM
entry's line is found in the text by a small scanner that knows TOML's strings and comments.
``check_against`` then checks what only the registry knows (systems, generations, hosts).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vmfleet import units
from vmfleet.errors import UsageError, VmfleetError
from vmfleet.names import NAME_RE
from vmfleet.registry import generations
from vmfleet.registry import spec as spec_mod

VM_KEYS = ("name", "system", "host", "memory", "vcpus", "accel", "tags", "health")
DEFAULT_KEYS = ("host", "memory", "vcpus", "accel", "tags", "health")
TOP_KEYS = ("vm", "defaults")
MAX_FLEET_FILE = 1 << 20  # bytes: 10,000 VMs at ~100 bytes each; a larger file is a mistake
MAX_NESTING = 100         # tables and arrays inside each other: a fleet file needs 3
ACCELS = ("auto", "kvm", "tcg")
DEFAULT_MEMORY_MIB = 512
MAX_VCPUS = 256


@dataclass(frozen=True)
class VmDecl:
    """One declared VM."""

    name: str
    system: str              # the spec as written: 'web', 'web@2023-10', 'web@3'
    host: str
    memory_mib: int
    vcpus: int
    accel: str | None        # None: the setting ($VMFLEET_ACCEL, else auto)
    tags: tuple[str, ...]
    health: str | None       # a command run over SSH after boot; exit 0 = healthy
    line: int

    @property
    def system_name(self) -> str:
        return self.system.partition("@")[0]

    @property
    def pinned(self) -> bool:
        """Whether the spec names a generation (web@3) rather than following the newest."""
        return "@" in self.system and self.system.partition("@")[2] != "latest"


@dataclass(frozen=True)
class FleetFile:
    label: str               # where it came from: a path, or 'fleet.toml@3 (abc1234)'
    text: str
    vms: tuple[VmDecl, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def vm(self, name: str) -> VmDecl | None:
        return next((v for v in self.vms if v.name == name), None)


@dataclass(frozen=True)
class Problem:
    line: int | None
    message: str

    def render(self, label: str) -> str:
        return f"{label}:{self.line}: {self.message}" if self.line else f"{label}: {self.message}"


def parse(text: str, label: str = "fleet.toml") -> FleetFile:
    """Read and check a fleet file's text; UsageError lists every problem with its line."""
    if len(text) > MAX_FLEET_FILE:
        raise UsageError(f"{label} is larger than {MAX_FLEET_FILE >> 20} MiB", _TOO_LARGE_HINT)
    _check_nesting(text, label)
    try:
        data = tomllib.loads(text)
    except RecursionError:  # nesting hidden from the scanner (it knows strings and comments)
        raise UsageError(f"{label}: nested too deeply", _NESTING_HINT) from None
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        where = f"{label}:{m.group(1)}:{m.group(2)}" if m else label
        raise UsageError(f"{where}: not valid TOML: {re.sub(r' [(]at line.*', '', str(e))}",
                         "see docs/fleet-file.md for the format") from None
    lines = _Lines(text)
    problems: list[Problem] = []
    for key in data:
        if key not in TOP_KEYS:
            problems.append(Problem(lines.top_key(key), f"unknown key {key!r}" + _did_you_mean(
                key, TOP_KEYS) + " (the file has 'vm' entries and an optional [defaults] table)"))
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append(Problem(lines.top_key("defaults"), "'defaults' must be a table"))
        defaults = {}
    dline = lines.top_key("defaults")
    for key in defaults:
        if key == "vm":
            problems.append(Problem(lines.key_in("vm", dline, None) or dline,
                                    "'vm' is inside [defaults]: in TOML every key after a "
                                    "[table] header belongs to that table; put vm = [...] "
                                    "above [defaults]"))
        elif key not in DEFAULT_KEYS:
            problems.append(Problem(lines.key_in(key, dline, None) or dline,
                                    f"[defaults]: unknown key {key!r}"
                                    + _did_you_mean(key, DEFAULT_KEYS)
                                    + " (name and system belong to each VM)"))
    entries = data.get("vm", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(Problem(lines.top_key("vm"), "'vm' must be a list of tables, like "
                                "vm = [ { name = \"web-1\", system = \"web\" } ]"))
        entries = []
    if not entries and not problems:
        problems.append(Problem(None, "declares no VM"))
    starts = lines.vm_entries(len(entries))
    vms: list[VmDecl] = []
    first_line: dict[str, int] = {}
    for i, entry in enumerate(entries):
        start = starts[i] if i < len(starts) else None
        end = starts[i + 1] if i + 1 < len(starts) else None
        decl = _vm(entry, {k: v for k, v in defaults.items() if k in DEFAULT_KEYS}, start, end,
                   lines, problems, dline)
        name = entry.get("name")
        if isinstance(name, str):  # also when the entry has other problems: all at once
            if name in first_line:
                problems.append(Problem(start, f"duplicate VM name {name!r} (first at line "
                                        f"{first_line[name]})"))
                continue
            first_line[name] = start or 0
        if decl is not None:
            vms.append(decl)
    raise_problems(problems, label)
    return FleetFile(label, text, tuple(vms))


_NESTING_HINT = (f"a fleet file nests tables and arrays at most {MAX_NESTING} deep "
                 "(vm = [ { ... } ] is 2)")


def _check_nesting(text: str, label: str) -> None:
    """Refuse arrays and inline tables nested deeper than MAX_NESTING before tomllib, which
    recurses once per level (50,000 levels: RecursionError)."""
    depth = 0
    for line_no, line in enumerate(text.splitlines(), 1):
        for c in _code(line):
            if c in "[{":
                depth += 1
                if depth > MAX_NESTING:
                    raise UsageError(f"{label}:{line_no}: nested more than {MAX_NESTING} deep",
                                     _NESTING_HINT)
            elif c in "]}":
                depth = max(0, depth - 1)


def raise_problems(problems: Sequence[Problem], label: str) -> None:
    if not problems:
        return
    ordered = sorted(problems, key=lambda p: (p.line or 0))
    rendered = [p.render(label) for p in ordered]
    if len(rendered) == 1:
        raise UsageError(rendered[0], "fix the fleet file; nothing was changed")
    raise UsageError(f"{label} has {len(rendered)} problems", "fix the fleet file; nothing was "
                     "changed", details="\n".join(rendered))


def _vm(entry: dict, defaults: dict, start: int | None, end: int | None, lines: _Lines,
        problems: list[Problem], dline: int | None) -> VmDecl | None:
    before = len(problems)
    name = entry.get("name")
    who = f"vm {name!r}" if isinstance(name, str) else "vm"

    def at(key: str) -> int | None:
        if key in entry:
            return lines.key_in(key, start, end) or start
        return lines.key_in(key, dline, None) or dline or start

    def bad(key: str, message: str) -> None:
        if key not in entry and key in defaults:  # [defaults]' value: once, not once per VM
            problem = Problem(lines.key_in(key, dline, None) or dline, f"[defaults]: {message}")
            if problem not in problems:
                problems.append(problem)
            return
        problems.append(Problem(at(key), f"{who}: {message}"))

    for key in entry:
        if key not in VM_KEYS:
            problems.append(Problem(lines.key_in(key, start, end) or start,
                                    f"{who}: unknown key {key!r}" + _did_you_mean(key, VM_KEYS)))
    if not isinstance(name, str):
        problems.append(Problem(start, "a vm entry has no name (name = \"web-1\")"))
    elif not NAME_RE.match(name):
        bad("name", f"invalid VM name {name!r}: lowercase letters, digits and '-', at most 63")
    system = entry.get("system")
    if not isinstance(system, str):
        bad("system", "needs a system: system = \"web\" (or web@2023-10, web@3)")
    else:
        try:
            spec_mod.parse(system)
        except UsageError as e:
            bad("system", f"{e.message}; {e.hint}")
    merged = {**defaults, **entry}
    host = merged.get("host", "local")
    if not isinstance(host, str) or not NAME_RE.match(host):
        bad("host", f"invalid host name {host!r}")
    memory = _memory(merged.get("memory", DEFAULT_MEMORY_MIB))
    if memory is None:
        bad("memory", f"memory {merged.get('memory')!r} is not a size: write \"512M\", \"2G\" "
            "or a number of MiB")
    elif memory < 64:
        bad("memory", f"memory {memory} MiB is too small: give at least 64M")
    vcpus = merged.get("vcpus", 1)
    if isinstance(vcpus, bool) or not isinstance(vcpus, int) or not 1 <= vcpus <= MAX_VCPUS:
        bad("vcpus", f"vcpus {vcpus!r} must be a whole number from 1 to {MAX_VCPUS}")
    accel = merged.get("accel")
    if accel is not None and accel not in ACCELS:
        bad("accel", f"accel {accel!r} must be one of " + ", ".join(ACCELS))
    tags = merged.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and NAME_RE.match(t)
                                             for t in tags):
        bad("tags", f"tags {tags!r} must be a list of names like [\"front\", \"eu\"]")
        tags = []
    health = merged.get("health")
    if health is not None and (not isinstance(health, str) or not health.strip()
                               or "\n" in health or "\x00" in health):
        bad("health", f"health {health!r} must be one line of shell command, e.g. "
            "\"herd status nginx\"")
    if len(problems) > before:
        return None
    assert name is not None and system is not None and memory is not None  # else a problem
    return VmDecl(name=name, system=system, host=host, memory_mib=memory, vcpus=vcpus,
                  accel=accel, tags=tuple(tags), health=health.strip() if health else None,
                  line=start or 0)


def _memory(value) -> int | None:
    """'512M', '2G', '1.5G', '2048' or an integer (MiB) -> MiB; None when not a size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    try:  # the grammar every memory option has (a bare number counts in MiB)
        return units.parse_size(value, bare_unit="M") // 2**20
    except UsageError:
        return None


def _did_you_mean(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"


class _Lines:
    """Where things are in the text (1-based lines), for errors."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines()

    def top_key(self, key: str) -> int | None:
        pattern = re.compile(rf"^\s*(\[\[?\s*{re.escape(key)}\s*\]\]?|{re.escape(key)}\s*=)")
        for i, line in enumerate(self.lines, 1):
            if pattern.match(line):
                return i
        return None

    def key_in(self, key: str, start: int | None, end: int | None) -> int | None:
        """The line of ``key = ...`` from line ``start`` up to (not including) ``end``."""
        if start is None:
            return None
        pattern = re.compile(rf"(^|[{{,\s]){re.escape(key)}\s*=")
        stop = end if end is not None else len(self.lines) + 1
        for i in range(start, stop):
            if i - 1 < len(self.lines) and pattern.search(_code(self.lines[i - 1])):
                return i
        return None

    def vm_entries(self, count: int) -> list[int]:
        """The line where each vm entry begins: ``[[vm]]`` headers, else each inline table of
        the ``vm = [...]`` array."""
        headers = [i for i, line in enumerate(self.lines, 1)
                   if re.match(r"^\s*\[\[\s*vm\s*\]\]", line)]
        if headers:
            return headers
        m = re.search(r"(?m)^\s*vm\s*=\s*\[", self.text)
        if not m:
            return []
        return _inline_tables(self.text, m.end())[:count]


def _code(line: str) -> str:
    """A line without its comment and string contents (so '#' or 'x =' in a string is ignored)."""
    out, quote, i = [], None, 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = None
                out.append(c)
        elif c in "\"'":
            quote = c
            out.append(c)
        elif c == "#":
            break
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _inline_tables(text: str, pos: int) -> list[int]:
    """Lines of the ``{`` that open each element of the array starting just before ``pos``."""
    line = text.count("\n", 0, pos) + 1
    depth, braces, found = 1, 0, []
    i = pos
    while i < len(text) and depth > 0:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif c in "\"'":
            triple = text[i:i + 3] == c * 3
            close = c * 3 if triple else c
            j = i + len(close)
            while j < len(text) and text[j:j + len(close)] != close:
                if c == '"' and text[j] == "\\":
                    j += 1
                j += 1
            line += text.count("\n", i, j)
            i = j + len(close)
            continue
        elif c == "{":
            if braces == 0 and depth == 1:
                found.append(line)
            braces += 1
        elif c == "}":
            braces -= 1
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        i += 1
    return found


def read(path) -> FleetFile:
    """The fleet file at ``path``: a regular UTF-8 file of at most MAX_FLEET_FILE bytes (a FIFO
    or device is refused at once, a link may not lead out of its folder)."""
    from vmfleet.guix import input_files

    limits = input_files.Limits(MAX_FLEET_FILE, MAX_FLEET_FILE, _TOO_LARGE_HINT)
    if not os.path.lexists(path):
        raise UsageError(f"no fleet file at {path}", "write one (see systems/fleet.toml), or "
                         "give its path with --file")
    data = input_files.read_one(path, "fleet file", limits)
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        raise UsageError(f"cannot read {path}: not UTF-8 text (byte {e.start})",
                         "give a readable UTF-8 text file") from None
    return parse(text, str(path))


_TOO_LARGE_HINT = ("a fleet file declares VMs in a few lines each; split the fleet, or drop "
                   "what is not a VM declaration")


# --- what only the registry knows ---------------------------------------------------------------

def check_against(reg, fleet: FleetFile, host_names: Iterable[str]) -> None:
    """Unknown systems, generations that do not exist and unknown hosts, with their lines."""
    known_systems = generations.systems_with_generations(reg)
    hosts = set(host_names)
    problems = []
    for vm in fleet.vms:
        if vm.system_name not in known_systems:
            problems.append(Problem(vm.line, f"vm {vm.name!r}: unknown system "
                                    f"{vm.system_name!r}" + _did_you_mean(
                                        vm.system_name, sorted(known_systems) or ["-"])))
        elif vm.pinned:
            try:
                spec_mod.resolve(reg, vm.system)
            except VmfleetError as e:
                problems.append(Problem(vm.line, f"vm {vm.name!r}: {e.message}"
                                        + (f" ({e.hint})" if e.hint else "")))
        if vm.host not in hosts:
            problems.append(Problem(vm.line, f"vm {vm.name!r}: unknown host {vm.host!r}"
                                    + _did_you_mean(vm.host, sorted(hosts))
                                    + f"; add it: vmfleet host add {vm.host} URI"))
    raise_problems(problems, fleet.label)


def select(fleet: FleetFile, on: Sequence[str]) -> tuple[set[str], set[str]]:
    """``--on`` selectors (``@tag`` or a VM name, comma-separated or repeated) -> (names of the
    fleet VMs selected, plain names given). An unknown tag or name is an error."""
    names: set[str] = set()
    plain: set[str] = set()
    tags = {t for v in fleet.vms for t in v.tags}
    for item in (s.strip() for text in on for s in text.split(",")):
        if not item:
            continue
        if item.startswith("@"):
            tag = item[1:]
            if tag not in tags:
                raise UsageError(f"--on {item}: no VM has the tag {tag!r}",
                                 "tags in the fleet: " + (", ".join(sorted(tags)) or "none"))
            names |= {v.name for v in fleet.vms if tag in v.tags}
        else:
            plain.add(item)
            if fleet.vm(item) is not None:
                names.add(item)
    return names, plain
