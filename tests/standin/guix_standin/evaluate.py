"""A small evaluator for the Scheme that system configs and channel files are written in.

The stand-in must not share vmfleet's reading of configs (that would hide the product's
mistakes), so it evaluates the forms Guix users write, with Guile's rules, on its own: only
the syntax reader (``vmfleet.guix.reader.read_forms``) is borrowed. Supported: ``define``/
``define-public``, ``let``/``let*``/``letrec``, ``if``/``cond``/``when``/``unless``/``and``/
``or``, ``lambda``, ``quote``/``quasiquote``, ``begin``, list procedures (``list``, ``cons``,
``cons*``, ``append``, ``car``/``cdr``, ``map``, ``filter``, ``remove``, ``delete``), strings
(``string-append``, ``dirname``, ``current-filename``), records written as
``(TYPE (field value) …)`` with ``(inherit X)``, ``service``/``simple-service``,
``modify-services`` (``delete`` and ``=>`` clauses), ``specification->package(s)``,
``local-file``, channels (``channel``, ``%default-channels``, ``%default-guix-channel``,
``make-channel-introduction``), and modules: ``define-module``/``use-modules``
(``#:use-module``, ``#:select``, ``#:prefix``), ``include``, ``load`` (relative to the file
that contains them), user modules found through ``-L`` (guix/ui.scm, Guile's
``resolve-interface``). Anything else evaluates to an ``Opaque`` value (kept as text), so a
config Guix would accept still loads here.

Every file read (the config, each user module, each include) is recorded in ``sources`` so
that a derivation can carry them all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from vmfleet.errors import SchemeError
from vmfleet.guix.reader import Form, Keyword, Symbol, read_forms, render

from .errors import GuileException, GuixError

# Modules Guix and Guile provide (never looked up in the load path). A channel's modules
# (nonguix's (nongnu …), …) are not among them: with only the guix channel pinned, Guile says
# "no code for module" (guix/self.scm@43770a9d8ac:891-895 lists the libraries guix runs
# with; the stand-in models no other channel).
SYSTEM_MODULE_ROOTS = ("gnu", "guix", "srfi", "ice-9", "rnrs", "oop", "system", "web",
                       "sxml", "texinfo", "json", "scheme", "language")


@dataclass(frozen=True)
class Opaque:
    """A value the evaluator does not compute (a procedure call it does not know)."""

    text: str


@dataclass
class Record:
    """A record built with ``(TYPE (field value) …)``: operating-system, channel, …"""

    type: str
    fields: dict
    where: str = ""
    form: str = field(default="", compare=False, repr=False)   # the form as written, one line


@dataclass(frozen=True)
class Package:
    variable: str        # package variable or specification as written
    spec: object         # history.PackageSpec
    output: str = "out"


@dataclass(frozen=True)
class ServiceType:
    name: str


@dataclass
class Service:
    type: str
    value: object = None
    where: str = ""


@dataclass(frozen=True)
class LocalFile:
    path: str            # absolute, normalised
    written: str
    recursive: bool
    where: str


@dataclass
class Lambda:
    params: list
    rest: str | None
    body: list
    env: Env


@dataclass(frozen=True)
class Builtin:
    name: str


@dataclass(frozen=True)
class Accessor:
    """``TYPE-FIELD`` applied to a record of TYPE (``operating-system-services``)."""

    type: str
    field: str


class Env:
    def __init__(self, parent: Env | None = None):
        self.vars: dict[str, object] = {}
        self.parent = parent

    def lookup(self, name: str):
        e = self
        while e is not None:
            if name in e.vars:
                return e.vars[name]
            e = e.parent
        raise KeyError(name)

    def has(self, name: str) -> bool:
        try:
            self.lookup(name)
            return True
        except KeyError:
            return False


@dataclass
class SourceFile:
    """A file the evaluation read: the config, a user module, an include or load."""

    path: str
    data: bytes
    kind: str            # 'config', 'module', 'include'


@dataclass(frozen=True)
class Thunk:
    """A thunked field whose body names an unbound variable: harmless until it is forced."""

    unbound: Unbound


class Unbound(Exception):
    def __init__(self, name: str, where: str, module_hint: str | None = None):
        super().__init__(name)
        self.name, self.where, self.module_hint = name, where, module_hint


@dataclass
class Hooks:
    """What the evaluation needs from the revision: package and service-type variables."""

    package: object          # (name) -> PackageSpec | None (a variable)
    package_module: object   # (name) -> module name of a package variable, or None
    specification: object    # (spec) -> PackageSpec | None
    service_type: object     # (name) -> module name of a service type, or None
    base_packages: object    # () -> list of PackageSpec
    default_channels: object  # () -> list of Record (channel)


@dataclass
class Evaluator:
    hooks: Hooks
    load_path: tuple[str, ...] = ()
    files: dict[str, bytes] | None = None      # absolute name -> contents (from a .drv)
    sources: list[SourceFile] = field(default_factory=list)
    local_files: list[LocalFile] = field(default_factory=list)
    modules: dict[tuple, Env] = field(default_factory=dict)
    stack: list = field(default_factory=list)      # enclosing lists (Guile's error locations)
    # The config's name as given on the command line: guix/ui.scm@8e2f32cee98:366,401
    # (report-load-error) names the file it was handed, not its absolute name.
    given: str | None = None
    # A config file is loaded with Guile's `load` (load*, guix/ui.scm@8e2f32cee98:233), which
    # names every file read meanwhile relative to its %load-path entry; -e reads no file. See
    # port_name.
    relative_names: bool = True
    cwd: str = field(default_factory=os.getcwd)
    cwd_used: bool = False          # a value came from the cwd: a rebuild must run there too
    # operating-system's `services` is a thunk from 24ead149dba (gnu/system.scm@8e2f32cee98:281):
    # what it names is looked up when the image is lowered, after the file has loaded
    thunked_services: bool = False
    found_as: dict = field(default_factory=dict)   # module file -> DIR/a/b.scm, DIR as given
    module_depth: int = 0
    # A module that failed while a config file loaded, and what it exports: Guile then falls
    # back from compiling the config to interpreting it (see user_module)
    half_loaded: dict = field(default_factory=dict)  # exported name -> module name
    interpreted: bool = False       # the config fell back to being interpreted

    def load_failure(self, reason: str = "", **kw) -> GuixError:
        """``failed to load 'FILE': REASON`` for the config being loaded."""
        return GuixError(f"failed to load '{self.given}':" + (f" {reason}" if reason else ""), **kw)

    # --- files ---------------------------------------------------------------------------
    def read_bytes(self, path: str) -> bytes:
        if self.files is not None:
            if path in self.files:
                return self.files[path]
            raise FileNotFoundError(path)
        return Path(path).read_bytes()

    def exists(self, path: str) -> bool:
        if self.files is not None:
            return path in self.files or any(k.startswith(path.rstrip("/") + "/")
                                             for k in self.files)
        return os.path.exists(path)

    def current_filename(self, path: str):
        """Guile's ``(current-filename)`` in the file ``path``: ``canonicalize-path`` of its port's
        name (port_name) against the directory guix runs in, or #f when that fails (Guile 3.0.8
        ice-9/boot-9.scm:690-696). So a module under ``-L src`` gets #f in a config file's load
        unless guix runs in ``src``."""
        name = self.port_name(path)
        if name.startswith("/"):
            return name
        self.cwd_used = True
        full = os.path.normpath(os.path.join(self.cwd, name))
        return self.canonical(full) if self.exists(full) else False

    def current_source_directory(self, path: str):
        """Guix's ``(current-source-directory)``: the directory of an absolute port name; for a
        relative one, of the first %load-path entry's file by that name (absolute-dirname,
        guix/utils.scm@8e2f32cee98:1060-1093), #f when none has it. So with ``-e`` and a
        relative ``-L src`` (the name is ``src/wren/common.scm``) it is #f."""
        name = self.port_name(path)
        if name.startswith("/"):
            return os.path.dirname(name)
        self.cwd_used = True
        for d in reversed(self.load_path):
            full = os.path.normpath(os.path.join(self.cwd, d, name))
            if self.exists(full):
                return os.path.dirname(self.canonical(full))
        return False

    def port_name(self, path: str) -> str:
        """The name Guile gives the port of ``path``. While a config file loads, Guile's `load`
        sets %file-port-name-canonicalization to 'relative (ice-9/boot-9.scm:4395-4396 of Guile
        3.0.8): a file under a %load-path entry is named relative to the first that holds it
        (-L conses each DIR on, guix/scripts/build.scm@8e2f32cee98:246-251, so the last -L
        comes first). With -e, a module is named as the load path search found it: DIR/a/b.scm,
        DIR as given to -L (guix/scripts/build.scm@8e2f32cee98:251)."""
        if not self.relative_names:
            return self.found_as.get(path, path)
        name = self.canonical(path)
        for d in reversed(self.load_path):
            base = self.canonical(os.path.join(self.cwd, d)).rstrip("/")
            if name.startswith(base + "/"):
                return name[len(base) + 1:]
        return name

    def canonical(self, path: str) -> str:
        return os.path.realpath(path) if self.files is None else os.path.normpath(path)

    def record_source(self, path: str, data: bytes, kind: str) -> None:
        if not any(s.path == path for s in self.sources):
            self.sources.append(SourceFile(path, data, kind))

    def read_file_forms(self, path: str, kind: str, where: str | None = None) -> list:
        try:
            data = self.read_bytes(path)
        except FileNotFoundError:
            if where:
                raise GuixError(f"{path}: No such file or directory", location=where) from None
            raise GuixError(f"failed to load '{self.given or path}': No such file or directory") from None
        except (IsADirectoryError, PermissionError) as e:
            raise GuixError(f"failed to load '{self.given or path}': {e.strerror}") from None
        self.record_source(path, data, kind)
        try:
            # Guile reads source as UTF-8 with the 'substitute strategy: each undecodable byte
            # becomes '?' (Guix v1.4.0 on malformed/binary.scm: ``#{\x0;\x1;\x2;??}#: unbound
            # variable``, the tier's run of 2026-12-07).
            return read_forms(data.decode("utf-8", "replace").replace("\ufffd", "?"), path)
        except SchemeError as e:
            raise read_error(e) from None

    # --- top level -----------------------------------------------------------------------
    def load_file(self, path: str, kind: str = "config"):
        """Evaluate a file in a fresh user module; return the value of its last form."""
        env = self.new_module_env()
        return self.eval_body(self.read_file_forms(path, kind), env, path, toplevel=True)

    def load_expression(self, text: str):
        """``guix system -e EXPR``: read one datum and evaluate it in a fresh user module
        (guix/ui.scm, read/eval)."""
        forms = read_forms(text, "<expression>")
        if not forms:
            raise GuixError(f'failed to read expression "{text}"')
        return self.eval(forms[0], self.new_module_env(), "<expression>")

    def new_module_env(self) -> Env:
        env = Env(GLOBAL)
        env.vars["%imports"] = set()
        return env

    def eval_body(self, forms: list, env: Env, filename: str, toplevel: bool = False):
        value = None
        for f in forms:
            value = self.eval(f, env, filename)
        return value

    # --- evaluation ----------------------------------------------------------------------
    def where(self, form, filename: str) -> str:
        """A source location as Guile prints it: the file's port name (port_name), so a file
        under a -L directory is named relative to it (v1.4.0: ``me/sys.scm:2:14: …`` for
        src/me/sys.scm with -L src)."""
        name = self.port_name(filename) if filename.startswith("/") else filename
        if isinstance(form, Form) and form.line:
            return f"{name}:{form.line}:{max((form.col or 1) - 1, 0)}"
        return f"{name}:1:0"

    def eval(self, x, env: Env, filename: str):
        if isinstance(x, Symbol):
            return self.variable(str(x), env, filename, None)
        if isinstance(x, (str, bool, int, float, Keyword)) or x is None:
            return x
        if not isinstance(x, list):
            return Opaque(render(x))
        if not x:
            return []
        self.stack.append(x)
        try:
            return self.eval_list(x, env, filename)
        finally:
            self.stack.pop()

    def eval_list(self, x: list, env: Env, filename: str):
        h = x[0]
        if isinstance(h, Symbol):
            special = SPECIAL.get(str(h))
            if special is not None and not _shadowed(env, str(h)):
                return special(self, x, env, filename)
            if str(h) in RECORD_TYPES or (str(h).endswith("-configuration")
                                          and not env.has(str(h))):
                return self.record(str(h), x, env, filename)
        try:
            fn = self.eval(h, env, filename) if not isinstance(h, Symbol) \
                else self.variable(str(h), env, filename, x)
        except Unbound:
            raise
        if isinstance(fn, Opaque) and str(h) in ("machine", "home-environment"):
            return Opaque(render(x))   # a record of another tool: its field names are no calls
        args = [self.eval(a, env, filename) for a in x[1:]]
        return self.apply(fn, args, x, filename)

    def symbol_where(self, name: str, form, filename: str) -> str:
        """Where Guile locates an unbound NAME: at the symbol. A call's operator is one column
        after its paren (v1.4.0: ``b.scm:6:19`` for ``(nosuch-proc 1)`` at column 18); an
        argument, which the reader gives no position, is found in the file's text after its
        enclosing form's paren (v1.4.0: ``a.scm:6:20`` for ``(packages (list   nosuch))``)."""
        if isinstance(form, Form) and form and form[0] == Symbol(name) and form.line:
            return f"{self.where(form, filename).rsplit(':', 1)[0]}:{form.col or 1}"
        enclosing = form if form is not None else (self.stack[-1] if self.stack else None)
        return self._argument_where(name, enclosing, filename) or self.where(enclosing, filename)

    def _argument_where(self, name: str, enclosing, filename: str) -> str | None:
        if not (isinstance(enclosing, Form) and enclosing.line and enclosing.col
                and filename.startswith("/")):
            return None
        try:
            text = self.read_bytes(filename).decode("utf-8", "replace")
        except OSError:
            return None
        lines = text.split("\n")
        start = sum(len(line) + 1 for line in lines[:enclosing.line - 1]) + enclosing.col
        delim = r"\s()\[\]"
        m = re.compile(rf"(?<![^{delim}'`,]){re.escape(name)}(?![^{delim}])").search(text, start)
        if m is None:
            return None
        line = text.count("\n", 0, m.start()) + 1
        col = m.start() - (text.rfind("\n", 0, m.start()) + 1)
        return f"{self.port_name(filename)}:{line}:{col}"

    def variable(self, name: str, env: Env, filename: str, form):
        if name in _GNU_PACKAGES_PROCS and not _shadowed(env, name) \
                and not _imports(env) & {("gnu", "all-base"), ("gnu", "all"), ("packages", "")}:
            # gnu/packages.scm@8e2f32cee98:498,556,563 defines them; only (gnu packages) and
            # (gnu) (gnu.scm@8e2f32cee98:55) export them: a bare file has them unbound.
            raise Unbound(name, self.symbol_where(name, form, filename), "(gnu packages)")
        if name == "current-source-directory" and not _shadowed(env, name) \
                and ("guix", "utils") not in _imports(env):
            # guix/utils.scm@8e2f32cee98:1074 defines it; neither (gnu) nor (guix gexp) exports it
            raise Unbound(name, self.symbol_where(name, form, filename), "(guix utils)")
        try:
            return env.lookup(name)
        except KeyError:
            pass
        where = self.symbol_where(name, form, filename)
        imports = _imports(env)
        other = _OTHER_TOOLS_BINDINGS.get(name)
        if other is not None and other in imports:
            return Opaque(name)     # a `guix deploy' machine or a Guix Home record: not an OS
        if name == "%default-channels":
            return self.hooks.default_channels()
        if name == "%default-guix-channel":
            return self.hooks.default_channels()[0]
        if name in ("%base-packages", "%base-packages-interactive"):
            return [Package(s.variable, s) for s in self.hooks.base_packages()]
        if name in ("%base-services", "%desktop-services"):
            return [Service(name, None, where)]          # stands for the whole list
        for rtype in RECORD_TYPES:
            if name.startswith(rtype + "-"):         # a record accessor: operating-system-services
                return Accessor(rtype, name[len(rtype) + 1:])
        for prefix, (kind, mod) in _prefixes(env).items():
            bare = name[len(prefix):]
            if name.startswith(prefix) and bare:
                if kind == "packages" and self.hooks.package_module(bare) == mod:
                    return Package(bare, self.hooks.package(bare))
                if kind == "services" and self.hooks.service_type(bare) == mod:
                    return ServiceType(bare)
        module = self.hooks.package_module(name)
        if module is not None:
            spec = self.hooks.package(name)
            if ("packages", module) in imports or ("gnu", "all") in imports:
                return Package(name, spec)
            raise Unbound(name, where, f"(gnu packages {module})")
        stype_module = self.hooks.service_type(name)
        if stype_module is not None:
            if stype_module == "base" or ("services", stype_module) in imports \
                    or ("gnu", "all") in imports:
                return ServiceType(name)
            raise Unbound(name, where, f"(gnu services {stype_module})")
        if name in self.half_loaded:   # exported by a module that failed half-way (user_module)
            raise Unbound(name, where, "(" + " ".join(self.half_loaded[name]) + ")")
        if name.endswith("-service-type"):
            raise Unbound(name, where)
        if _looks_like_guix_binding(name):
            return Opaque(name)
        raise Unbound(name, where)

    def apply(self, fn, args: list, form, filename: str):
        if isinstance(fn, Builtin):
            return BUILTINS[fn.name](self, args, form, filename)
        if isinstance(fn, Accessor):
            rec = args[0] if args else None
            if isinstance(rec, Record) and rec.type == fn.type and fn.field in rec.fields:
                if isinstance(rec.fields[fn.field], Thunk):    # forced here, while loading
                    raise rec.fields[fn.field].unbound
                return rec.fields[fn.field]
            return Opaque(render(form))
        if isinstance(fn, Lambda):
            env = Env(fn.env)
            for i, p in enumerate(fn.params):
                env.vars[p] = args[i] if i < len(args) else None
            if fn.rest:
                env.vars[fn.rest] = list(args[len(fn.params):])
            value = None
            for b in fn.body:
                value = self.eval(b, env, filename)
            return value
        if isinstance(fn, ServiceType):
            return Opaque(render(form))
        return Opaque(render(form) if isinstance(form, list) else str(form))

    def record(self, rtype: str, x: list, env: Env, filename: str) -> Record:
        fields: dict = {}
        for clause in x[1:]:
            if not (isinstance(clause, list) and clause and isinstance(clause[0], Symbol)):
                continue
            name = str(clause[0])
            if name == "inherit":
                base = self.eval(clause[1], env, filename) if len(clause) > 1 else None
                if isinstance(base, Record):
                    fields = {**base.fields, **fields}
                continue
            try:
                value = self.eval(clause[1], env, filename) if len(clause) == 2 else \
                    [self.eval(c, env, filename) for c in clause[1:]]
            except Unbound as e:
                if not (self.thunked_services and rtype == "operating-system" and name == "services"):
                    raise
                value = Thunk(e)
            fields[name] = value
        return Record(rtype, fields, self.where(x, filename), render(x))

    # --- modules -------------------------------------------------------------------------
    def use_module(self, spec, env: Env, filename: str, form) -> None:
        """``(use-modules SPEC)`` / ``#:use-module SPEC``: a Guix module records what it
        exports; a user module is found on the load path and evaluated once."""
        prefix, select = "", None
        if isinstance(spec, list) and spec and isinstance(spec[0], list):
            opts = spec[1:]
            spec = spec[0]
            for k, v in zip(opts[::2], opts[1::2], strict=False):
                if isinstance(k, Keyword) and k.name == "prefix":
                    prefix = str(v)
                elif isinstance(k, Keyword) and k.name == "select":
                    select = v
        if not isinstance(spec, list) or not all(isinstance(s, Symbol) for s in spec):
            return
        name = tuple(str(s) for s in spec)
        imports = _imports(env)
        if name[0] in SYSTEM_MODULE_ROOTS:
            if name == ("gnu",):
                imports.add(("gnu", "all-base"))
            elif len(name) >= 3 and name[0] == "gnu" and prefix:
                # #:prefix binds only PREFIX+NAME (Guile's module system, resolve-interface's
                # #:prefix): 'web:nginx', not 'nginx'.
                _prefixes(env)[prefix] = (name[1], " ".join(name[2:]))
            elif len(name) >= 2 and name[0] == "gnu":
                imports.add((name[1], " ".join(name[2:])))
            elif name == ("guix", "utils"):
                imports.add(name)
            return
        module_env = self.user_module(name, filename, form)
        exported = {k: v for k, v in module_env.vars.items() if not k.startswith(("%imports", "%prefixes"))}
        if select is not None:
            picked = {}
            for s in select:
                if isinstance(s, list) and len(s) >= 3:           # (orig . new)
                    picked[str(s[-1])] = exported.get(str(s[0]))
                elif isinstance(s, Symbol):
                    picked[str(s)] = exported.get(str(s))
            exported = picked
        for k, v in exported.items():       # (every top-level definition: lenient about
            env.vars[prefix + k] = v        # #:export; imports are not transitive, as in Guile)

    def user_module(self, name: tuple, filename: str, form) -> Env:
        if name in self.modules:
            return self.modules[name]
        rel = "/".join(name) + ".scm"
        # -L conses each DIR onto %load-path (guix/scripts/build.scm@8e2f32cee98:246-251):
        # the last one given is searched first
        for d in reversed(self.load_path):
            path = os.path.normpath(os.path.join(self.cwd, d, rel))
            if self.exists(path):
                self.found_as.setdefault(path, os.path.join(d, rel))
                env = self.new_module_env()
                self.modules[name] = env
                forms = self.read_file_forms(path, "module")
                self.module_depth += 1
                try:
                    self.eval_body(forms, env, path)
                except (GuixError, Unbound):
                    # A config file is compiled first; a module that fails while the compiler
                    # expands its use-modules makes the compilation fail, and Guile's load then
                    # interprets the file instead, without a word (fresh-compiled-thunk's
                    # false-if-exception, ice-9/boot-9.scm:4320-4342 of Guile 3.0.8). The module
                    # stays registered with what it defined before failing, so the config
                    # goes on and fails only where it uses a binding that was never defined.
                    if not (self.relative_names and self.module_depth == 1):
                        raise
                    self.interpreted = True
                    self.half_loaded |= dict.fromkeys(_exported(forms), name)
                finally:
                    self.module_depth -= 1
                return env
        raise GuixError(f"failed to load '{self.given or filename}':", lines_after=(
            "ice-9/boot-9.scm:3330:6: In procedure resolve-interface:",
            f"no code for module ({' '.join(name)})"))


