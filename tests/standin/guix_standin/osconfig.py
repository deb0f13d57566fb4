"""Loading an ``operating-system`` config the way ``guix system`` does, for one revision.

The file is evaluated by the stand-in's own evaluator (evaluate.py; nothing of vmfleet's
reading of configs is used) against the revision the build runs at, and fails where Guix
would:

- a read error -> ``FILE:LINE:COL: missing closing parenthesis`` (guix/ui.scm);
- a package variable the revision does not have, or whose module the file does not import,
  and a service type likewise -> ``FILE:LINE:COL: error: NAME: unbound variable`` and a hint;
- ``(specification->package "x")`` with no such package -> ``guix system: error: x: unknown
  package`` (gnu/packages.scm: no location);
- a ``local-file`` that does not exist -> ``FILE:LINE:COL: error: /abs/path: file not found``;
- a user module not on the load path (``-L``) -> Guile's ``no code for module (…)``;
- the file's last value is not an operating system -> ``'FILE' does not return an operating
  system or an image`` (guix/scripts/system.scm);
- missing required fields -> ``FILE:LINE:COL: error: missing field initializers (…)``
  (``timezone`` is required until f78cfcd7d3f, 2022-10-11: gnu/system.scm);
- ``(permit-root-login 'prohibit-password)`` before ef3f38ea002 (2021-06-20): the ``match``
  of gnu/services/ssh.scm has no such clause, Guile throws ``match-error``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from vmfleet.guix.reader import Symbol

from . import history
from .errors import GuileException, GuileThrow, GuixError, Unsupported
from .evaluate import Evaluator, Hooks, Opaque, Package, Record, Service, Thunk, Unbound
from .evaluate import LocalFile as EvLocalFile
from .history import PackageSpec, Revision

REQUIRED_FIELDS = ("bootloader", "host-name", "file-systems", "timezone")
# gnu/system.scm@f78cfcd7d3f:268-269: (timezone … (default "Etc/UTC")) from 2022-10-11
DEFAULT_TIMEZONE = "Etc/UTC"
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
    data: bytes           # a file's contents ('' for a directory)
    tree: tuple[tuple[str, bytes], ...] | None = None    # #:recursive? #t on a directory

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Account:
    """A ``user-account`` (gnu/system/accounts.scm)."""

    name: str
    group: str = "users"
    supplementary_groups: tuple[str, ...] = ()
    home: str = ""


@dataclass(frozen=True)
class Source:
    """A Scheme file the config read: itself, a user module, an include or a load."""

    path: str
    data: bytes
    kind: str


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
    bootloader: str = ""                          # the bootloader variable, as written
    accounts: tuple[Account, ...] = ()
    root_login: str = "#f"                        # openssh's permit-root-login, as written
    sources: tuple[Source, ...] = ()
    load_path: tuple[str, ...] = ()
    expression: str | None = None                 # -e EXPR instead of a file
    # (user, text) of keys written as strings: openssh-authorized-keys fails to build
    # (gnu/services/ssh.scm: each key is opened with call-with-input-file)
    string_keys: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None                        # set when a value depended on guix's cwd


def hooks_for(rev: Revision) -> Hooks:
    pkgs = history.packages(rev)
    types = history.service_types(rev)

    def default_channels():
        return [Record("channel", {
            "name": Symbol("guix"), "url": rev.default_url, "branch": "master",
            "introduction": Record("channel-introduction", {
                "commit": history.INTRODUCTION_COMMIT,
                "signer": history.INTRODUCTION_SIGNER})})]

    return Hooks(
        package=lambda name: pkgs.get(name),
        package_module=lambda name: pkgs[name].module if name in pkgs else None,
        specification=lambda spec: history.find_specification(rev, spec),
        service_type=lambda name: types.get(name),
        base_packages=lambda: [pkgs[v] for v in history.base_packages(rev) if v in pkgs],
        default_channels=default_channels,
    )


def show(value) -> str:
    """Canonical Scheme text of an evaluated value (what a shepherd file records)."""
    if value is None:
        return "#f"
    if value is True:
        return "#t"
    if value is False:
        return "#f"
    if isinstance(value, Symbol):
        return f"'{value}"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "(" + " ".join(show(v) for v in value) + ")"
    if isinstance(value, Record):
        return "(" + " ".join([value.type] + [f"({k} {show(v)})" for k, v in
                                              value.fields.items()]) + ")"
    if isinstance(value, Package):
        return value.spec.full_name + ("" if value.output == "out" else f":{value.output}")
    if isinstance(value, EvLocalFile):
        return f'(local-file "{value.written}")'
    if isinstance(value, Service):
        return f"(service {value.type} {show(value.value)})"
    if isinstance(value, Opaque):
        return value.text
    return str(value)


def _unbound(e: Unbound, interpreted: bool = False) -> GuixError:
    """guix/ui.scm@8e2f32cee98:159-200 (report-unbound-variable-error): the location, or, in a
    config Guile fell back to interpreting (Evaluator.user_module), the interpreter's frame
    (Guile 3.0.8's, as v1.4.0 printed it for tests/corpus/repo2/src/wren/systems/kiosk.scm)."""
    hint = (f"Did you forget `(use-modules {e.module_hint})'?" if e.module_hint
            else "Did you forget a `use-modules' form?")
    message = f"{_written_symbol(e.name)}: unbound variable"
    if interpreted:
        return GuixError(message, lines_before=("ice-9/eval.scm:223:20: In procedure proc:",),
                         hints=(hint,), unlocated=True)
    return GuixError(message, location=e.where, hints=(hint,))


def _written_symbol(name: str) -> str:
    """A symbol as Guile's write prints it: ``#{\\x0;…}#`` when it holds control characters."""
    if all(c.isprintable() for c in name):
        return name
    inner = "".join(c if c.isprintable() else f"\\x{ord(c):x};" for c in name)
    return "#{" + inner + "}#"


def _flat(value) -> list:
    out = []
    for v in value if isinstance(value, list) else [value]:
        out.extend(_flat(v) if isinstance(v, list) else [v])
    return out


def _read_local(ev: Evaluator, lf: EvLocalFile) -> LocalFile:
    p = lf.path
    if ev.files is not None:
        if p in ev.files:
            return LocalFile(lf.written, Path(p), ev.files[p])
        prefix = p.rstrip("/") + "/"
        tree = tuple(sorted((k[len(prefix):], v) for k, v in ev.files.items()
                            if k.startswith(prefix)))
        if tree and lf.recursive:
            return LocalFile(lf.written, Path(p), b"", tree)
        raise _no_local_file(p)
    path = Path(p)
    if path.is_dir() and lf.recursive:
        files = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for n in sorted(names):
                f = Path(root) / n
                files.append((str(f.relative_to(path)), f.read_bytes()))
        return LocalFile(lf.written, path, b"", tuple(files))
    try:
        return LocalFile(lf.written, path, path.read_bytes())
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise _no_local_file(p) from None


def _no_local_file(p: str) -> GuixError:
    """local-file's name is canonicalized when the file is interned (absolute-file-name,
    guix/gexp.scm@8e2f32cee98:472-480): the system-error names canonicalize-path, no location."""
    return GuixError(f'canonicalize-path: No such file or directory: "{p}"')


def load(config_path: str | None, rev: Revision, *, text: str | None = None,
         file_data: dict[str, bytes] | None = None,
         load_path: tuple[str, ...] = (), expression: str | None = None,
         cwd: str | None = None) -> SystemConfig:
    """Evaluate and check a config for a revision; GuixError the way Guix reports problems.

    ``file_data`` (absolute file name -> contents: the config, its modules, includes and
    local files) stands in for the files on disk: a derivation holds them, so ``guix build
    DRV`` rebuilds the same system after the config's folder is gone.

    ``expression`` instead of a file: ``guix system -e EXPR`` (guix/scripts/system.scm: read/eval
    in a user module; the OS's provenance then names no configuration file).

    ``cwd``: the directory guix runs in (default: this process's); a file's
    ``(current-filename)`` can depend on it (Evaluator.current_filename)."""
    ev = Evaluator(hooks_for(rev), load_path=tuple(load_path), files=file_data, given=config_path,
                   relative_names=expression is None, cwd=cwd or os.getcwd(),
                   thunked_services=rev.has("services-thunked"))
    if expression is not None:
        config_path = path = expression
        try:
            os_value = ev.load_expression(expression)
        except (Unbound, GuixError) as e:
            # guix/ui.scm@8e2f32cee982:865-869, read/eval: report-error, then Guile's reason
            reason = _unbound(e).render().splitlines()[0] if isinstance(e, Unbound) \
                else e.render().rstrip("\n")
            raise GuixError(f"failed to evaluate expression '{expression}':",
                            lines_after=tuple(reason.splitlines())) from None
    else:
        path = str(Path(config_path).absolute())
        if text is not None:
            file_data = {**(file_data or {}), path: text.encode()}
            ev.files = file_data
        if file_data is None and not Path(path).exists():
            raise GuixError(f"failed to load '{config_path}': No such file or directory")
        try:
            os_value = ev.load_file(path)
        except Unbound as e:
            raise _unbound(e, ev.interpreted) from None
        except RecursionError:
            raise GuixError(f"failed to load '{config_path}': stack overflow") from None
    if not (isinstance(os_value, Record) and os_value.type == "operating-system"):
        # guix/scripts/system.scm: the type check came with ce10e6053bb (2019-05-16);
        # "or an image" with 6e8cdf1d260 (2021-02-17)
        if rev.has("os-or-image"):
            raise GuixError(f"'{config_path}' does not return an operating system or an image")
        if rev.has("os-type-check"):
            raise GuixError(f"'{config_path}' does not return an operating system")
        raise Unsupported(f"stand-in: '{config_path}' is not an operating system; this guix "
                          "does not check (it fails later, in Guile, in a way the stand-in "
                          "does not model)")
    fields = os_value.fields
    required = [f for f in REQUIRED_FIELDS
                if not (f == "timezone" and rev.has("timezone-default"))]
    missing = [f for f in required if f not in fields]
    if missing:
        # guix/records.scm@8e2f32cee98:252-256 raises a syntax-violation with the whole form;
        # guix/ui.scm@8e2f32cee98:379-382 writes it (~s) before the message, unabbreviated
        form = f"{os_value.form}: " if os_value.form else ""
        raise GuixError(f"{form}missing field initializers ({' '.join(missing)})",
                        location=os_value.where)
    if isinstance(fields.get("services"), Thunk):
        # forced while the image is lowered, outside load*'s handler: Guile's backtrace, then
        # guix/ui.scm@8e2f32cee98:159's bare "error: ~a: unbound variable" (no location, no hint)
        name = _written_symbol(fields["services"].unbound.name)
        raise GuileException(f"error: {name}: unbound variable")
    text = ev.sources[0].data.decode("utf-8", "replace") if ev.sources else expression or ""

    kernel = history.packages(rev)["linux-libre"]
    k = fields.get("kernel")
    if isinstance(k, Package):
        if k.spec.name != "linux-libre":
            raise GuixError(f"{k.variable}: not a Linux-libre kernel package",
                            location=os_value.where)
        kernel = k.spec

    requested = [Requested(p.spec, p.output) for p in _flat(fields.get("packages", []))
                 if isinstance(p, Package)]

    pkgs = history.packages(rev)
    services: list[tuple[str, str]] = []
    service_pkgs: list[PackageSpec] = []
    base = False
    ssh_conf = None
    dropbear_root = False
    for s in _flat(fields.get("services", [])):
        if not isinstance(s, Service):
            continue
        if s.type in BASE_MARKERS:
            base = True
            continue
        services.append((s.type, show(s.value) if s.value is not None else ""))
        if s.type == "openssh-service-type":
            ssh_conf = s.value
        if s.type == "dropbear-service-type" and isinstance(s.value, Record) \
                and s.value.fields.get("root-login?") is True:
            dropbear_root = True         # gnu/services/ssh.scm: root-login? defaults to #f
        for var in history.SERVICE_PACKAGES.get(s.type, ()):
            chosen = None
            if var == "postgresql" and isinstance(s.value, Record):
                v = s.value.fields.get("postgresql")
                if isinstance(v, Package):
                    chosen = v.spec
            if chosen is None and var in pkgs:
                chosen = pkgs[var]
            if chosen is not None:
                service_pkgs.append(chosen)
    if base:
        service_pkgs += [pkgs[v] for v in history.BASE_SERVICE_PACKAGES if v in pkgs]
        if "rottlog" in pkgs:      # %base-services rotated logs with rottlog until 2024
            service_pkgs.append(pkgs["rottlog"])

    files = [_read_local(ev, lf) for lf in ev.local_files]
    by_path = {str(f.path): f for f in files}

    keys: list[tuple[str, str]] = []
    string_keys: list[tuple[str, str]] = []
    root_login = "#f"                      # gnu/services/ssh.scm: permit-root-login #f
    if isinstance(ssh_conf, Record):
        for entry in _flat_pairs(ssh_conf.fields.get("authorized-keys", [])):
            user, *rest = entry
            for key in rest:
                if isinstance(key, EvLocalFile):
                    f = by_path.get(key.path)
                    keys.append((str(user), f.data.decode("utf-8", "replace") if f else ""))
                elif isinstance(key, str):
                    string_keys.append((str(user), key))
        if "permit-root-login" in ssh_conf.fields:
            root_login = show(ssh_conf.fields["permit-root-login"])
        if root_login == "'prohibit-password" and not rev.has("prohibit-password"):
            # gnu/services/ssh.scm@a0178d34f582:441-444: (match … (#t "yes") (#f "no")
            # ('without-password "without-password")), evaluated while lowering sshd_config
            raise GuileThrow("match-error", '("match" "no matching pattern" prohibit-password)')
    elif dropbear_root:
        root_login = "#t"

    accounts = []
    for u in _flat(fields.get("users", [])):
        if isinstance(u, Record) and u.type == "user-account" \
                and isinstance(u.fields.get("name"), str):
            name = u.fields["name"]
            groups = u.fields.get("supplementary-groups", [])
            home = u.fields.get("home-directory")
            accounts.append(Account(
                name, u.fields.get("group") if isinstance(u.fields.get("group"), str)
                else "users",
                tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list)
                else (),
                home if isinstance(home, str) else f"/home/{name}"))

    bootloader = fields.get("bootloader")
    bootloader_var = show(bootloader.fields.get("bootloader")) \
        if isinstance(bootloader, Record) else ""
    efi = bootloader_var.startswith("grub-efi")

    def text_of(name: str, default: str) -> str:
        v = fields.get(name)
        return v if isinstance(v, str) else default

    return SystemConfig(
        path=Path(path), text=text, expression=expression, cwd=ev.cwd if ev.cwd_used else None,
        host_name=text_of("host-name", "guix"),
        timezone=text_of("timezone", DEFAULT_TIMEZONE),
        locale=text_of("locale", "en_US.utf8"),
        kernel=kernel,
        packages=tuple(requested),
        services=tuple(services),
        base_services=base,
        service_packages=tuple(service_pkgs),
        users=tuple(a.name for a in accounts),
        authorized_keys=tuple(keys),
        local_files=tuple(files),
        efi_bootloader=efi,
        bootloader=bootloader_var,
        accounts=tuple(accounts),
        root_login=root_login,
        sources=tuple(Source(s.path, s.data, s.kind) for s in ev.sources),
        load_path=tuple(load_path),
        string_keys=tuple(string_keys),
    )


def _flat_pairs(value) -> list[list]:
    """authorized-keys entries: ``("user" KEY …)`` lists."""
    return [e for e in value if isinstance(e, list) and e and isinstance(e[0], str)] \
        if isinstance(value, list) else []
