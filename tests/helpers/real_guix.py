"""The real-Guix tier's plumbing (tests/realguix): where the Guix built by scripts/real-guix.sh is, its daemon, and
running one argv of vmfleet's own builder against it and against the stand-in at the same revision.

The real guix replaces ``guix time-machine -C CHANNELS --`` through the documented setting
``VMFLEET_GUIX_PINNED`` (docs/reference.md): the built tree *is* the pinned revision. Offline,
evaluation must not try to build or download: ``GUIX_BUILD_OPTIONS`` (read by every build
command, guix/scripts/build.scm ``environment-build-options``) adds ``--no-grafts`` (a graft
needs the ungrafted outputs' references, i.e. a build) and ``--no-substitutes``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import corpus
from vmfleet.guix import command

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standin" / "bin" / "guix"
# --localstatedir=/var; clients and the daemon take another from GUIX_DAEMON_SOCKET (guix/store.scm)
DAEMON_SOCKET = Path(os.environ.get("GUIX_DAEMON_SOCKET") or "/var/guix/daemon-socket/socket")
OFFLINE_OPTIONS = "--no-grafts --no-substitutes --no-offload"
TIMEOUT = 600   # one evaluation; a few seconds normally, minutes on a loaded 2-core machine


@dataclass(frozen=True)
class BuiltGuix:
    tree: Path          # the built source tree (has pre-inst-env)
    commit: str         # the revision it was built from

    @property
    def guix(self) -> str:
        return f"{self.tree / 'pre-inst-env'} guix"


def cache_root() -> Path:
    return Path(os.environ.get("VMFLEET_GUIX_CACHE") or Path.home() / ".cache" / "vmfleet-real-guix")


def find_built() -> BuiltGuix | None:
    """$VMFLEET_REAL_GUIX (a built tree in the cache, named CACHE/COMMIT/src), else the newest
    finished build in the cache; None when there is none."""
    named = os.environ.get("VMFLEET_REAL_GUIX")
    trees = [Path(named)] if named else sorted(
        (p.parent / "src" for p in cache_root().glob("*/built")), key=lambda t: t.stat().st_mtime)
    for tree in reversed(trees):
        if (tree / "pre-inst-env").is_file() and (tree.parent / "built").is_file():
            return BuiltGuix(tree, tree.parent.name)
    return None


def daemon_answers() -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(DAEMON_SOCKET))
            return True
        except OSError:
            return False


@contextlib.contextmanager
def daemon(built: BuiltGuix) -> Iterator[int | None]:
    """The built Guix's daemon: the one already answering (scripts/real-guix.sh started it), or
    one started here (build users must exist) and stopped by its PID at the end."""
    if daemon_answers():
        yield None
        return
    proc = subprocess.Popen([str(built.tree / "pre-inst-env"), "guix-daemon",
                             "--build-users-group=guixbuild", "--disable-chroot"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not daemon_answers():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("guix-daemon did not start: run scripts/real-guix.sh, which "
                                   "creates the guixbuild group and build users")
            time.sleep(0.2)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def failure(self) -> command.Failure | None:
        return None if self.ok else command.parse_error(self.stderr).kind

    @property
    def message(self) -> str:
        return "" if self.ok else command.parse_error(self.stderr).message


@contextlib.contextmanager
def settings_env(values: dict[str, str | None]) -> Iterator[None]:
    """vmfleet reads its settings when an argv is built: set them for that moment."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Side:
    """One guix (real or stand-in) as vmfleet runs it: its settings and extra environment."""

    def __init__(self, name: str, settings: dict[str, str | None], env: dict[str, str],
                 fresh_cache: bool = False):
        self.name, self.settings, self.env, self.fresh_cache = name, settings, env, fresh_cache

    def argv(self, build) -> list[str]:
        with settings_env(self.settings):
            return build()

    def run(self, argv: list[str], cwd: Path, timeout: float = TIMEOUT) -> Run:
        """One run; with ``fresh_cache`` (the real guix) a cache of its own each time: Guile
        loads a module an earlier run compiled into ~/.cache/guile even with -e, and would name
        it as compiled (docs/guix-facts.md L2-L4), so one run's result must not depend on
        another's."""
        with contextlib.ExitStack() as stack:
            extra = {"XDG_CACHE_HOME": stack.enter_context(tempfile.TemporaryDirectory(
                prefix="vmfleet-realguix-cache-"))} if self.fresh_cache else {}
            env = command.guix_environment({**os.environ, **self.env, **extra})
            p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, errors="replace",
                               timeout=timeout, stdin=subprocess.DEVNULL)
        return Run(argv, p.returncode, p.stdout, p.stderr)

    def evaluate(self, channels: Path, config: str | None, cwd: Path, *, load_path=(),
                 expression: str | None = None, extra: tuple[str, ...] = (),
                 image_type: str = "qcow2") -> Run:
        """``system image -t TYPE -d`` as vmfleet's builder writes it (image_command)."""
        argv = self.argv(lambda: command.image_command(
            str(channels), config, derivation=True, load_path=tuple(load_path), expression=expression,
            image_type=image_type))
        at = argv.index("-d") + 1
        return self.run([*argv[:at], *extra, *argv[at:]], cwd)

    def references(self, item: str) -> Run:
        return self.run(self.argv(lambda: command.references_command(item)), ROOT)

    def requisites(self, item: str) -> Run:
        """``guix gc -R ITEM``: the whole closure (vmfleet's ``gc --references`` argv, -R for it)."""
        argv = self.argv(lambda: command.references_command(item))
        return self.run([*argv[:-2], "-R", item], ROOT)