def _exported(forms: list) -> list[str]:
    """The names a module's ``(define-module … #:export (…))`` exports."""
    out: list[str] = []
    for form in forms:
        if isinstance(form, list) and form and form[0] == Symbol("define-module"):
            items = list(form[2:])
            out += [str(sym) for k, v in zip(items, items[1:], strict=False)
                    if isinstance(k, Keyword) and k.name == "export" and isinstance(v, list)
                    for sym in v]
    return out


def read_error(e: SchemeError) -> GuixError:
    """A read error as guix/ui.scm's report-load-error prints it: unbalanced parentheses give
    ``FILE:LINE:COL: missing closing parenthesis`` (no ``error:``); others ``read error``."""
    import re

    m = re.match(r"^(.*?):(\d+):(\d+): (.*)$", e.message, re.S)
    if not m:
        return GuixError(e.message)
    filename, line, col, message = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    loc = f"{filename}:{line}:{max(col - 1, 0)}"
    if message.startswith("unclosed"):
        return GuixError("missing closing parenthesis", bare_location=loc)
    return GuixError(f"read error while loading '{filename}': {loc}: {message}")


def _prefixes(env: Env) -> dict:
    """{prefix: (kind, module)} of the Guix modules imported with ``#:prefix``."""
    e = env
    while e is not None:
        if "%imports" in e.vars:
            return e.vars.setdefault("%prefixes", {})
        e = e.parent
    return {}


