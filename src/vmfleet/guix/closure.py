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
  modules of Guix, Guile and the pinned channels come from the channels, not from disk
  (guix/channel_modules.py decides which; a module nothing provides is refused, as guix fails
  with ``no code for module``);
- modules a gexp imports (``with-imported-modules``, ``#:imported-modules``, ``#:modules``,
  a quoted list after ``#:module``/``#:modules``) are read from the load path too, when
  lowered: those on ``-L`` are inputs; a list vmfleet cannot read is a warning;
- a file read while the config is evaluated (``call-with-input-file``, ``open-input-file``,
  ``with-input-from-file``) is an input (role ``read``); a relative name opens against the
  directory guix runs in, as Guile's ports do.

Nothing is evaluated. A name vmfleet cannot compute is an :class:`Unresolved` warning (the
expression and its line): the generation is then recorded as "inputs incomplete", never
silently. Files are read through a ``files`` object (:class:`~vmfleet.guix.input_files.
DiskFiles` for ``add``, a git tree for ``import``), so both get the same closure.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from sexpdata import Symbol

from vmfleet.errors import SchemeError, UsageError
from vmfleet.guix import reader, walker
from vmfleet.guix.channel_modules import Providers
from vmfleet.guix.reader import Form, Keyword, render
from vmfleet.guix.walker import head

_GUIX_USE_FORMS = ("use-service-modules", "use-package-modules", "use-system-modules")


@dataclass(frozen=True)
class Input:
    """One file a build reads. ``path`` is absolute and lexically normalised; ``written`` is
    the absolute name as the config writes it when it names one (materialised outside the
    build tree, see registry.generations)."""

    path: str
    role: str                 # config, module, include, load, local-file, read
    content: bytes
    mode: int = 0o644
    absolute: bool = False


@dataclass(frozen=True)
class Unresolved:
    """A file name vmfleet cannot compute without running Scheme."""

    file: str
    line: int | None
    expression: str
    reason: str = ""        # why, when vmfleet knows Guix cannot tell either

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: cannot tell which file {self.expression} reads" + (
            f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class Unverified:
    """A module taken to be a pinned channel's without its module tree at hand."""

    file: str
    line: int | None
    module: str
    channels: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (f"{where}: module {self.module} is provided by a pinned channel (not verified: "
                f"no clone of {self.channels})")


@dataclass(frozen=True)
class Closure:
    config: str
    inputs: tuple[Input, ...]
    modules: tuple[str, ...]            # load-path modules, '(a b c)'
    warnings: tuple[Unresolved, ...]
    uses_cwd: bool                      # some computed relative name resolves against the cwd
    expression: str | None              # '(@ (a b) var)' when the config only defines its OS
    definitions: dict = field(default_factory=dict, hash=False)  # names the config can see
    unverified: tuple[Unverified, ...] = ()  # modules assumed to be a pinned channel's


def module_text(name: tuple[str, ...]) -> str:
    return "(" + " ".join(name) + ")"


class _Gatherer:
    def __init__(self, files, config: str, load_path: list[str], cwd: str,
                 providers: Providers, variable: str | None = None):
        self.files = files
        self.config = config
        self.load_path = load_path
        self.cwd = cwd
        self.providers = providers
        self.variable = variable
        self.unverified: dict[str, Unverified] = {}
        self.pending: list[tuple[str, str, object]] = []   # (variable, file, form)
        self.inputs: dict[str, Input] = {}
        self.modules: dict[str, str] = {}       # '(a b)' -> path
        self.warnings: list[Unresolved] = []
        self.uses_cwd = False
        self.forms: dict[str, list] = {}
        self.prefixed: dict[str, str] = {}      # config's prefix imports: module path -> prefix
        self.included: dict[str, list[str]] = {}  # file -> files it includes/loads
        self.filenames: dict[str, str | None] = {}  # file -> Guile's (current-filename) there

    # --- files -----------------------------------------------------------------------------
    def scheme(self, path: str, role: str) -> list | None:
        if path in self.forms:
            return None
        data = self.files.read(path, role if role != "config" else "config")
        text = decoded(data.content, path)
        self.inputs.setdefault(path, Input(path, role, data.content, data.mode))
        forms = reader.read_cached(text, path)[0]
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
            while queue:
                path, role = queue.pop(0)
                forms = self.scheme(path, role)
                if forms is None:
                    continue
                queue.extend(self.visit(path, forms))
            queue.extend(self.settle_pending())

    def settle_pending(self) -> list[tuple[str, str]]:
        """Module lists named by a variable another file of the closure defines; a name no
        file of the closure defines comes from Guix or a channel, whose lists name their own
        modules."""
        pending, self.pending = self.pending, []
        more = []
        for symbol, path, form in pending:
            for forms in list(self.forms.values()):
                defs = own_definitions(forms)
                if symbol in defs:
                    for name, where in _module_list(defs[symbol], defs, form):
                        more.extend(self.gexp_module(name, path, where))
                    break
        return more

    def gexp_module(self, name, path, where) -> list[tuple[str, str]]:
        if name is None:
            self.warnings.append(Unresolved(path, getattr(where, "line", None), str(where)))
            return []
        if name[0] == "?":
            self.pending.append((name[1], path, where))
            return []
        found = self.find_module(name)
        if found is None:
            if not self.from_channels(name, path, where):
                self.warnings.append(Unresolved(path, getattr(where, "line", None),
                                                f"{where} (module {module_text(name)} "
                                                "is on no load path)"))
            return []
        self.modules.setdefault(module_text(name), found)
        return [(found, "module")]

    def visit(self, path: str, forms: list) -> list[tuple[str, str]]:
        here = posixpath.dirname(path)
        env = own_definitions(forms)
        more: list[tuple[str, str]] = []
        for name, prefix, where in module_refs(forms):
            found = self.find_module(name)
            if found is None:
                if self.from_channels(name, path, where):
                    continue
                line = f":{where.line}" if getattr(where, "line", None) else ""
                raise UsageError(
                    f"{path}{line}: no code for module {module_text(name)}: it is neither under "
                    f"the load path ({', '.join(self.load_path) or 'no -L given'}) nor in Guix, "
                    f"Guile or a pinned channel ({self.providers.describe()})",
                    f"pass -L DIR (repeatable), where DIR/{'/'.join(name)}.scm is the module's "
                    "file, as for 'guix system -L DIR'; or pin the channel that provides it "
                    "(and --channel-repo NAME=DIR to check it)")
            self.modules.setdefault(module_text(name), found)
            if path == self.config and prefix:
                self.prefixed[found] = prefix
            more.append((found, "module"))
        for name, where in gexp_module_refs(forms, env):
            more.extend(self.gexp_module(name, path, where))
        for x in read_refs(forms):
            target = self.read_name(x, env, path, here)
            try:
                kind = self.files.kind(target) if target is not None else None
            except UsageError:   # a file outside what vmfleet may read: say so, not refuse
                kind = None
            if target is not None and kind == "file":
                self.add_file(target, "read", walker.is_string(x[1]) and x[1].startswith("/"))
            elif target is not None:
                self.warnings.append(Unresolved(path, getattr(x, "line", None),
                                                f"{render(x)} (no file {target})"))
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
                literal_absolute = walker.is_string(x[1]) and x[1].startswith("/") or (
                    isinstance(x[1], Symbol) and walker.is_string(env.get(str(x[1])))
                    and env[str(x[1])].startswith("/"))
                self.local_file(target, _recursive(x), literal_absolute, render(x[1]), path)
        return more

    def name_of(self, form, arg, env, path, here) -> str | None:
        """The absolute file a name refers to, or None after recording a warning."""
        if walker.is_string(arg):
            return posixpath.normpath(posixpath.join(here, arg))
        return self.computed_name(form, arg, env, path, here)

    def read_name(self, form, env, path, here) -> str | None:
        """The file a port-opening call reads: relative names against the cwd."""
        return self.computed_name(form, form[1], env, path, here)

    def computed_name(self, form, arg, env, path, here) -> str | None:
        """A computed name, relative ones against the cwd; None after recording a warning,
        which says so when the name is lost to Guile's ``(current-filename)`` being #f."""
        filename = self.current_filename(path)
        value = evaluate_string(arg, env, filename, here)
        if value is None:
            reason = ""
            if filename is None and evaluate_string(arg, env, path, here) is not None:
                reason = (f"(current-filename) is #f there: while guix loads a config file, Guile "
                          f"names this one {self.port_name(path)}, relative to its -L directory, "
                          f"which is no file from {self.cwd}; use (current-source-directory) "
                          "from (guix utils)")
            self.warnings.append(Unresolved(path, getattr(form, "line", None), render(form), reason))
            return None
        if not value.startswith("/"):
            self.uses_cwd = True
        return posixpath.normpath(posixpath.join(self.cwd, value))

    # --- what Guile calls a file -------------------------------------------------------------
    def port_name(self, path: str) -> str:
        """The name Guile gives a file. While guix loads a config file (load*,
        guix/ui.scm@8e2f32cee98:233), Guile's load names each file it reads relative to the
        first %load-path entry holding it (Guile 3.0.8 ice-9/boot-9.scm:4395-4396; the order is
        on_load_path's). With -e no file is loaded that way, and vmfleet's -e builds give -L
        absolute (build/builds.py), so a module is named by its absolute name."""
        if self.built_by_expression() is None:
            for d in reversed(self.load_path):
                base = d.rstrip("/")
                if path.startswith(base + "/"):
                    return path[len(base) + 1:]
        return path

    def current_filename(self, path: str) -> str | None:
        """Guile's ``(current-filename)``: ``canonicalize-path`` of the file's name against the
        directory guix runs in; #f (None) when that is no file (Guile 3.0.8
        ice-9/boot-9.scm:690-696). So in a config file's load a module under ``-L src`` gets #f
        unless guix runs in src; Guix's ``current-source-directory`` searches %load-path instead
        (guix/utils.scm@8e2f32cee98:1060-1093)."""
        if path not in self.filenames:      # once per file, however many names it computes
            name = self.port_name(path)
            full = posixpath.normpath(posixpath.join(self.cwd, name))
            try:
                self.filenames[path] = name if name.startswith("/") else (
                    full if self.files.kind(full) == "file" else None)
            except UsageError:
                self.filenames[path] = None
        return self.filenames[path]

    def from_channels(self, name: tuple[str, ...], path: str, where) -> bool:
        """Whether Guile, Guix or a pinned channel provides ``name`` (an unverified channel
        is remembered, to be said)."""
        source = self.providers.source(name)
        if source is None:
            return False
        if not source.verified:
            text = module_text(name)
            self.unverified.setdefault(text, Unverified(path, getattr(where, "line", None), text,
                                                        source.provider))
        return True

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
        return self.on_load_path("/".join(name) + ".scm")

    def on_load_path(self, rel: str) -> str | None:
        """The first DIR/rel of Guile's %load-path: -L conses each DIR onto it
        (guix/scripts/build.scm@8e2f32cee98:246-251), so the last -L given is searched first."""
        for d in reversed(self.load_path):
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
            defs = own_definitions(self.forms.get(path, []))
            prefix = self.prefixed.get(path)
            env.update(defs)
            if prefix:
                env.update({prefix + k: v for k, v in defs.items()})
        for path in self.included.get(self.config, []):
            env.update(own_definitions(self.forms.get(path, [])))
        return env

    def built_by_expression(self) -> tuple | None:
        """The config module's name when guix builds it with ``-e '(@ (a b) var)'``: a module
        whose last form only defines (or the user chose ``var``); else None."""
        forms = self.forms[self.config]
        is_module = bool(forms) and head(forms[0]) == "define-module" and len(forms[0]) >= 2
        if not is_module or (self.variable is None
                             and head(forms[-1]) not in ("define", "define-public")):
            return None
        return _module_name(forms[0][1])

    def expression(self) -> str | None:
        """``(@ (a b) var)`` when the config is a module whose last form only defines its OS
        (or the user chose ``var``): the exported binding that is the OS; several exported
        candidates are refused with their names, for the user to choose."""
        forms = self.forms[self.config]
        is_module = bool(forms) and head(forms[0]) == "define-module" and len(forms[0]) >= 2
        if not is_module and self.variable:
            raise UsageError(f"{self.config} is not a module: it has no variable "
                             f"{self.variable} guix could build",
                             "drop ':VARIABLE' from --system: guix builds the file's value")
        name = self.built_by_expression()
        if name is None:
            return None
        candidates = os_bindings(forms)
        if self.variable is not None:
            defined = {str(f[1]) for f in forms if head(f) in ("define", "define-public")
                       and len(f) == 3 and isinstance(f[1], Symbol)}
            if self.variable not in defined:
                raise UsageError(
                    f"{self.config}: module {module_text(name)} defines no variable "
                    f"{self.variable}",
                    "choose one of: " + (", ".join(v for v, _ in candidates) or "(none found)"))
            var = self.variable
            exported = self.variable in _exports(forms[0]) or any(
                head(f) == "define-public" and str(f[1]) == var for f in forms
                if isinstance(f, list) and len(f) > 1)
        else:
            public = [v for v, e in candidates if e]
            if len(public) > 1:
                raise UsageError(
                    f"{self.config}: module {module_text(name)} exports several bindings that "
                    f"could be the operating-system: {', '.join(public)}",
                    "choose one with --system NAME=FILE:VARIABLE")
            if public:
                var, exported = public[0], True
            elif candidates:
                var, exported = candidates[-1][0], False
            else:
                return None
        if self.find_module(name) != self.config:
            raise UsageError(
                f"{self.config} is module {module_text(name)}, which only defines its "
                f"operating-system ({var}); guix builds that only with -e and the "
                "module on the load path",
                f"pass -L DIR where DIR/{'/'.join(name)}.scm is this file")
        return f"({'@' if exported else '@@'} {module_text(name)} {var})"


def gather(files, config: str, *, load_path: list[str], cwd: str,
           providers: Providers | None = None, variable: str | None = None) -> Closure:
    """The closure of ``config`` (absolute path); ``load_path`` and ``cwd`` absolute;
    ``providers``: the modules the pinned channels provide (default: the guix channel only);
    ``variable``: the module's variable that is the OS (``--system NAME=FILE:VARIABLE``)."""
    g = _Gatherer(files, config, load_path, cwd, providers or Providers([{"name": "guix"}]),
                  variable)
    g.run()
    inputs = list(g.inputs.values())
    return Closure(config, tuple(inputs), tuple(g.modules), tuple(g.warnings), g.uses_cwd,
                   g.expression(), g.definitions(), tuple(g.unverified.values()))


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
    for x in walker.walk(forms):
        h = head(x)
        if (h in _LOADERS and len(x) == 2) or (h == "local-file" and len(x) >= 2):
            refs.append(x)
    if len(_FILE_REFS) >= 256:
        _FILE_REFS.pop(next(iter(_FILE_REFS)))
    _FILE_REFS[id(forms)] = (forms, refs)
    return refs


_READERS = ("call-with-input-file", "open-input-file", "with-input-from-file")
_GEXP_MODULE_KEYS = ("imported-modules", "modules", "module")


_MEMO: dict[tuple[int, str], tuple[list, list]] = {}


def _memo(forms, kind: str, compute) -> Any:
    """``compute()`` once per forms object (the reader caches forms by text, so a module is
    walked once however many commits read it)."""
    key = (id(forms), kind)
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is forms:
        return hit[1]
    value = compute()
    if len(_MEMO) >= 1024:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = (forms, value)
    return value


def own_definitions(forms) -> dict:
    """A file's own top-level definitions (memoised per forms object; callers do not change
    the dict)."""
    return _memo(forms, "defs", lambda: walker.definitions(forms))


_TEXTS: dict[int, tuple[bytes, str]] = {}


def decoded(data: bytes, path: str) -> str:
    """``scheme_text`` once per bytes object: an import hands the same cached blob for every
    commit, and the same str object keeps its hash for the reader's cache."""
    hit = _TEXTS.get(id(data))
    if hit is not None and hit[0] is data:
        return hit[1]
    text = scheme_text(data, path)
    if len(_TEXTS) >= 1024:
        _TEXTS.pop(next(iter(_TEXTS)))
    _TEXTS[id(data)] = (data, text)
    return text


_UNGEXPS = ("ungexp", "ungexp-native", "ungexp-splicing", "ungexp-native-splicing")


def read_refs(forms) -> list:
    """Calls that open a file for reading while the config is evaluated (first argument the
    file name): not those inside a gexp (``#~(call-with-input-file "/etc/x" …)`` runs on the
    built system), except in its ``#$`` parts, which are evaluated with the config."""
    def walk():
        stack = [(forms, False)]
        while stack:
            x, staged = stack.pop()
            if not isinstance(x, list):
                continue
            h = head(x)
            if not staged and h in _READERS and len(x) >= 2:
                yield x
            inner = True if h == "gexp" else False if h in _UNGEXPS else staged
            stack.extend((y, inner) for y in reversed(x))

    return _memo(forms, "read", lambda: list(walk()))


def gexp_module_refs(forms, env) -> list:
    """See _gexp_module_refs (memoised; ``env`` is the forms' own definitions)."""
    return _memo(forms, "gexp", lambda: _gexp_module_refs(forms, env))


def _gexp_module_refs(forms, env) -> list:
    """(module name, form) for each module a gexp imports or a procedure is given as a quoted
    list: ``(with-imported-modules MODS …)``, ``#:imported-modules MODS``, ``#:modules MODS``,
    ``#:module '(a b)``. A list vmfleet cannot read gives (None, form): a warning."""
    out = []
    for x in walker.walk(forms):
        if not isinstance(x, list):
            continue
        if head(x) == "with-imported-modules" and len(x) >= 2:
            out.extend(_module_list(x[1], env, _Where(x, f"with-imported-modules {render(x[1])}")))
        for i, a in enumerate(x[:-1]):
            if isinstance(a, Keyword) and a.name in _GEXP_MODULE_KEYS:
                value = x[i + 1]
                where = _Where(x, f"#:{a.name} {render(value)}")
                if a.name == "module":
                    name = _module_name(_unquoted(value))
                    if name:
                        out.append((name, where))
                    continue
                out.extend(_module_list(value, env, where))
    return out


class _Where:
    """A form's line with a short text for warnings (not the whole gexp)."""

    def __init__(self, form, text: str):
        self.line = getattr(form, "line", None)
        self.text = text

    def __str__(self) -> str:
        return self.text


def _unquoted(x):
    if head(x) in ("quote", "quasiquote") and len(x) == 2:
        return x[1]
    return None


def _module_list(value, env, form, depth: int = 0) -> list:
    """The module names of a module-list expression: a quoted or quasiquoted list (``,@``
    parts of it must be readable too), a name defined in the file, ``source-module-closure``
    or ``append`` of such; [(None, form)] when vmfleet cannot tell."""
    if depth > 20:
        return [(None, form)]
    if isinstance(value, Symbol):
        if str(value) in env:
            return _module_list(env[str(value)], env, form, depth + 1)
        return [(("?", str(value)), form)]   # defined in another file, maybe: see _Gatherer
    h = head(value)
    if h in ("quote", "quasiquote") and len(value) == 2 and isinstance(value[1], list):
        out = []
        for item in value[1]:
            if head(item) in ("unquote", "unquote-splicing") and len(item) == 2:
                inner = item[1]
                if head(inner) in ("quote", "quasiquote") or isinstance(inner, Symbol) \
                        or head(inner) in ("source-module-closure", "append", "list"):
                    out.extend(_module_list(inner if head(item) == "unquote-splicing"
                                            else [Symbol("quote"), [inner]]
                                            if head(inner) != "quote" else inner,
                                            env, form, depth + 1))
                else:
                    out.append((None, form))
                continue
            name = _module_name(item)
            if name is None and isinstance(item, list) and item:
                name = _module_name(item[0])   # ((a b) => file) or ((a b) #:select …)
            if name:
                out.append((name, form))
        return out
    if h == "source-module-closure" and len(value) >= 2:
        return _module_list(value[1], env, form, depth + 1)
    if h in ("append", "cons*", "list") and len(value) >= 1:
        if h == "list":
            return [(n, form) for n in (_module_name(_unquoted(v)) for v in value[1:]) if n] \
                or [(None, form)]
        out = []
        for part in value[1:]:
            out.extend(_module_list(part, env, form, depth + 1))
        return out
    return [(None, form)]


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
    for x in walker.walk(forms):
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
    return any(head(x) == "operating-system" for x in walker.walk(value))


def os_bindings(forms) -> list[tuple[str, bool]]:
    """(variable, exported) of each top-level binding of a module that could be its
    operating-system, in order: its value holds an ``(operating-system …)`` or refers to
    another such binding (``(define-public modded (with-x base-os))``); procedures are not."""
    exports = _exports(forms[0]) if forms and head(forms[0]) == "define-module" else set()
    defs = [(str(f[1]), f[2], head(f) == "define-public" or str(f[1]) in exports)
            for f in forms if head(f) in ("define", "define-public") and len(f) == 3
            and isinstance(f[1], Symbol) and head(f[2]) not in ("lambda", "lambda*",
                                                                 "case-lambda")]
    is_os = {v for v, value, _ in defs if _defines_os(value)}
    changed = True
    while changed:
        changed = False
        for v, value, _ in defs:
            if v not in is_os and any(isinstance(x, Symbol) and str(x) in is_os
                                      for x in walker.walk(value)):
                is_os.add(v)
                changed = True
    return [(v, e) for v, _, e in defs if v in is_os]


def _recursive(form) -> bool:
    args = form[2:]
    return any(isinstance(a, Keyword) and a.name == "recursive?" and i + 1 < len(args)
               and args[i + 1] is True for i, a in enumerate(args))


def evaluate_string(expr, env, path: str | None, here: str, depth: int = 0) -> str | None:
    """The string value of the common computed file-name forms, or None; ``path`` is what
    ``(current-filename)`` gives (None: #f)."""
    if depth > 30:
        return None
    if walker.is_string(expr):
        return expr
    if isinstance(expr, Symbol):
        value = env.get(str(expr))
        return None if value is None else evaluate_string(value, env, path, here, depth + 1)
    h = head(expr)
    args = expr[1:] if h else []
    if h == "string-append":
        parts = [evaluate_string(a, env, path, here, depth + 1) for a in args]
        known = [p for p in parts if p is not None]
        return None if len(known) < len(parts) else "".join(known)
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
