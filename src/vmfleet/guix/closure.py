"""Every file Guix reads to build a config: the config, the modules it uses from the load path
(recursively), the files they ``include``/``load``, and every ``local-file``.

Guix's rules, as followed here (guix/gexp.scm, guix/ui.scm, guix/scripts/system.scm, Guile's
``include``/``load``/module search):

- a **literal** ``local-file`` name is relative to the directory of the file the form is
  written in (a module's own directory, an included file's directory); a **computed** name
  (``(string-append (dirname (current-filename)) "/x")``, a string ``define``d in the file) is
  resolved to its value, and if that is relative, against the directory guix runs in (the
  working directory); ``#:recursive? #t`` on a directory takes the whole tree;
- ``include`` and ``load`` are relative to the including file's directory;
- ``(use-modules (a b c))`` reads ``DIR/a/b/c.scm`` from the first ``-L DIR`` that has it;
  modules of Guix, Guile and the pinned channels come from the channels, not from disk.

Nothing is evaluated. A name vmfleet cannot compute is an :class:`Unresolved` warning (the
expression and its line): the generation is then recorded as "inputs incomplete", never
silently. Files are read through a ``files`` object (:class:`~vmfleet.guix.input_files.
DiskFiles` for ``add``, a git tree for ``import``), so both get the same closure.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from sexpdata import Symbol

from vmfleet.errors import SchemeError, UsageError
from vmfleet.guix.reader import Form, Keyword, _definitions, _is_string, _read, _walk, head, render

# Top-level module names that come from Guix, Guile or well-known channels (never from -L).
EXTERNAL_MODULE_ROOTS = frozenset({
    "gnu", "guix", "nongnu", "nonguix", "srfi", "ice-9", "rnrs", "oop", "sxml", "web", "json",
    "system", "language", "texinfo", "scheme", "gcrypt", "git", "ssh", "fibers", "shepherd",
    "zlib", "lzlib", "zstd", "sqlite3", "semver", "gnutls", "avahi", "bytestructures", "mcron",
    "htmlprag", "yaml", "statprof", "rde", "guix-science", "guix-hpc", "hpc",
})
_GUIX_USE_FORMS = ("use-service-modules", "use-package-modules", "use-system-modules")


@dataclass(frozen=True)
class Input:
    """One file a build reads. ``path`` is absolute and lexically normalised; ``written`` is
    the absolute name as the config writes it when it names one (materialised outside the
    build tree, see registry.generations)."""

    path: str
    role: str                 # config, module, include, load, local-file
    content: bytes
    mode: int = 0o644
    absolute: bool = False


@dataclass(frozen=True)
class Unresolved:
    """A file name vmfleet cannot compute without running Scheme."""

    file: str
    line: int | None
    expression: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: cannot tell which file {self.expression} reads"


@dataclass(frozen=True)
class Closure:
    config: str
    inputs: tuple[Input, ...]
    modules: tuple[str, ...]            # load-path modules, '(a b c)'
    warnings: tuple[Unresolved, ...]
    uses_cwd: bool                      # some computed relative name resolves against the cwd
    expression: str | None              # '(@ (a b) var)' when the config only defines its OS
    definitions: dict = field(default_factory=dict, hash=False)  # names the config can see


def module_text(name: tuple[str, ...]) -> str:
    return "(" + " ".join(name) + ")"


class _Gatherer:
    def __init__(self, files, config: str, load_path: list[str], cwd: str,
                 external_roots: frozenset[str]):
        self.files = files
        self.config = config
        self.load_path = load_path
        self.cwd = cwd
        self.external = EXTERNAL_MODULE_ROOTS | external_roots
        self.inputs: dict[str, Input] = {}
        self.modules: dict[str, str] = {}       # '(a b)' -> path
        self.warnings: list[Unresolved] = []
        self.uses_cwd = False
        self.forms: dict[str, list] = {}
        self.prefixed: dict[str, str] = {}      # config's prefix imports: module path -> prefix
        self.included: dict[str, list[str]] = {}  # file -> files it includes/loads

    # --- files -----------------------------------------------------------------------------
    def scheme(self, path: str, role: str) -> list | None:
        if path in self.forms:
            return None
        data = self.files.read(path, role if role != "config" else "config")
        text = scheme_text(data.content, path)
        self.inputs.setdefault(path, Input(path, role, data.content, data.mode))
        forms = _read(text, path)[0]
        self.forms[path] = forms
        return forms

    def add_file(self, path: str, role: str, absolute: bool) -> None:
        if path not in self.inputs:
            data = self.files.read(path, role)
            self.inputs[path] = Input(path, role, data.content, data.mode, absolute)

    # --- the walk ----------------------------------------------------------------------------
    def run(self) -> None:
        queue = [(self.config, "config")]
        while queue:
            path, role = queue.pop(0)
            forms = self.scheme(path, role)
            if forms is None:
                continue
            queue.extend(self.visit(path, forms))

    def visit(self, path: str, forms: list) -> list[tuple[str, str]]:
        here = posixpath.dirname(path)
        env = _definitions(forms)
        more: list[tuple[str, str]] = []
        for name, prefix, where in module_refs(forms):
            found = self.find_module(name)
            if found is None:
                if name[0] in self.external:
                    continue
                line = f":{where.line}" if getattr(where, "line", None) else ""
                raise UsageError(
                    f"{path}{line}: module {module_text(name)} is neither under the load path "
                    f"({', '.join(self.load_path) or 'no -L given'}) nor a Guix, Guile or "
                    "channel module",
                    f"pass -L DIR (repeatable), where DIR/{'/'.join(name)}.scm is the module's "
                    "file, as for 'guix system -L DIR'")
            self.modules.setdefault(module_text(name), found)
            if path == self.config and prefix:
                self.prefixed[found] = prefix
            more.append((found, "module"))
        for x in file_refs(forms):
            h = head(x)
            if h in _LOADERS:
                target = self.name_of(x, x[1], env, path, here)
                if target is None:
                    continue
                if h == "include-from-path":
                    target = self.on_load_path(target) or target
                role = "include" if h.startswith("include") else "load"
                more.append((target, role))
                self.included.setdefault(path, []).append(target)
            else:  # local-file
                target = self.name_of(x, x[1], env, path, here)
                if target is None:
                    continue
                literal_absolute = _is_string(x[1]) and x[1].startswith("/") or (
                    isinstance(x[1], Symbol) and _is_string(env.get(str(x[1])))
                    and env[str(x[1])].startswith("/"))
                self.local_file(target, _recursive(x), literal_absolute, render(x[1]), path)
        return more

    def name_of(self, form, arg, env, path, here) -> str | None:
        """The absolute file a name refers to, or None after recording a warning."""
        if _is_string(arg):
            return posixpath.normpath(posixpath.join(here, arg))
        value = evaluate_string(arg, env, path, here)
        if value is None:
            self.warnings.append(Unresolved(path, getattr(form, "line", None), render(form)))
            return None
        if not value.startswith("/"):
            self.uses_cwd = True
        return posixpath.normpath(posixpath.join(self.cwd, value))

    def local_file(self, target: str, recursive: bool, absolute: bool, written: str,
                   where: str) -> None:
        kind = self.files.kind(target)
        if kind is None:
            raise UsageError(f"{where}: local-file {written} not found (looked for {target})",
                             "create the file, or fix the path in the config")
        if kind == "dir":
            if not recursive:
                raise UsageError(f"local-file {target} is a directory",
                                 "add #:recursive? #t to take a whole directory, or name a file")
            for f in self.files.tree(target, "local-file"):
                self.add_file(f, "local-file", absolute)
            return
        self.add_file(target, "local-file", absolute)

    def find_module(self, name: tuple[str, ...]) -> str | None:
        rel = "/".join(name) + ".scm"
        for d in self.load_path:
            candidate = posixpath.join(d, rel)
            if self.files.kind(candidate) == "file":
                return candidate
        return None

    def on_load_path(self, rel: str) -> str | None:
        for d in self.load_path:
            candidate = posixpath.join(d, rel)
            if self.files.kind(candidate) == "file":
                return candidate
        return None

    # --- results -----------------------------------------------------------------------------
    def definitions(self) -> dict:
        """What the config can refer to: the closure's modules' definitions (prefixed where
        the config imports with ``#:prefix``), the files it includes, then its own."""
        env: dict = {}
        for path in self.modules.values():
            defs = _definitions(self.forms.get(path, []))
            prefix = self.prefixed.get(path)
            env.update(defs)
            if prefix:
                env.update({prefix + k: v for k, v in defs.items()})
        for path in self.included.get(self.config, []):
            env.update(_definitions(self.forms.get(path, [])))
        return env

    def expression(self) -> str | None:
        """``(@ (a b) var)`` when the config is a module whose last form only defines its OS."""
        forms = self.forms[self.config]
        if not forms or head(forms[0]) != "define-module" or len(forms[0]) < 2:
            return None
        if head(forms[-1]) not in ("define", "define-public"):
            return None
        name = _module_name(forms[0][1])
        if name is None:
            return None
        exported = _exports(forms[0])
        for f in reversed(forms):
            if head(f) in ("define", "define-public") and len(f) == 3 and isinstance(f[1], Symbol) \
                    and _defines_os(f[2]):
                var = str(f[1])
                if self.find_module(name) != self.config:
                    raise UsageError(
                        f"{self.config} is module {module_text(name)}, which only defines its "
                        f"operating-system ({var}); guix builds that only with -e and the "
                        "module on the load path",
                        f"pass -L DIR where DIR/{'/'.join(name)}.scm is this file")
                at = "@" if head(f) == "define-public" or var in exported else "@@"
                return f"({at} {module_text(name)} {var})"
        return None


def gather(files, config: str, *, load_path: list[str], cwd: str,
           external_roots=frozenset()) -> Closure:
    """The closure of ``config`` (absolute path); ``load_path`` and ``cwd`` absolute."""
    g = _Gatherer(files, config, load_path, cwd, frozenset(external_roots))
    g.run()
    inputs = list(g.inputs.values())
    return Closure(config, tuple(inputs), tuple(g.modules), tuple(g.warnings), g.uses_cwd,
                   g.expression(), g.definitions())


# Bytes in one Scheme file (config, module, include, channels file). Guix's largest module is
# 2.1 MB (gnu/packages/cran.scm@43770a9d8ac); a config is a few KB. Reading 10 MB took 5.9 s.
MAX_SCHEME_FILE = 4 << 20


def scheme_text(data: bytes, path: str) -> str:
    """A Scheme file's text: UTF-8 without NUL bytes, at most MAX_SCHEME_FILE bytes."""
    if len(data) > MAX_SCHEME_FILE:
        raise SchemeError(f"{path} is larger than {MAX_SCHEME_FILE >> 20} MiB: not a config "
                          "or module vmfleet records",
                          "a config is a few KB of Scheme and Guix's largest module 2 MiB; "
                          "keep data in local-files, not in the config")
    nul = data.find(b"\0")
    if nul >= 0:
        raise SchemeError(f"{path}: not UTF-8 Scheme text (a NUL byte at offset {nul})",
                          "give the path of a .scm text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SchemeError(f"{path}: not UTF-8 Scheme text (byte {e.start})",
                          "give the path of a .scm text file, saved as UTF-8") from None


_REFS: dict[int, tuple[list, list]] = {}


def module_refs(forms) -> list:
    """(module name, prefix or None, form) for every module a file uses (memoised per forms
    object: the reader caches forms by text, and a summary asks again for the same file)."""
    hit = _REFS.get(id(forms))
    if hit is not None and hit[0] is forms:
        return hit[1]
    refs = list(_module_refs(forms))
    if len(_REFS) >= 256:
        _REFS.pop(next(iter(_REFS)))
    _REFS[id(forms)] = (forms, refs)
    return refs


_LOADERS = ("include", "load", "include-from-path", "primitive-load")
_FILE_REFS: dict[int, tuple[list, list]] = {}


def file_refs(forms) -> list:
    """The ``include``/``load`` (one argument) and ``local-file`` (a name, maybe options)
    forms inside ``forms``, in reading order (memoised per forms object, as module_refs: a
    module's closure is gathered again at every commit that may have changed it)."""
    hit = _FILE_REFS.get(id(forms))
    if hit is not None and hit[0] is forms:
        return hit[1]
    refs = []
    for x in _walk(forms):
        h = head(x)
        if (h in _LOADERS and len(x) == 2) or (h == "local-file" and len(x) >= 2):
            refs.append(x)
    if len(_FILE_REFS) >= 256:
        _FILE_REFS.pop(next(iter(_FILE_REFS)))
    _FILE_REFS[id(forms)] = (forms, refs)
    return refs


def _module_refs(forms):
    for f in forms:
        h = head(f)
        if h == "define-module":
            args = f[2:]
            for i, a in enumerate(args):
                if isinstance(a, Keyword) and a.name in ("use-module", "autoload") \
                        and i + 1 < len(args):
                    spec = _spec(args[i + 1])
                    if spec:
                        yield spec[0], spec[1], f
        elif h == "use-modules":
            for a in f[1:]:
                spec = _spec(a)
                if spec:
                    yield spec[0], spec[1], f
    for x in _walk(forms):
        if head(x) in ("@", "@@") and len(x) == 3:
            name = _module_name(x[1])
            if name:
                yield name, None, x


def _spec(spec):
    name = _module_name(spec)
    if name:
        return name, None
    if isinstance(spec, list) and spec and _module_name(spec[0]):
        prefix = None
        for i, a in enumerate(spec[1:-1], start=1):
            if isinstance(a, Keyword) and a.name == "prefix":
                p = spec[i + 1]
                if head(p) == "quote" and len(p) == 2:
                    p = p[1]
                if isinstance(p, Symbol):
                    prefix = str(p)
        return _module_name(spec[0]), prefix
    return None


def _module_name(x) -> tuple[str, ...] | None:
    if isinstance(x, list) and x and all(isinstance(p, Symbol) for p in x):
        return tuple(str(p) for p in x)
    return None


def _exports(define_module) -> set[str]:
    out = set()
    args = define_module[2:]
    for i, a in enumerate(args):
        if isinstance(a, Keyword) and a.name in ("export", "public") and i + 1 < len(args) \
                and isinstance(args[i + 1], list):
            out |= {str(s) for s in args[i + 1] if isinstance(s, Symbol)}
    return out


def _defines_os(value) -> bool:
    return any(head(x) == "operating-system" for x in _walk(value))


def _recursive(form) -> bool:
    args = form[2:]
    return any(isinstance(a, Keyword) and a.name == "recursive?" and i + 1 < len(args)
               and args[i + 1] is True for i, a in enumerate(args))


def evaluate_string(expr, env, path: str, here: str, depth: int = 0) -> str | None:
    """The string value of the common computed file-name forms, or None."""
    if depth > 30:
        return None
    if _is_string(expr):
        return expr
    if isinstance(expr, Symbol):
        value = env.get(str(expr))
        return None if value is None else evaluate_string(value, env, path, here, depth + 1)
    h = head(expr)
    args = expr[1:] if h else []
    if h == "string-append":
        parts = [evaluate_string(a, env, path, here, depth + 1) for a in args]
        return None if any(p is None for p in parts) else "".join(parts)
    if h == "current-filename" and not args:
        return path
    if h == "current-source-directory" and not args:
        return here
    if h == "dirname" and len(args) == 1:
        v = evaluate_string(args[0], env, path, here, depth + 1)
        return None if v is None else posixpath.dirname(v.rstrip("/")) or "/"
    if h == "in-vicinity" and len(args) == 2:
        a, b = (evaluate_string(x, env, path, here, depth + 1) for x in args)
        return None if a is None or b is None else posixpath.join(a, b)
    if h == "canonicalize-path" and len(args) == 1:
        return evaluate_string(args[0], env, path, here, depth + 1)
    return None


__all__ = ["Closure", "Form", "Input", "Unresolved", "gather", "scheme_text", "module_refs",
           "evaluate_string", "module_text"]