def _imports(env: Env) -> set:
    e = env
    while e is not None:
        if "%imports" in e.vars:
            return e.vars["%imports"]
        e = e.parent
    return set()


def _shadowed(env: Env, name: str) -> bool:
    e = env
    while e is not None and e is not GLOBAL:
        if name in e.vars:
            return True
        e = e.parent
    return False


_GUIX_SUFFIXES = ("-bootloader", "-configuration", "-service", "-file-system", "-layout")


# Guile procedures and syntax configs use that the evaluator does not model (opaque values).
_GUILE = frozenset("""string-join string-split string-prefix string-suffix format
assoc-ref assq-ref assoc assq length reverse last list-ref iota apply for-each append-map
filter-map find any every fold reduce cut cute match match-lambda lambda* define-syntax
define-syntax-rule syntax-rules case string-upcase string-downcase substring string-length
string-index string-contains symbol-append number->string string->number call-with-output-file
with-output-to-file display newline error throw catch raise guard false-if-exception
cons-all delete-duplicates sort stable-sort hash-ref identity const negate compose
gexp ungexp local-file file-append plain-file mixed-text-file computed-file program-file
scheme-file nss-certs make-regexp regexp-exec search-path
memq memv member get-string-all with-imported-modules source-module-closure
default-skeletons""".split())   # gnu/system/shadow.scm@8e2f32cee98:121


