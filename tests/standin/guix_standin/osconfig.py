"""Reading an ``operating-system`` config the way ``guix system`` would fail on it.

The declaration is read with ``vmfleet.scheme`` (``read_forms`` and ``summarize_os``): the
stand-in evaluates nothing, it checks what Guix would check when loading the file against the
revision the build runs at:

- a read error (unbalanced parentheses, a bad string) -> ``FILE:LINE:COL: error: …``;
- a package variable the revision does not have, or whose module the file does not import,
  and a service type likewise -> ``FILE:LINE:COL: error: NAME: unbound variable`` and a hint;
- ``(specification->package "x")`` with no such package -> ``… error: x: unknown package``;
- a ``local-file`` that does not exist -> ``… error: /abs/path: file not found``;
- missing required fields -> ``… error: missing field initializers (…)``.

Locations are those Guile gives: the enclosing list's line (from 1) and column (from 0).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from vmfleet.errors import SchemeError
from vmfleet.scheme import Form, Symbol, head, read_forms, summarize_os

from . import history
from .channels import scheme_error
from .errors import GuixError
from .history import PackageSpec, Revision

REQUIRED_FIELDS = ("bootloader", "host-name", "file-systems", "timezone")
BASE_MARKERS = ("%base-services", "%desktop-services")


@dataclass(frozen=True)
class Requested:
    """A package the profile asked for."""

    spec: PackageSpec
    output: str = "out"


@dataclass(frozen=True)
class LocalFile:
    written: str          # as written in the config
    path: Path            # absolute
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class SystemConfig:
    path: Path
    text: str
    host_name: str
    timezone: str
    locale: str
    kernel: PackageSpec
    packages: tuple[Requested, ...]
    services: tuple[tuple[str, str], ...]        # (service type, canonical config text)
    base_services: bool
    service_packages: tuple[PackageSpec, ...]
    users: tuple[str, ...]
    authorized_keys: tuple[tuple[str, str], ...]  # (user, key text)
    local_files: tuple[LocalFile, ...]
    efi_bootloader: bool = False                  # a grub-efi* bootloader (gnu/bootloader/grub.scm)


def _walk_forms(datum):
    if isinstance(datum, list):
        if isinstance(datum, Form):
            yield datum
        for x in datum:
            yield from _walk_forms(x)


class _Locator:
    """Finds where things are written, as Guile would report them (the enclosing list)."""

    def __init__(self, forms: list, filename: str):
        self.forms = forms
        self.filename = filename

    @staticmethod
    def _loc(form: Form) -> tuple[int, int]:
        return (form.line or 1, max((form.col or 1) - 1, 0))

    def where(self, form: Form | None) -> str:
        line, col = self._loc(form) if form is not None else (1, 0)
        return f"{self.filename}:{line}:{col}"

    def symbol(self, name: str, within: str | None = None) -> str:
        scope = self.forms
        if within:
            for f in _walk_forms(self.forms):
                if head(f) == within:
                    scope = [f]
                    break
        for forms in (scope, self.forms):
            for f in _walk_forms(forms):
                if any(isinstance(x, Symbol) and str(x) == name for x in f):
                    return self.where(f)
        return self.where(None)

    def call(self, function: str, first_arg: str) -> str:
        for f in _walk_forms(self.forms):
            if head(f) == function and len(f) >= 2 and f[1] == first_arg:
                return self.where(f)
        return self.where(None)

    def os_form(self) -> str:
        for f in _walk_forms(self.forms):
            if head(f) == "operating-system":
                return self.where(f)
        return self.where(None)

    def imported(self) -> set[tuple[str, str]]:
        """(kind, module) pairs imported: ('packages', 'web'), ('services', 'ssh'), …"""
        out: set[tuple[str, str]] = set()
        for f in self.forms:
            h = head(f)
            if h in ("use-service-modules", "use-package-modules", "use-system-modules"):
                kind = h.split("-")[1] + "s"
                out.update((kind, str(m)) for m in f[1:] if isinstance(m, Symbol))
            elif h == "use-modules":
                for spec in f[1:]:
                    if isinstance(spec, list) and spec and isinstance(spec[0], list):
                        spec = spec[0]
                    names = [str(x) for x in spec] if isinstance(spec, list) else []
                    if names == ["gnu"]:
                        out.add(("gnu", ""))
                    elif len(names) >= 3 and names[0] == "gnu":
                        out.add((names[1], " ".join(names[2:])))
        return out


def _fail(message: str, location: str, *hints: str) -> GuixError:
    return GuixError(message, location=location, hints=tuple(hints))


def _unbound(name: str, location: str, module: tuple[str, str] | None) -> GuixError:
    if module:
        kind, mod = module
        hint = f"Did you forget `(use-modules (gnu {kind} {mod}))'?"
    else:
        hint = "Did you forget a `use-modules' form?"
    return _fail(f"{name}: unbound variable", location, hint)


def load(config_path: str, rev: Revision, *, text: str | None = None,
         file_data: dict[str, bytes] | None = None) -> SystemConfig:
    """Read and check a config for a revision; GuixError the way Guix reports problems.

    ``text`` and ``file_data`` (absolute file name -> contents of its local files) stand in for
    the files on disk: a derivation holds them, so ``guix build DRV`` rebuilds the same
    system after the config's folder is gone."""
    path = Path(config_path).absolute()
    try:
        if text is None:
            text = path.read_text()
    except FileNotFoundError:
        raise GuixError(f"failed to load '{config_path}': No such file or directory") from None
    except (IsADirectoryError, PermissionError) as e:
        raise GuixError(f"failed to load '{config_path}': {e.strerror}") from None
    except UnicodeDecodeError:
        raise GuixError(f"failed to load '{config_path}': Decoding error") from None
    try:
        forms = read_forms(text, config_path)
        summary = summarize_os(text, config_path)
    except SchemeError as e:
        if "no operating-system declaration" in e.message:
            raise GuixError(f"'{config_path}' does not return an operating system or an image",
                            hints=("Make sure the file's last expression evaluates to an "
                                   "`operating-system' record.",)) from None
        raise scheme_error(e, "guix system") from None
    loc = _Locator(forms, config_path)
    imported = loc.imported()

    missing = [f for f in REQUIRED_FIELDS if f not in summary.fields]
    if missing:
        raise _fail(f"missing field initializers ({' '.join(missing)})", loc.os_form())

    pkgs = history.packages(rev)
    defined = _defined(forms)

    def variable(name: str, within: str | None) -> PackageSpec:
        if name in defined and name not in pkgs:
            # A package the file defines, e.g. (define my-nginx (package (inherit nginx) …)):
            # the stand-in stands in with the package it inherits from.
            base = _inherited(defined[name])
            if base is None:
                raise _fail(f"{name}: not a package the stand-in can build",
                            loc.symbol(name, within),
                            "the stand-in knows packages that inherit from a Guix package")
            return variable(base, None)
        spec = pkgs.get(name)
        if spec is None:
            raise _unbound(name, loc.symbol(name, within), None)
        if ("packages", spec.module) not in imported:
            raise _unbound(name, loc.symbol(name, within), ("packages", spec.module))
        return spec

    # kernel
    kernel = pkgs["linux-libre"]
    if summary.kernel and re.fullmatch(r"[\w+.-]+", summary.kernel):
        kernel = variable(summary.kernel, "kernel")
        if kernel.name != "linux-libre":
            raise _fail(f"{summary.kernel}: not a Linux-libre kernel package",
                        loc.symbol(summary.kernel, "kernel"))

    # packages
    requested: list[Requested] = []
    spec_calls = {f[1] for f in _walk_forms(forms)
                  if head(f) in ("specification->package", "specification->package+output")
                  and len(f) >= 2 and isinstance(f[1], str) and not isinstance(f[1], Symbol)}
    spec_calls |= {s for f in _walk_forms(forms) if head(f) == "specifications->packages"
                   for s in _strings(f)}
    for entry in summary.packages:
        if entry in ("%base-packages", "%base-packages-interactive"):
            requested += [Requested(pkgs[v]) for v in history.base_packages(rev) if v in pkgs]
            continue
        if entry.startswith(("(", "%", "#")):
            continue  # computed, or another list: nothing the stand-in can check
        if entry in spec_calls:
            found = history.find_specification(rev, entry)
            if found is None:
                where = loc.call("specification->package", entry)
                raise _fail(f"{entry.split(':')[0]}: unknown package", where)
            output = entry.split(":", 1)[1] if ":" in entry else "out"
            requested.append(Requested(found, output))
        else:
            name, _, output = entry.partition(":")
            requested.append(Requested(variable(name, "packages"), output or "out"))

    # services
    types = history.service_types(rev)
    services: list[tuple[str, str]] = []
    base = False
    service_pkgs: list[PackageSpec] = []
    for s in summary.services:
        if s.kind == "base":
            if s.type in BASE_MARKERS:
                base = True
            continue
        if s.kind == "other" or not re.fullmatch(r"[^\s()#\"']+", s.type) \
                or s.type in defined:
            continue
        module = types.get(s.type)
        where = loc.symbol(s.type)
        if module is None:
            raise _unbound(s.type, where, None)
        if module != "base" and ("services", module) not in imported:
            raise _unbound(s.type, where, ("services", module))
        if s.kind in ("deleted",):
            continue
        services.append((s.type, s.config))
        for var in history.SERVICE_PACKAGES.get(s.type, ()):
            if var == "postgresql":
                m = re.search(r"\(postgresql ([^\s()]+)\)", s.config)
                if m:
                    service_pkgs.append(variable(m.group(1), None))
                    continue
            if var in pkgs:
                service_pkgs.append(pkgs[var])
    if base:
        service_pkgs += [pkgs[v] for v in history.BASE_SERVICE_PACKAGES if v in pkgs]
        if "rottlog" in pkgs:      # %base-services rotated logs with rottlog until 2024
            service_pkgs.append(pkgs["rottlog"])

    # local files
    files: list[LocalFile] = []
    for written in summary.local_files:
        p = Path(written) if written.startswith("/") else path.parent / written
        try:
            data = file_data[str(p)] if file_data is not None else p.read_bytes()
        except (KeyError, FileNotFoundError, IsADirectoryError, PermissionError):
            raise _fail(f"{p}: file not found", loc.call("local-file", written)) from None
        files.append(LocalFile(written, p, data))
    by_written = {f.written: f for f in files}

    keys = []
    for user, key in summary.authorized_keys:
        f = by_written.get(key)
        keys.append((user, f.data.decode("utf-8", "replace") if f else key))

    users = tuple(u for u in summary.users if re.fullmatch(r"[a-z_][a-z0-9_-]*", u))
    efi = any(head(f) == "bootloader" and len(f) == 2 and isinstance(f[1], Symbol)
              and str(f[1]).startswith("grub-efi") for f in _walk_forms(forms))
    return SystemConfig(
        path=path, text=text,
        host_name=summary.host_name or "guix",
        timezone=summary.timezone or "UTC",
        locale=summary.locale or "en_US.utf8",
        kernel=kernel,
        packages=tuple(requested),
        services=tuple(services),
        base_services=base,
        service_packages=tuple(service_pkgs),
        users=users,
        authorized_keys=tuple(keys),
        local_files=tuple(files),
        efi_bootloader=efi,
    )


def _strings(form) -> list[str]:
    out = []
    for x in form[1:]:
        if isinstance(x, list):
            out += [s for s in x if isinstance(s, str) and not isinstance(s, Symbol)]
            out += _strings(x)
    return out


def _defined(forms) -> dict:
    """Top-level ``(define NAME EXPR)`` forms of the file: {NAME: EXPR}."""
    out = {}
    for f in forms:
        if head(f) in ("define", "define-public") and len(f) == 3 and isinstance(f[1], Symbol):
            out[str(f[1])] = f[2]
    return out


def _inherited(expr) -> str | None:
    for f in _walk_forms([expr]):
        if head(f) == "inherit" and len(f) == 2 and isinstance(f[1], Symbol):
            return str(f[1])
    return None
