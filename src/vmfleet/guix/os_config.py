"""Summaries of an ``operating-system`` declaration (host name, packages, services, users,
authorized keys, local files) read statically, without evaluating Scheme.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sexpdata import Symbol

from vmfleet.errors import SchemeError
from vmfleet.guix import reader, walker
from vmfleet.guix.reader import read_forms, render
from vmfleet.guix.walker import head

# --- operating-system summaries ---------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSummary:
    """One entry of a system's service list.

    ``type`` is the service type (``openssh-service-type``) or, for a list that comes from
    elsewhere, its name (``%base-services``). ``config`` is the canonical text of the
    configuration argument ('' if none). ``kind`` says where the entry comes from:
    ``service`` (``(service TYPE [CONFIG])``), ``simple-service`` (config is
    ``'NAME VALUE``), ``base`` (a list such as ``%base-services``), ``modified`` and
    ``deleted`` (a ``modify-services`` ``delete`` clause, or a type a ``remove``/``filter``
    drops), ``conditional`` (a service in a branch of an ``if``: only some targets get it),
    ``other`` (an expression vmfleet does not recognise; config holds its arguments).
    """

    type: str
    config: str = ""
    kind: str = "service"

    def to_dict(self) -> dict:
        return {"type": self.type, "config": self.config, "kind": self.kind}


@dataclass(frozen=True)
class OsSummary:
    """What an ``operating-system`` declaration says, as vmfleet records and diffs it.

    Text fields hold a string literal's value, or the canonical text of the expression when
    the config computes it; None when the field is absent. ``packages``, ``users`` and
    ``services`` keep the order written, with lists from elsewhere (``%base-packages``,
    ``%base-user-accounts``, ``%base-services``) as marker entries. ``fields`` maps every
    field of the declaration to its canonical one-line text.
    """

    host_name: str | None
    timezone: str | None
    locale: str | None
    kernel: str | None
    bootloader: str | None
    users: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    services: tuple[ServiceSummary, ...] = ()
    authorized_keys: tuple[tuple[str, str], ...] = ()
    # (user, text) of keys written as bare strings: Guix opens each key as a file while
    # building, so these fail the build (gnu/services/ssh.scm, authorized-key-directory).
    string_keys: tuple[tuple[str, str], ...] = ()
    local_files: tuple[str, ...] = ()
    fields: dict[str, str] = field(default_factory=dict, hash=False)
    packages_conditional: tuple[str, ...] = ()   # in a branch of an `if`
    packages_removed: tuple[str, ...] = ()       # taken out with `delete`
    bootloader_conditional: tuple[str, ...] = ()  # each branch's, when an `if` chooses it
    # openssh's permit-root-login as written ('#t', '#f', 'prohibit-password'); None: not
    # written (gnu/services/ssh.scm's default is #f: no root logins).
    permit_root_login: str | None = None
    # (user, its group and supplementary groups) for each user-account the config declares.
    user_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The file's value is computed (a procedure call, a name from a module): what is here is
    # what could be read statically, and may not be what guix builds.
    partial: bool = False
    # The record ``(inherit X)`` names when vmfleet cannot read X (``installation-os``, an OS
    # of a channel's module): fields absent here are X's, not Guix's defaults.
    inherits: str | None = None

    def to_dict(self) -> dict:
        extra: dict[str, object] = {}
        if self.partial:
            extra["partial"] = True
        if self.inherits:
            extra["inherits"] = self.inherits
        if self.packages_conditional:
            extra["packages_conditional"] = list(self.packages_conditional)
        if self.packages_removed:
            extra["packages_removed"] = list(self.packages_removed)
        if self.bootloader_conditional:
            extra["bootloader_conditional"] = list(self.bootloader_conditional)
        if self.string_keys:
            extra["string_keys"] = [list(k) for k in self.string_keys]
        return extra | {
            "host_name": self.host_name, "timezone": self.timezone, "locale": self.locale,
            "kernel": self.kernel, "bootloader": self.bootloader, "users": list(self.users),
            "packages": list(self.packages),
            "services": [s.to_dict() for s in self.services],
            "authorized_keys": [list(k) for k in self.authorized_keys],
            "local_files": list(self.local_files), "fields": dict(self.fields),
            "permit_root_login": self.permit_root_login,
            "user_groups": [[u, list(g)] for u, g in self.user_groups],
        }


def local_files(text: str, filename: str = "<string>") -> list[str]:
    """Every ``(local-file "PATH" …)`` in the file (first string argument, as written), in
    order of first appearance, without repeats. A computed path is not listed."""
    return _local_files(read_forms(text, filename))


def _local_files(forms) -> list[str]:
    seen: dict[str, None] = {}
    for x in walker.walk(forms):
        if head(x) == "local-file" and len(x) >= 2 and walker.is_string(x[1]):
            seen.setdefault(x[1], None)
    return list(seen)


def summarize_os(text: str, filename: str = "<string>", *,
                 extra_env: dict | None = None, variable: str | None = None) -> OsSummary:
    """Summarise the ``operating-system`` a config file evaluates to.

    The declaration is found as the file's last expression (directly, as a ``define``d name,
    at the end of a ``let`` or ``begin``), else as the last top-level ``define`` of one, else
    as the first ``(operating-system …)`` anywhere. ``(inherit OS)`` of an OS defined in the
    same file merges its fields. Required fields that are missing are None: the caller
    decides. A file without any raises SchemeError("FILE: no operating-system declaration
    found", hint).

    A file whose value is computed (its last form a procedure call such as
    ``(with-my-defaults my-os)``, or a name it does not define) is what guix builds too
    (guix/scripts/system.scm loads the file and takes its value): its summary is what can be
    read statically (the OS the call is given, when there is one), marked ``partial``.
    ``variable``: the module variable guix builds with ``-e`` (summarised instead).
    """
    forms = reader.read_cached(text, filename)[0]
    env = walker.definitions(forms, extra_env)
    partial = False
    if variable is not None:
        found = _resolve_os(Symbol(variable), env, set())
        if found is None:
            partial = True
            found = _os_inside(env.get(variable), env)
    else:
        _refuse_other_kinds(forms, filename)
        found = _resolve_os(forms[-1], env, set()) if forms else None
        if found is None and _computed_value(forms[-1], env):
            partial = True
            found = _os_inside(forms[-1], env)
        elif found is None:
            found = _find_os(forms, env)
    if found is None and partial:
        return OsSummary(None, None, None, None, None, partial=True)
    if found is None:
        raise SchemeError(f"{filename}: no operating-system declaration found"
                          + (" (a helper module)" if forms and head(forms[0]) == "define-module"
                             else ""),
                          "a system config evaluates to (operating-system (host-name …) "
                          "(bootloader …) (file-systems …) (timezone …) …); point vmfleet at "
                          "the config that uses this file")
    os_form, env = found
    values = _os_fields(os_form, env, set())
    inherits = render(values.pop(INHERITED)[0]) if INHERITED in values else None
    fields = {k: _render_field(v) for k, v in values.items()}

    def text_of(key):
        if key not in values or not values[key]:
            return None
        v = values[key][0]
        if isinstance(v, Symbol) and walker.is_string(env.get(str(v))):
            v = env[str(v)]  # a name defined as a string in the file
        return v if walker.is_string(v) else render(v)

    prefixes = _import_prefixes(forms)
    keys = _authorized_keys(os_form, values.get("services"), env)

    def plain(name: str) -> str:
        for p in prefixes:
            if name.startswith(p) and len(name) > len(p):
                return name[len(p):]
        return name

    packages = _packages(values.get("packages"), env)
    return OsSummary(
        host_name=text_of("host-name"),
        timezone=text_of("timezone"),
        locale=text_of("locale"),
        kernel=text_of("kernel"),
        bootloader=_bootloader(values.get("bootloader")),
        # No users field: Guix's default, %base-user-accounts (gnu/system.scm@8e2f32cee98:254,
        # the same at every known pin), the account "nobody" only:
        # gnu/system/shadow.scm@8e2f32cee98:109 (root is added apart: gnu/system.scm@8e2f32cee98:1112).
        users=tuple(_users(values.get("users"), env))
        if "users" in values else () if inherits else ("%base-user-accounts",),
        # No packages field: Guix's default, %base-packages (gnu/system.scm).
        packages=tuple(plain(n) for kind, n in packages if kind in ("item", "rest"))
        if "packages" in values else () if inherits else ("%base-packages",),
        services=tuple(ServiceSummary(plain(x.type), x.config, x.kind)
                       for x in _services(values.get("services"), env, prefixes))
        if "services" in values else () if inherits else
        (ServiceSummary("%base-services", "", "base"),),
        authorized_keys=tuple((u, t) for u, t, as_file in keys if as_file),
        string_keys=tuple((u, t) for u, t, as_file in keys if not as_file),
        local_files=tuple(_local_files(forms)),
        fields=fields,
        packages_conditional=tuple(plain(n) for kind, n in packages if kind == "cond-item"),
        packages_removed=tuple(plain(n) for kind, n in packages if kind == "removed"),
        bootloader_conditional=_bootloader_branches(values.get("bootloader")),
        permit_root_login=_permit_root_login(values.get("services"), env),
        user_groups=tuple(_user_groups(values.get("users"), env)),
        partial=partial,
        inherits=inherits,
    )


_NOT_VALUES = ("define-module", "use-modules", "use-service-modules", "use-package-modules",
               "use-system-modules", "define-syntax", "define-record-type", "define-syntax-rule",
               "set!", "display", "format", "export", "re-export",
               # values that are never an operating system (a list of channels, of machines)
               "list", "cons", "cons*", "append", "quote", "quasiquote", "vector", "channel")


def _computed_value(last, env) -> bool:
    """Whether the file's last form is an expression whose value vmfleet cannot read: a
    call (not a definition, not a declaration) or a name the file does not define."""
    if isinstance(last, Symbol):
        return str(last) not in env
    h = head(last)
    return h is not None and h not in walker.DEFINERS and h not in _NOT_VALUES \
        and h not in walker.LETS and h != "begin"


def _os_inside(expr, env):
    """The first operating-system a computed value is made from (an argument, a name)."""
    if expr is None:
        return None
    for x in walker.walk(expr):
        if head(x) == "operating-system":
            return x, env
        if isinstance(x, Symbol) and str(x) in env:
            found = _resolve_os(x, env, set())
            if found:
                return found
    return None


def _bootloader_branches(values) -> tuple[str, ...]:
    """The bootloader of each branch when ``(if (target-…?) A B)`` chooses it."""
    if not values or head(values[0]) != "if" or len(values[0]) != 4:
        return ()
    return tuple(b for b in (_bootloader([branch]) for branch in values[0][2:]) if b)


def _import_prefixes(forms) -> list[str]:
    """Prefixes of ``#:prefix`` imports (``((gnu services ssh) #:prefix ssh:)``): a name
    ``ssh:openssh-service-type`` is summarised as ``openssh-service-type``."""
    from vmfleet.guix.closure import module_refs

    return sorted({p for _, p, _ in module_refs(forms) if p}, key=len, reverse=True)


_MANIFEST_FORMS = ("specifications->manifest", "packages->manifest", "concatenate-manifests",
                   "manifest")


def _refuse_other_kinds(forms, filename: str) -> None:
    """A file guix would not take as a system: its last form gives a ``guix deploy`` machine
    list, a Guix Home environment or a profile manifest."""
    if not forms:
        raise SchemeError(f"{filename}: empty file: no operating system declaration",
                          "a system config evaluates to (operating-system …)")
    last = forms[-1]
    env = walker.definitions(forms)
    if isinstance(last, Symbol) and str(last) in env:
        last = env[str(last)]
    h = head(last)
    parts = last[1:] if h in ("list", "cons", "cons*", "append") else []
    if h == "machine" or any(head(p) == "machine" for p in parts):
        raise SchemeError(
            f"{filename}: a 'guix deploy' file (a list of machines), not an operating-system "
            "config",
            "point vmfleet at the config that defines each machine's operating-system "
            "(move it into a file of its own that ends with it)")
    if h == "home-environment":
        raise SchemeError(f"{filename}: a Guix Home config (home-environment), not an "
                          "operating-system config",
                          "vmfleet records system configs: point it at the file 'guix system' "
                          "builds")
    if head(last) in _MANIFEST_FORMS:
        raise SchemeError(f"{filename}: a profile manifest ({head(last)}), not an "
                          "operating-system config",
                          "vmfleet records system configs: point it at the file 'guix system' "
                          "builds")


def _render_field(values: list) -> str:
    return " ".join(render(v) for v in values)


def _find_os(forms, env):
    """(operating-system form, env) the file evaluates to, or None."""
    if forms:
        found = _resolve_os(forms[-1], env, set())
        if found:
            return found
    for f in reversed(forms):
        if head(f) in walker.DEFINERS:
            found = _resolve_os(f, env, set())
            if found:
                return found
    for x in walker.walk(forms):
        if head(x) == "operating-system":
            return x, env
    return None


def _resolve_os(expr, env, seen):
    h = head(expr)
    if h == "operating-system":
        return expr, env
    if isinstance(expr, Symbol):
        name = str(expr)
        if name in env and name not in seen:
            seen.add(name)
            return _resolve_os(env[name], env, seen)
        return None
    if h in walker.DEFINERS and len(expr) == 3:
        return _resolve_os(expr[2], env, seen)
    if h in walker.LETS:
        inner, body = walker.let_scope(expr, env)
        if body is not None:
            return _resolve_os(body, inner, seen)
    if h == "begin" and len(expr) > 1:
        return _resolve_os(expr[-1], env, seen)
    return None


INHERITED = "%inherit"   # key of the record a declaration inherits when vmfleet cannot read it


def _os_fields(os_form, env, seen) -> dict[str, list]:
    """{field name: [value datums]} of an operating-system form, inherited fields merged."""
    values: dict[str, list] = {}
    for f in os_form[1:]:
        name = head(f)
        if name is None:
            continue
        if name == "inherit" and len(f) == 2:
            base = _resolve_os(f[1], env, set())
            if base and id(base[0]) not in seen:
                seen.add(id(base[0]))
                for k, v in _os_fields(base[0], base[1], seen).items():
                    values.setdefault(k, v)
            elif base is None:
                values.setdefault(INHERITED, [f[1]])   # installation-os, another module's OS
        values[name] = list(f[1:])
    return values


def _bootloader(values) -> str | None:
    if not values:
        return None
    for x in walker.walk(values[0]):
        if head(x) == "bootloader" and len(x) == 2:
            return render(x[1])
    return render(values[0])


def _elements(expr, env, seen=frozenset(), conditional=False):
    """What a list-valued expression holds, as (kind, datum, env) triples: ``item`` for an
    element (``cond-item`` inside a branch of an ``if``), ``rest`` for a list vmfleet cannot
    open (``%base-packages``), ``modify`` for a ``modify-services`` clause, ``removed`` for
    what a ``delete``, ``remove`` or ``filter`` takes out. Follows ``define``d names, ``let``
    bindings and ``(operating-system-packages OS)``-style accessors."""
    for kind, d, e in _elements1(expr, env, seen):
        if conditional and kind == "item":
            kind = "cond-item"
        yield kind, d, e


_OS_ACCESSORS = {"operating-system-packages": "packages",
                 "operating-system-user-services": "services",
                 "operating-system-services": "services",
                 "operating-system-users": "users"}


def _removed_types(pred, env, depth=0):
    """Service types a ``remove``/``filter`` predicate names."""
    if isinstance(pred, Symbol) and str(pred) in env and depth < 5:
        return _removed_types(env[str(pred)], env, depth + 1)
    return [x for x in walker.walk(pred) if isinstance(x, Symbol) and str(x).endswith("-service-type")]


def _elements1(expr, env, seen):
    h0 = head(expr)
    if h0 == "if" and len(expr) in (3, 4):
        for branch in expr[2:]:
            yield from _elements(branch, env, seen, conditional=True)
        return
    if h0 in ("remove", "filter") and len(expr) == 3:
        yield from _elements(expr[2], env, seen)
        for t in _removed_types(expr[1], env):
            yield "removed", t, env
        return
    if h0 == "delete" and len(expr) == 3:
        yield from _elements(expr[2], env, seen)
        yield "removed", expr[1], env
        return
    if h0 in _OS_ACCESSORS and len(expr) == 2:
        base = _resolve_os(expr[1], env, set())
        if base:
            values = _os_fields(base[0], base[1], set()).get(_OS_ACCESSORS[h0])
            if values:
                yield from _elements(values[0], base[1], seen)
                return
    if isinstance(expr, Symbol):
        name = str(expr)
        if name in env and name not in seen:
            yield from _elements(env[name], env, seen | {name})
        else:
            yield "rest", expr, env
        return
    h = head(expr)
    args = expr[1:] if h else []
    if h == "list":
        for a in args:
            yield "item", a, env
    elif h == "append":
        for a in args:
            yield from _elements(a, env, seen)
    elif h == "cons" and len(args) == 2:
        yield "item", args[0], env
        yield from _elements(args[1], env, seen)
    elif h == "cons*" and args:
        for a in args[:-1]:
            yield "item", a, env
        yield from _elements(args[-1], env, seen)
    elif h == "quote" and len(args) == 1 and isinstance(args[0], list):
        for a in args[0]:
            yield "item", [Symbol("quote"), a], env
    elif h == "quasiquote" and len(args) == 1 and isinstance(args[0], list):
        for a in args[0]:
            if head(a) == "unquote" and len(a) == 2:
                yield "item", a[1], env
            elif head(a) == "unquote-splicing" and len(a) == 2:
                yield from _elements(a[1], env, seen)
            else:
                yield "item", [Symbol("quote"), a], env
    elif h == "modify-services" and args:
        yield from _elements(args[0], env, seen)
        for clause in args[1:]:
            yield "modify", clause, env
    elif h in ("map", "specifications->packages") and args:
        specs = args[-1]
        if isinstance(specs, Symbol) and str(specs) in env and str(specs) not in seen:
            specs = env[str(specs)]
        strings = None
        if head(specs) == "quote" and len(specs) == 2 and isinstance(specs[1], list):
            strings = specs[1]
        elif head(specs) == "list":
            strings = specs[1:]
        proc = args[0] if h == "map" and len(args) == 2 else Symbol("specification->package")
        if strings is not None and all(walker.is_string(s) for s in strings) and (
                h != "map" or str(proc).startswith("specification->package")):
            for s in strings:
                yield "item", [proc, s], env
        else:
            yield "rest", expr, env
    elif h in walker.LETS:
        inner, body = walker.let_scope(expr, env)
        if body is None:
            yield "rest", expr, env
        else:
            yield from _elements(body, inner, seen)
    elif h == "begin" and args:
        yield from _elements(args[-1], env, seen)
    else:
        yield "rest", expr, env


def _unquote(d):
    """The data inside ``(quote d)``; d itself otherwise."""
    if head(d) == "quote" and len(d) == 2:
        return d[1]
    return d


def _package_name(d) -> str:
    h = head(d)
    if h in ("specification->package", "specification->package+output") and len(d) == 2 \
            and walker.is_string(d[1]):
        return d[1]
    if h == "list" and len(d) == 3 and walker.is_string(d[2]):  # (list package "output")
        return f"{_package_name(d[1])}:{d[2]}"
    if isinstance(d, Symbol):
        return str(d)
    return render(d)


def _packages(values, env) -> list[tuple[str, str]]:
    """(kind, name) of each package entry: ``item``, ``cond-item``, ``removed``, ``rest``."""
    if not values:
        return []
    return [(kind, _package_name(d) if kind in ("item", "cond-item", "removed") else render(d))
            for kind, d, _ in _elements(values[0], env) if kind != "modify"]


def _users(values, env) -> list[str]:
    if not values:
        return []
    out = []
    for kind, d, e in _elements(values[0], env):
        if kind == "removed":
            continue
        kind = "item" if kind == "cond-item" else kind
        if kind == "item" and isinstance(d, Symbol) and str(d) in e:
            d = e[str(d)]
        if kind == "item" and head(d) == "user-account":
            names = [_string_value(f[1], e) for f in d[1:] if head(f) == "name" and len(f) == 2]
            out.append(names[-1] if names and names[-1] is not None else render(d))
        elif kind == "rest" and (mapped := _mapped_strings(d, e)) is not None:
            out.extend(mapped)  # (map (lambda (name) (user-account (name name) …)) '("a" "b"))
        else:
            out.append(render(d))
    return out


def _string_value(x, env, depth: int = 0) -> str | None:
    """A string literal, or a name ``define``d as one (followed through ``,name``)."""
    if head(x) == "unquote" and len(x) == 2:
        x = x[1]
    if walker.is_string(x):
        return x
    if isinstance(x, Symbol) and str(x) in env and depth < 10:
        return _string_value(env[str(x)], env, depth + 1)
    return None


def _mapped_strings(d, env) -> list[str] | None:
    """The strings a ``(map (lambda (x) …) LIST-OF-STRINGS)`` runs over."""
    if head(d) != "map" or len(d) != 3:
        return None
    lst = d[2]
    if isinstance(lst, Symbol) and str(lst) in env:
        lst = env[str(lst)]
    if head(lst) == "quote" and len(lst) == 2 and isinstance(lst[1], list):
        items = lst[1]
    elif head(lst) == "list":
        items = lst[1:]
    else:
        return None
    values = [_string_value(i, env) for i in items]
    known = [v for v in values if v is not None]
    return None if len(known) < len(values) else known


def _services(values, env, prefixes=()) -> list[ServiceSummary]:
    if not values:
        return []
    out = []
    for kind, d, e in _elements(values[0], env):
        if kind in ("item", "cond-item") and head(d) == "if" and len(d) in (3, 4):
            # (list (if (target-x86-64?) (service a) (service b))): each branch, conditional
            for branch in d[2:]:
                s = _service(branch, e, set())
                out.append(ServiceSummary(s.type, s.config, "conditional")
                           if s.kind == "service" else s)
            continue
        if kind in ("item", "cond-item"):
            s = _service(d, e, set())
            out.append(ServiceSummary(s.type, s.config, "conditional") if kind == "cond-item"
                       and s.kind == "service" else s)
        elif kind == "modify":
            out.append(_modification(d, prefixes))
        elif kind == "removed":
            out.append(ServiceSummary(render(d), "", "deleted"))
        else:
            out.append(ServiceSummary(render(d), "", "base" if isinstance(d, Symbol) else "other"))
    return out


def _service(d, env, seen) -> ServiceSummary:
    if isinstance(d, Symbol):
        name = str(d)
        if name in env and name not in seen and head(env[name]) in ("service", "simple-service"):
            seen.add(name)
            return _service(env[name], env, seen)
        return ServiceSummary(name, "", "other")
    h = head(d)
    if h in walker.LETS:
        inner, body = walker.let_scope(d, env)
        if body is not None:
            return _service(body, inner, seen)
    if h == "service" and len(d) in (2, 3):
        config = ""
        if len(d) == 3:
            c = d[2]
            if isinstance(c, Symbol) and str(c) in env:  # a defined configuration
                c = env[str(c)]
            config = render(c)
        return ServiceSummary(render(d[1]), config, "service")
    if h == "simple-service" and len(d) == 4:
        return ServiceSummary(render(d[2]), f"{render(d[1])} {render(d[3])}", "simple-service")
    if h:
        return ServiceSummary(h, " ".join(render(a) for a in d[1:]), "other")
    return ServiceSummary(render(d), "", "other")


def _modification(clause, prefixes=()) -> ServiceSummary:
    """A ``modify-services`` clause; ``(delete TYPE)`` is a removal, also written with the
    prefix the config imports ``(gnu services)`` with (``(svc:delete gdm-service-type)``)."""
    h = head(clause)
    if h is not None and h != "delete" and any(h == p + "delete" for p in prefixes):
        h = "delete"
    if h == "delete" and len(clause) == 2:
        return ServiceSummary(render(clause[1]), "", "deleted")
    if isinstance(clause, list) and len(clause) >= 4 and clause[2] == Symbol("=>"):
        return ServiceSummary(render(clause[0]), " ".join(render(b) for b in clause[3:]),
                              "modified")
    return ServiceSummary(render(clause), "", "modified")


def _authorized_keys(os_form, services, env) -> list[tuple[str, str, bool]]:
    """(user, key, file-like) from openssh's ``authorized-keys`` (and ``simple-service``
    extensions of openssh-service-type): a ``local-file``'s path, a ``plain-file``'s text,
    else the text as written (a bare string is not file-like)."""
    out: list[tuple[str, str, bool]] = []
    if not services:
        return out
    for value, e in _openssh_key_lists(services[0], env):
        for kind, entry, ee in _elements(value, e):
            if kind in ("item", "cond-item"):
                out.extend(_key_entry(_unquote(entry), ee))
    return out


def _permit_root_login(services, env) -> str | None:
    """The last ``permit-root-login`` written in an openssh configuration, as text."""
    found = None
    if services:
        for value, _e in _openssh_fields(services[0], env, "permit-root-login"):
            v = _unquote(value)
            found = str(v) if isinstance(v, Symbol) else ("#t" if v is True else "#f" if v is False
                                                            else render(v))
    return found


def _user_groups(values, env) -> list[tuple[str, tuple[str, ...]]]:
    """(name, groups) of each ``user-account`` form: its ``group`` and ``supplementary-groups``."""
    out: list[tuple[str, tuple[str, ...]]] = []
    if not values:
        return out
    for kind, d, e in _elements(values[0], env):
        if kind == "item" and isinstance(d, Symbol) and str(d) in e:
            d = e[str(d)]
        if kind != "item" or head(d) != "user-account":
            continue
        fields = {head(f): f[1:] for f in d[1:] if head(f)}
        name = fields.get("name", [None])[0]
        if not walker.is_string(name):
            continue
        groups = []
        if fields.get("group") and walker.is_string(fields["group"][0]):
            groups.append(fields["group"][0])
        for kind2, g, _ in _elements(fields.get("supplementary-groups", [[]])[0], e):
            g = _unquote(g)
            if kind2 == "item" and walker.is_string(g):
                groups.append(g)
        out.append((name, tuple(groups)))
    return out


def _openssh_fields(root, env, name: str):
    """Every ``(NAME value)`` field of openssh configurations reachable from ``root``."""
    stack, seen_names = [root], set()
    while stack:
        x = stack.pop()
        if isinstance(x, Symbol):
            if str(x) in env and str(x) not in seen_names:
                seen_names.add(str(x))
                stack.append(env[str(x)])
        elif head(x) == "openssh-configuration":
            for f in x[1:]:
                if head(f) == name and len(f) == 2:
                    yield f[1], env
        elif isinstance(x, (list, tuple)):
            stack.extend(reversed(x))


def _openssh_key_lists(root, env):
    """Every authorized-keys list in openssh configurations reachable from ``root``, in the
    order written; defined names are followed where they are used."""
    stack, seen_names = [root], set()
    while stack:
        x = stack.pop()
        h = head(x)
        if isinstance(x, Symbol):
            if str(x) in env and str(x) not in seen_names:
                seen_names.add(str(x))
                stack.append(env[str(x)])
        elif h == "openssh-configuration":
            for f in x[1:]:
                if head(f) == "authorized-keys" and len(f) == 2:
                    yield f[1], env
        elif h == "simple-service" and len(x) == 4 and x[2] == Symbol("openssh-service-type"):
            yield x[3], env
        elif isinstance(x, (list, tuple)):
            stack.extend(reversed(x))


def _key_entry(entry, env) -> list[tuple[str, str, bool]]:
    if isinstance(entry, Symbol) and str(entry) in env:
        entry = env[str(entry)]
    h = head(entry)
    if h in ("list", "cons*") and len(entry) >= 2:
        user, keys = entry[1], entry[2:]
    elif h == "cons" and len(entry) == 3:
        user = entry[1]
        keys = [d for kind, d, _ in _elements(entry[2], env) if kind == "item"]
    elif isinstance(entry, list) and entry:
        user, keys = entry[0], entry[1:]
    else:
        return []
    user_text = _string_value(user, env)
    if user_text is None:
        user_text = render(user)
    return [(user_text, *_key_text(k, env)) for k in keys]


def _key_text(k, env, depth: int = 0) -> tuple[str, bool]:
    if head(k) in ("unquote", "quote") and len(k) == 2:
        return _key_text(k[1], env, depth)
    if head(k) == "local-file" and len(k) >= 2 and walker.is_string(k[1]):
        return k[1], True
    if head(k) == "plain-file" and len(k) == 3 and walker.is_string(k[2]):
        return k[2], True
    if walker.is_string(k):
        return k, False
    if isinstance(k, Symbol) and str(k) in env and depth < 20:
        return _key_text(env[str(k)], env, depth + 1)
    return render(k), True