# Procedures of (gnu packages) the evaluator models (BUILTINS), bound only where imported.
_GNU_PACKAGES_PROCS = frozenset({"specification->package", "specification->package+output",
                                 "specifications->packages", "specifications->manifest"})

# Bindings of `guix deploy' and Guix Home files, and the module that exports each (an import as
# _imports records it): they evaluate to values that are not operating systems.
_OTHER_TOOLS_BINDINGS = {
    "machine": ("machine", ""),                                    # gnu/machine.scm@8e2f32cee98:91
    "machine-ssh-configuration": ("machine", "ssh"),               # gnu/machine/ssh.scm@8e2f32cee98:85
    "managed-host-environment-type": ("machine", "ssh"),           # gnu/machine/ssh.scm@8e2f32cee98:616
    "home-environment": ("home", ""),                              # gnu/home.scm@8e2f32cee98:55
    "home-environment-variables-service-type": ("home", "services"),  # gnu/home/services.scm@8e2f32cee98:268
    "home-bash-configuration": ("home", "services shells"),        # gnu/home/services/shells.scm@8e2f32cee98:322
    "home-bash-service-type": ("home", "services shells"),         # gnu/home/services/shells.scm@8e2f32cee98:508
}


def _looks_like_guix_binding(name: str) -> bool:
    """A binding of Guix itself the stand-in does not model (``grub-efi-bootloader``,
    ``file-system-label``, ``%base-file-systems`` …): evaluated as an opaque value."""
    if not name.isprintable():      # read from binary junk: no Guix binding has such a name
        return False
    return name in _GUILE or name.endswith(_GUIX_SUFFIXES) or "->" in name \
        or name.endswith("?") \
        or name.startswith(("make-", "file-", "user-", "keyboard-", "uuid", "mapped-",
                            "swap-", "nss-", "plain-", "mixed-", "computed-", "program-",
                            "scheme-", "gexp", "file-append", "openpgp-", "luks-", "host",
                            "name-service", "%"))