def real_side(built: BuiltGuix) -> Side:
    return Side("real", {"VMFLEET_GUIX_PINNED": built.guix, "VMFLEET_GUIX": built.guix},
                {"GUIX_BUILD_OPTIONS": OFFLINE_OPTIONS}, fresh_cache=True)


def standin_side(store: Path) -> Side:
    return Side("stand-in", {"VMFLEET_GUIX_PINNED": None, "VMFLEET_GUIX": str(STANDIN)},
                {"VMFLEET_STANDIN_STORE": str(store), "XDG_CACHE_HOME": str(store.parent / "xdg")})


def pinned_channels(dest: Path, commit: str) -> Path:
    """systems/channels.scm (with its introduction) pinned at COMMIT: the stand-in's revision."""
    text = (ROOT / "systems" / "channels.scm").read_text()
    text, n = re.subn(r'\(commit\s+"[0-9a-f]{40}"\)', f'(commit "{commit}")', text)
    assert n == 1, "systems/channels.scm has no single (commit …) to pin"
    dest.write_text(text)
    return dest


def table(rows: list[tuple], header: tuple) -> str:
    cells = [tuple(str(c) for c in header), *[tuple(str(c) for c in r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


# --- the configs the tier evaluates ------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str                    # as the table shows it
    cwd: Path
    config: str | None           # relative to cwd; None with an expression
    file: str = ""               # the config file, relative to cwd (also with an expression)
    load_path: tuple[str, ...] = ()
    expression: str | None = None
    kind: str = "os"             # the manifest's kind: os, module-os, not-os, malformed
    allow_outside: tuple[str, ...] = ()   # what vmfleet may read outside cwd (--allow-outside)


def all_cases(corpus_dir: Path) -> list[Case]:
    systems = ROOT / "systems"
    fleet = systems / "fleet-repo"
    cases = [Case(f"systems/{n}", systems, n, n) for n in ("web.scm", "db.scm")]
    # (base.scm's local-file "../../../vmfleet.pub" is systems/vmfleet.pub, outside the repository)
    cases += [Case(f"systems/fleet-repo/acme/systems/{n}", fleet, f"acme/systems/{n}", f"acme/systems/{n}",
                   (".",), allow_outside=(str(systems),)) for n in ("web.scm", "db.scm")]
    manifest = tomllib.loads((corpus.CORPUS / "manifest.toml").read_text())
    for c in manifest["config"]:
        cwd = corpus_dir / c["cwd"]
        expression = c.get("expression")
        file = os.path.relpath(corpus_dir / c["path"], cwd)
        # -L as vmfleet's builder gives it: absolute with -e, else as recorded (build/builds.py)
        load_path = tuple(str(corpus_dir / d) if expression else os.path.relpath(corpus_dir / d, cwd)
                          for d in c["load_path"])
        cases.append(Case(f"tests/corpus/{c['path']}", cwd, None if expression else file, file, load_path,
                          expression, c["kind"]))
    return cases