# --- special forms ---------------------------------------------------------------------------


def _sym_list(x) -> list[str]:
    return [str(s) for s in x if isinstance(s, Symbol)]


def _define(ev: Evaluator, x, env, filename):
    if len(x) < 2:
        return None
    target = x[1]
    if isinstance(target, list) and target and isinstance(target[0], Symbol):   # procedure
        params = _sym_list(target[1:])
        rest = None
        if "." in params:
            i = params.index(".")
            rest, params = params[i + 1], params[:i]
        env.vars[str(target[0])] = Lambda(params, rest, list(x[2:]), env)
        return None
    if isinstance(target, Symbol):
        env.vars[str(target)] = ev.eval(x[2], env, filename) if len(x) > 2 else None
    return None


def _lambda(ev, x, env, filename):
    params = x[1] if len(x) > 1 else []
    if isinstance(params, Symbol):
        return Lambda([], str(params), list(x[2:]), env)
    names = _sym_list(params)
    rest = None
    if "." in names:
        i = names.index(".")
        rest, names = names[i + 1], names[:i]
    return Lambda(names, rest, list(x[2:]), env)


def _let(ev, x, env, filename):
    if len(x) > 2 and isinstance(x[1], Symbol):          # named let: not modelled
        return Opaque(render(x))
    sequential = str(x[0]) in ("let*", "letrec", "letrec*")
    new = Env(env)
    for b in x[1] if len(x) > 1 and isinstance(x[1], list) else []:
        if isinstance(b, list) and len(b) == 2 and isinstance(b[0], Symbol):
            new.vars[str(b[0])] = ev.eval(b[1], new if sequential else env, filename)
    value = None
    for b in x[2:]:
        value = ev.eval(b, new, filename)
    return value


def _truthy(v) -> bool:
    return v is not False


def _if(ev, x, env, filename):
    test = ev.eval(x[1], env, filename)
    if isinstance(test, Opaque):              # unknown at load time: Guix would know; take
        test = True                           # the first branch
    if _truthy(test):
        return ev.eval(x[2], env, filename)
    return ev.eval(x[3], env, filename) if len(x) > 3 else None


def _when(ev, x, env, filename):
    test = ev.eval(x[1], env, filename)
    if _truthy(test) != (str(x[0]) == "unless"):
        value = None
        for b in x[2:]:
            value = ev.eval(b, env, filename)
        return value
    return None


def _cond(ev, x, env, filename):
    for clause in x[1:]:
        if not isinstance(clause, list) or not clause:
            continue
        test = True if clause[0] == Symbol("else") else ev.eval(clause[0], env, filename)
        if isinstance(test, Opaque):
            test = True
        if _truthy(test):
            value = test
            for b in clause[1:]:
                value = ev.eval(b, env, filename)
            return value
    return None


def _and(ev, x, env, filename):
    value = True
    for a in x[1:]:
        value = ev.eval(a, env, filename)
        if value is False:
            return False
    return value


def _or(ev, x, env, filename):
    for a in x[1:]:
        value = ev.eval(a, env, filename)
        if value is not False:
            return value
    return False


def _begin(ev, x, env, filename):
    value = None
    for a in x[1:]:
        value = ev.eval(a, env, filename)
    return value


def _quote(ev, x, env, filename):
    return _datum(x[1]) if len(x) > 1 else None


def _datum(d):
    if isinstance(d, list):
        return [_datum(i) for i in d]
    return d


def _quasiquote(ev, x, env, filename):
    def qq(d):
        if isinstance(d, list):
            if d and d[0] == Symbol("unquote") and len(d) == 2:
                return ev.eval(d[1], env, filename)
            out = []
            for item in d:
                if isinstance(item, list) and item and item[0] == Symbol("unquote-splicing"):
                    v = ev.eval(item[1], env, filename)
                    out.extend(v if isinstance(v, list) else [v])
                else:
                    out.append(qq(item))
            return out
        return d
    return qq(x[1]) if len(x) > 1 else None


def _use_modules(ev, x, env, filename):
    for spec in x[1:]:
        ev.use_module(spec, env, filename, x)
    return None


def _use_x_modules(ev, x, env, filename):
    kind = str(x[0]).split("-")[1] + "s"        # use-service-modules -> services
    imports = _imports(env)
    for m in x[1:]:
        if isinstance(m, Symbol):
            imports.add((kind, str(m)))
    return None


def _define_module(ev, x, env, filename):
    items = list(x[2:])
    for k, v in zip(items, items[1:], strict=False):
        if isinstance(k, Keyword) and k.name in ("use-module", "autoload"):
            ev.use_module(v, env, filename, x)
    return None


def _at(ev, x, env, filename):
    """``(@ (me systems web) web-os)`` (and ``@@``): a variable of a user module, loaded from
    the load path. The stand-in does not check ``#:export`` (lenient, as use-modules here)."""
    if len(x) != 3 or not isinstance(x[1], list) or not isinstance(x[2], Symbol) \
            or not all(isinstance(s, Symbol) for s in x[1]):
        return Opaque(render(x))
    name = tuple(str(s) for s in x[1])
    if name[0] in SYSTEM_MODULE_ROOTS:
        from .errors import Unsupported
        raise Unsupported(f"stand-in: {render(x)}: variables of Guix's own modules are not "
                          "modelled; name a module of your load path")
    module_env = ev.user_module(name, filename, x)
    var = str(x[2])
    if var not in module_env.vars:
        raise Unbound(var, ev.where(x, filename))
    return module_env.vars[var]


def _include(ev, x, env, filename):
    """``(include "file")``: read relative to the including file (Guile's include)."""
    if len(x) < 2 or not isinstance(x[1], str):
        return None
    path = os.path.normpath(os.path.join(os.path.dirname(filename), x[1]))
    kind = "include"
    value = None
    for f in ev.read_file_forms(path, kind, ev.where(x, filename)):
        value = ev.eval(f, env, path)
    return value


def _load(ev, x, env, filename):
    """``(load "file")``: relative to the loading file's directory (as Guile's load)."""
    name = ev.eval(x[1], env, filename) if len(x) > 1 else None
    if not isinstance(name, str):
        return Opaque(render(x))
    path = os.path.normpath(os.path.join(os.path.dirname(filename), name))
    value = None
    for f in ev.read_file_forms(path, "include", ev.where(x, filename)):
        value = ev.eval(f, env, path)
    return value


def _local_file(ev, x, env, filename):
    """``(local-file NAME [#:recursive? #t])``: relative to the directory of the file that
    contains it (guix/gexp.scm, local-file's ``current-source-directory``)."""
    name = ev.eval(x[1], env, filename) if len(x) > 1 else None
    recursive = False
    rest = x[2:]
    for k, v in zip(rest, rest[1:], strict=False):
        if isinstance(k, Keyword) and k.name == "recursive?":
            recursive = ev.eval(v, env, filename) is True
    if name is False:
        # (local-file (getenv "UNSET")): %local-file's default name is (basename #f)
        # (guix/gexp.scm@8e2f32cee98:460), a wrong-type-arg no handler of guix/ui.scm catches
        raise GuileException("In procedure scm_to_utf8_stringn: Wrong type argument in "
                             "position 1 (expecting string): #f")
    if not isinstance(name, str):
        return Opaque(render(x))
    path = os.path.normpath(os.path.join(os.path.dirname(filename), name))
    lf = LocalFile(path, name, recursive, ev.where(x, filename))
    ev.local_files.append(lf)
    return lf


def _modify_services(ev, x, env, filename):
    services = ev.eval(x[1], env, filename) if len(x) > 1 else []
    services = list(services) if isinstance(services, list) else []
    for clause in x[2:]:
        if not isinstance(clause, list) or not clause:
            continue
        if clause[0] == Symbol("delete") and len(clause) == 2:
            t = ev.eval(clause[1], env, filename)
            name = t.name if isinstance(t, ServiceType) else str(clause[1])
            services = [s for s in services if not (isinstance(s, Service) and s.type == name)]
        elif len(clause) >= 3 and clause[1] == Symbol("config") and clause[2] == Symbol("=>"):
            t = ev.eval(clause[0], env, filename)
            name = t.name if isinstance(t, ServiceType) else str(clause[0])
            out = []
            for s in services:
                if isinstance(s, Service) and s.type == name:
                    e = Env(env)
                    e.vars["config"] = s.value
                    value = None
                    for b in clause[3:]:
                        value = ev.eval(b, e, filename)
                    s = Service(s.type, value, s.where)
                out.append(s)
            services = out
    return services


def _service(ev, x, env, filename):
    t = ev.eval(x[1], env, filename) if len(x) > 1 else None
    value = ev.eval(x[2], env, filename) if len(x) > 2 else None
    name = t.name if isinstance(t, ServiceType) else render(x[1]) if len(x) > 1 else "?"
    return Service(name, value, ev.where(x, filename))


def _simple_service(ev, x, env, filename):
    t = ev.eval(x[2], env, filename) if len(x) > 2 else None
    value = ev.eval(x[3], env, filename) if len(x) > 3 else None
    name = t.name if isinstance(t, ServiceType) else "?"
    return Service(name, value, ev.where(x, filename))


UNGEXP = {Symbol("ungexp"), Symbol("ungexp-splicing"), Symbol("ungexp-native"),
          Symbol("ungexp-native-splicing")}


def _gexp(ev, x, env, filename):
    """``#~EXP``: code for the build side, which loading the config does not evaluate, except
    the ``#$``/``#$@``/``#+`` forms in it, which are host-side expressions evaluated now
    (guix/gexp.scm@8e2f32cee98:1414, the ``gexp`` macro, keeps the body as syntax and
    collects each ungexp's expression as a reference). So ``#~(job …)`` needs no ``job``
    binding, and a ``local-file`` under ``#$`` is interned."""
    def walk(d):
        if isinstance(d, list) and d:
            if isinstance(d[0], Symbol) and d[0] in UNGEXP and len(d) >= 2:  # (ungexp EXP [OUT])
                ev.eval(d[1], env, filename)
                return
            for item in d:
                walk(item)
    walk(x[1:])
    return Opaque(render(x))


def _channel(ev, x, env, filename):
    return ev.record("channel", x, env, filename)


SPECIAL = {
    "define": _define, "define-public": _define, "define*": _define, "lambda": _lambda,
    "let": _let, "let*": _let, "letrec": _let, "letrec*": _let, "if": _if, "when": _when,
    "unless": _when, "cond": _cond, "and": _and, "or": _or, "begin": _begin, "quote": _quote,
    "quasiquote": _quasiquote, "use-modules": _use_modules,
    "use-service-modules": _use_x_modules, "use-package-modules": _use_x_modules,
    "use-system-modules": _use_x_modules, "define-module": _define_module,
    "include": _include, "load": _load, "@": _at, "@@": _at, "local-file": _local_file,
    "modify-services": _modify_services, "service": _service,
    "simple-service": _simple_service, "gexp": _gexp,
}
RECORD_TYPES = {"operating-system", "channel", "user-account", "user-group", "file-system",
                "bootloader-configuration", "package", "mapped-device", "swap-space",
                "nginx-server-configuration", "postgresql-role", "machine",
                # gnu/services/base.scm@8e2f32cee98:2529-2560 (define-record-type*)
                "static-networking", "network-address", "network-route",
                "wireguard-peer"}   # gnu/services/vpn.scm@8e2f32cee98:705


# --- procedures ------------------------------------------------------------------------------


def _flat(v):
    return v if isinstance(v, list) else [v]


def _b_list(ev, a, form, filename):
    return list(a)


def _b_cons(ev, a, form, filename):
    return [a[0], *_flat(a[1])] if len(a) == 2 else Opaque(render(form))


def _b_cons_star(ev, a, form, filename):
    return [*a[:-1], *_flat(a[-1])] if a else []


def _b_append(ev, a, form, filename):
    out = []
    for x in a:
        out.extend(_flat(x) if x is not None else [])
    return out


def _b_car(ev, a, form, filename):
    return a[0][0] if a and isinstance(a[0], list) and a[0] else Opaque(render(form))


def _b_cdr(ev, a, form, filename):
    return a[0][1:] if a and isinstance(a[0], list) and a[0] else Opaque(render(form))


def _b_map(ev, a, form, filename):
    if len(a) < 2 or not isinstance(a[1], list):
        return Opaque(render(form))
    return [ev.apply(a[0], [x], form, filename) for x in a[1]]


def _b_filter(ev, a, form, filename, keep=True):
    if len(a) < 2 or not isinstance(a[1], list):
        return Opaque(render(form))
    out = []
    for x in a[1]:
        r = ev.apply(a[0], [x], form, filename)
        if isinstance(r, Opaque):
            r = not keep         # unknown predicate: keep the element
        if (r is not False) == keep:
            out.append(x)
    return out


def _b_remove(ev, a, form, filename):
    return _b_filter(ev, a, form, filename, keep=False)


def _b_delete(ev, a, form, filename):
    if len(a) < 2 or not isinstance(a[1], list):
        return Opaque(render(form))
    return [x for x in a[1] if not _equal(x, a[0])]


def _equal(x, y) -> bool:
    if isinstance(x, Package) and isinstance(y, Package):
        return x.spec == y.spec and x.output == y.output
    return x == y


def _b_eq(ev, a, form, filename):
    if len(a) != 2:
        return False
    x, y = a
    if isinstance(x, Service):
        x = ServiceType(x.type)
    if isinstance(y, Service):
        y = ServiceType(y.type)
    if isinstance(x, Opaque) or isinstance(y, Opaque):
        return Opaque(render(form))
    return _equal(x, y)


def _b_service_kind(ev, a, form, filename):
    return ServiceType(a[0].type) if a and isinstance(a[0], Service) else Opaque(render(form))


def _b_not(ev, a, form, filename):
    return a[0] is False if a else False


def _b_string_append(ev, a, form, filename):
    if all(isinstance(s, str) for s in a):
        return "".join(a)
    return Opaque(render(form))


def _b_getenv(ev, a, form, filename):
    """Guile's getenv: the value, or #f when unset (the stand-in runs in guix's environment)."""
    return os.environ.get(a[0], False) if a and isinstance(a[0], str) else Opaque(render(form))


def _b_call_with_input_file(ev, a, form, filename):
    """A file read at load time: a missing one is a system-error that guix/ui.scm@8e2f32cee98:364-366
    (report-load-error) reports as ``failed to load 'CONFIG': No such file or directory``."""
    if a and isinstance(a[0], str) and ev.files is None and not os.path.isfile(a[0]):
        raise ev.load_failure("No such file or directory")
    return Opaque(render(form))


def _b_dirname(ev, a, form, filename):
    if a and a[0] is False:
        # Guile's dirname takes a string only: #f (a (current-filename) named relative to -L)
        # is a wrong-type-arg, which guix/ui.scm@8e2f32cee98:403-409 reports as a load failure
        # (v1.4.0 on Debian's Guile 3.0.8 names the C function that refused it)
        wrong = "Wrong type argument in position 1 (expecting string): #f"
        if ev.given is None:   # -e: read/eval's report has no location (guix/ui.scm@8e2f32cee982:865-869)
            raise GuixError(wrong, bare_location="In procedure scm_to_utf8_stringn")
        raise ev.load_failure(lines_after=(
            f"{ev.where(form, filename)}: In procedure scm_to_utf8_stringn: {wrong}",))
    return os.path.dirname(a[0]) or "." if a and isinstance(a[0], str) else Opaque(render(form))


def _b_current_filename(ev, a, form, filename):
    return ev.current_filename(filename)


def _b_current_source_directory(ev, a, form, filename):
    return ev.current_source_directory(filename)


def _b_spec(ev, a, form, filename, with_output=False):
    if not a or not isinstance(a[0], str):
        return Opaque(render(form))
    spec = a[0]
    name, _, output = spec.partition(":")
    found = ev.hooks.specification(name)
    if found is None:
        base, _, version = name.partition("@")
        if version:
            raise GuixError(f"{base}: package not found for version {version}")
        raise GuixError(f"{base}: unknown package")          # gnu/packages.scm, no location
    return Package(spec, found, output or "out")


def _b_specs(ev, a, form, filename):
    if not a or not isinstance(a[0], list):
        return Opaque(render(form))
    return [_b_spec(ev, [s], form, filename) for s in a[0]]


def _b_make_intro(ev, a, form, filename):
    fp = a[1] if len(a) > 1 else None
    return Record("channel-introduction", {"commit": a[0] if a else None, "signer": fp})


def _b_fingerprint(ev, a, form, filename):
    return a[0] if a else None


def _b_default_channels(ev, a, form, filename):
    return ev.hooks.default_channels()


BUILTINS = {
    "list": _b_list, "cons": _b_cons, "cons*": _b_cons_star, "append": _b_append,
    "car": _b_car, "cdr": _b_cdr, "first": _b_car, "map": _b_map, "filter": _b_filter,
    "remove": _b_remove, "delete": _b_delete, "eq?": _b_eq, "eqv?": _b_eq, "equal?": _b_eq,
    "not": _b_not, "string-append": _b_string_append, "dirname": _b_dirname,
    "current-filename": _b_current_filename, "specification->package": _b_spec,
    "current-source-directory": _b_current_source_directory,
    "specification->package+output": _b_spec, "specifications->packages": _b_specs,
    "specifications->manifest": _b_specs,
    "make-channel-introduction": _b_make_intro, "openpgp-fingerprint": _b_fingerprint,
    "service-kind": _b_service_kind, "getenv": _b_getenv,
    "call-with-input-file": _b_call_with_input_file,
}

GLOBAL = Env()
for _name in BUILTINS:
    GLOBAL.vars[_name] = Builtin(_name)
GLOBAL.vars["else"] = True
GLOBAL.vars["%imports"] = set()
