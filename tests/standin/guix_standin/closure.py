"""The store items of a system, named the way Guix names them.

Packages are input-addressed, as Guix's derivations are: a package's store file name derives
from its name, version, source and the file names of its inputs (plus the toolchain: glibc,
gcc and binutils), so upgrading a dependency renames everything that depends on it. Files
Guix adds as text (``configuration.scm``, ``provenance``, a ``local-file``) are
content-addressed. File names are computed without building anything, so a cached image is
found at once; the contents (``Item.node``) are only made when the image is built.

Most packages are placeholders (a README, a command that prints the version, a little
incompressible data so that sizes differ between versions); busybox, dropbear, the libraries
dropbear links against and the kernel are the real binaries the guest runs (see guest.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from . import guest, history, tree
from .channels import Resolved, channels_scm, provenance
from .history import PackageSpec, Revision
from .nix import store_hash
from .osconfig import SystemConfig
from .settings import Knobs
from .tree import File, Link, Node

STORE = "/gnu/store"
# %base-groups (gnu/system/shadow.scm), the ones users name: gid by group
_GIDS = {"root": 0, "wheel": 1, "users": 100, "audio": 17, "video": 26, "kvm": 27,
         "netdev": 28, "input": 22, "dialout": 20}
SKELETONS = (".bash_profile", ".bashrc", ".zprofile", ".nanorc", ".Xdefaults", ".guile",
             ".gdbinit")
NETWORK_SERVICES = {"dhcp-client-service-type", "dhcpcd-service-type",
                    "network-manager-service-type", "static-networking-service-type",
                    "connman-service-type"}


@dataclass
class Item:
    name: str
    hash: str
    refs: tuple[str, ...]
    make: Callable[[], Node] | None = None
    node_value: Node | None = None
    kind: str = "derivation"           # or 'text' (content-addressed)
    deps: tuple[Item, ...] = ()        # for the build plan

    @property
    def path(self) -> str:
        return f"{STORE}/{self.hash}-{self.name}"

    @property
    def drv(self) -> str:
        return f"{STORE}/{store_hash('drv', self.hash, self.name)}-{self.name}.drv"

    @cached_property
    def node(self) -> Node:
        if self.node_value is not None:
            return self.node_value
        return self.make()


def text_item(name: str, data: bytes | str, refs=(), executable: bool = False) -> Item:
    if isinstance(data, str):
        data = data.encode()
    refs = tuple(sorted(set(refs)))
    h = store_hash("text", name, hashlib.sha256(data).hexdigest(), str(executable), *refs)
    return Item(name, h, refs, node_value=File(data=data, executable=executable), kind="text")


def dir_item(name: str, files: dict[str, Node], refs=(), *, addressed_by=None) -> Item:
    """A directory item; content-addressed unless ``addressed_by`` (input-addressed parts)."""
    node = tree.build(files)
    refs = tuple(sorted(set(refs)))
    key = addressed_by if addressed_by is not None else tree.digest(node)
    return Item(name, store_hash("dir", name, key, *refs), refs, node_value=node)


@dataclass
class Closure:
    revision: Revision
    items: dict[str, Item] = field(default_factory=dict)   # path -> item
    system: Item | None = None
    kernel: Item | None = None
    initrd: Item | None = None
    grub: Item | None = None
    packages: tuple[tuple[PackageSpec, str, Item], ...] = ()   # manifest entries
    users: tuple[tuple[str, int], ...] = ()
    authorized_keys: tuple[tuple[str, str], ...] = ()
    host_name: str = ""
    timezone: str = ""
    busybox: Item | None = None
    glibc: Item | None = None
    etc: Item | None = None

    def add(self, item: Item) -> Item:
        self.items.setdefault(item.path, item)
        return self.items[item.path]

    def closure_of(self, roots: list[Item]) -> list[Item]:
        seen: dict[str, Item] = {}
        todo = [r.path for r in roots]
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen[p] = self.items[p]
            todo.extend(seen[p].refs)
        return [seen[p] for p in sorted(seen)]


class Builder:
    """Computes the items of one system for one revision (names first, contents lazily)."""

    def __init__(self, rev: Revision, config: SystemConfig, channels: tuple[Resolved, ...],
                 *, save_provenance: bool, knobs: Knobs, host: Callable, kernel: Callable,
                 root_uuid: str | None = None):
        self.rev = rev
        # vm-image: the root file system is found by this UUID and has no label
        # (gnu/system/vm.scm@a099685659b4, system-qemu-image: (device root-uuid))
        self.root_uuid = root_uuid
        self.config = config
        self.channels = channels
        self.save_provenance = save_provenance
        self.knobs = knobs
        self._host = host          # -> guest.HostBinaries (only when contents are made)
        self._kernel = kernel      # -> kernel.Kernel
        self.vars = history.packages(rev)
        self.by_name: dict[str, PackageSpec] = {}
        for var, spec in self.vars.items():
            if var == spec.name or spec.name not in self.by_name:
                self.by_name[spec.name] = spec
        self.closure = Closure(rev)
        self._pkg_cache: dict[str, Item] = {}

    # --- packages ----------------------------------------------------------------------------
    def package(self, spec: PackageSpec) -> Item:
        """The store item of ``spec`` as the system uses it: with grafts (Guix's default), a
        package with a replacement is the replacement's item (guix/packages.scm@60c97924e95:
        1692, ``package->bag`` takes the replacement when grafting), and whatever refers to
        it refers to the replacement (graft-derivation rewrites the references:
        guix/grafts.scm@60c97924e95:90), so the original is not in the closure."""
        replaced = history.replacement(self.rev, spec)
        if replaced is not None:
            spec = replaced
        key = spec.full_name
        if key in self._pkg_cache:
            return self._pkg_cache[key]
        name = spec.name
        deps = list(history.DEPENDENCIES.get(name, ()))
        if name not in history.NO_LIBC:
            deps.append("glibc")
        dep_items = [self.package(self.by_name[d]) for d in dict.fromkeys(deps)
                     if d in self.by_name]
        source = self.source_hash(spec)
        if name in history.TOOLCHAIN:
            toolchain = "bootstrap" if name != "glibc" else store_hash(
                "toolchain", *(self.package(self.by_name[t]).hash for t in ("gcc", "binutils")))
        else:
            toolchain = store_hash("toolchain", *(self.package(self.by_name[t]).hash
                                                  for t in history.TOOLCHAIN))
        h = store_hash("package", name, spec.version, source, toolchain,
                       *sorted(d.hash for d in dep_items))
        item = Item(spec.full_name, h, tuple(d.path for d in dep_items),
                    deps=tuple(dep_items))
        item.make = lambda item=item, spec=spec: self.package_node(spec, item)
        self._pkg_cache[key] = item
        return self.closure.add(item)

    def output_item(self, spec: PackageSpec, output: str, out_item: Item) -> Item:
        """A package's other output (``gcc:lib`` -> ``gcc-11.3.0-lib``): Guix names it
        NAME-VERSION-OUTPUT, from the same derivation as the ``out`` output."""
        h = store_hash("output", out_item.hash, output)
        item = Item(f"{spec.full_name}-{output}", h, out_item.refs, deps=out_item.deps)
        files = {f"share/doc/{spec.full_name}-{output}/README": File(data=(
            f"{spec.name} {spec.version}, output {output}: a stand-in placeholder\n").encode())}
        item.make = lambda: tree.build(files)
        return self.closure.add(item)

    def source_hash(self, spec: PackageSpec) -> str:
        salt = "drifted" if spec.name in self.knobs.drift else ""
        return store_hash("source", spec.name, spec.version, salt)

    def source_path(self, spec: PackageSpec) -> str:
        return f"{STORE}/{self.source_hash(spec)}-{spec.full_name}.tar.gz"

    def package_node(self, spec: PackageSpec, item: Item) -> Node:
        name, version = spec.name, spec.version
        files: dict[str, Node] = {
            f"share/doc/{name}-{version}/README": File(data=(
                f"{name} {version}\n\nThis is {item.path}, built by the vmfleet guix "
                "stand-in: a placeholder for the real package.\n").encode()),
        }
        # The size follows the version (a rebuild of the same version keeps its size, as in
        # Guix); the bytes follow the source: a package rebuilt only because an input changed
        # differs from before only in the store file names it holds (here its own, in the
        # README), which is how the daemon finds references (nix/libstore/build.cc@43770a9d8ac:
        # 3250, scanForReferences); a changed source (VMFLEET_STANDIN_DRIFT) changes content.
        size = 4096 + int(hashlib.sha256(spec.full_name.encode()).hexdigest()[:8], 16) % 61440
        files[f"lib/{name}/{name}.data"] = File(filler=(self.source_path(spec), size))
        for cmd in history.COMMANDS.get(name, ()):
            files[cmd] = File(data=(f"#!/bin/sh\n# {name} {version}: a stand-in placeholder\n"
                                    f"echo '{name} {version}'\n").encode(), executable=True)
        host = None
        if name in ("busybox", "dropbear", "openssh") or name in guest.SONAME_PACKAGES.values():
            host = self._host()
        if name == "busybox":
            files["bin/busybox"] = File(source=host.busybox, executable=True)
            for applet in host.applets:        # the root's /bin points here
                if applet != "busybox":
                    files[f"bin/{applet}"] = Link("busybox")
        elif name == "dropbear":
            files["sbin/dropbear"] = File(source=host.dropbear, executable=True)
            files["bin/dropbearkey"] = File(source=host.dropbearkey, executable=True)
        elif name == "openssh":            # Debian's sshd and ssh-keygen, their libraries
            files["sbin/sshd"] = File(source=host.sshd, executable=True)
            files["bin/ssh-keygen"] = File(source=host.ssh_keygen, executable=True)
            for soname, path in host.ssh_libraries:
                files[f"lib/{soname}"] = File(source=path, executable=True)
        elif name == "linux-libre":
            files["bzImage"] = File(source=str(self._kernel().bzimage))
            del files[f"lib/{name}/{name}.data"]
        if host is not None:
            for soname, path in host.libraries.get(name, ()):
                files[f"lib/{soname}"] = File(source=path, executable=True)
        return tree.build(files)

    # --- the system --------------------------------------------------------------------------
    def build(self) -> Closure:
        c = self.closure
        cfg = self.config
        v = self.vars
        busybox = self.package(v["busybox"])
        dropbear = self.package(v["dropbear"])
        glibc = self.package(v["glibc"])
        kernel = self.package(cfg.kernel)
        c.busybox, c.glibc, c.kernel = busybox, glibc, kernel
        bb = f"{busybox.path}/bin/busybox"
        lib_items = [self.package(self.by_name[n]) for n in
                     ("glibc", "zlib", "libxcrypt", "libtomcrypt", "libtommath", "gmp")]
        lib_path = ":".join(f"{i.path}/lib" for i in lib_items)

        # packages the config asked for, then those its services bring
        manifest: list[tuple[PackageSpec, str, Item]] = []
        seen = set()
        for req in cfg.packages:
            item = self.package(req.spec)
            if req.output != "out":
                item = self.output_item(req.spec, req.output, item)
            if (item.path, req.output) not in seen:
                seen.add((item.path, req.output))
                manifest.append((req.spec, req.output, item))
        service_items = [self.package(s) for s in cfg.service_packages]
        c.packages = tuple(manifest)

        # the system's own files
        local_items = {f.written: c.add(
            dir_item(f.path.name, {rel: File(data=data) for rel, data in f.tree})
            if f.tree is not None else text_item(f.path.name, f.data)) for f in cfg.local_files}
        types = {t: conf for t, conf in cfg.services}
        ssh_conf = types.get("openssh-service-type", types.get("dropbear-service-type"))
        ssh = dhcp = openssh = None
        if "openssh-service-type" in types:
            # gnu/services/ssh.scm: sshd -D -f sshd_config; PermitRootLogin from
            # permit-root-login (#f by default; 'without-password is written as
            # prohibit-password from ef3f38ea002 on)
            openssh = self.package(v["openssh"])
            port = re.search(r"\(port-number (\d+)\)", ssh_conf)
            permit = {"#t": "yes", "'prohibit-password": "prohibit-password",
                      "'without-password": "prohibit-password"
                      if self.rev.has("prohibit-password") else "without-password"
                      }.get(cfg.root_login, "no")
            sshd_conf = c.add(text_item("sshd_config", guest.sshd_config(
                int(port.group(1)) if port else 22, permit)))
            ssh = c.add(text_item("ssh-daemon", guest.sshd_daemon(
                f"{openssh.path}/sbin/sshd", f"{openssh.path}/lib:{glibc.path}/lib",
                sshd_conf.path), refs=[openssh.path, glibc.path, sshd_conf.path],
                executable=True))
        elif ssh_conf is not None:
            port = re.search(r"\(port-number (\d+)\)", ssh_conf)
            # gnu/services/ssh.scm: permit-root-login defaults to #f; root may log in only
            # with #t, 'without-password (every revision: @6298c3ffd965:428-431) or
            # 'prohibit-password (from ef3f38ea002; osconfig refuses it before), with a key:
            # the stand-in has no passwords.
            root_ok = cfg.root_login in ("#t", "'without-password", "'prohibit-password")
            ssh = c.add(text_item("ssh-daemon", guest.ssh_daemon(
                f"{dropbear.path}/sbin/dropbear", lib_path, int(port.group(1)) if port else 22,
                root_login=root_ok),
                refs=[dropbear.path, *(i.path for i in lib_items)], executable=True))
        if NETWORK_SERVICES & set(types) or "%desktop-services" in cfg.text:
            dhcp = c.add(text_item("udhcpc-script", guest.dhcp_script(bb), refs=[busybox.path],
                                   executable=True))
        acpi = c.add(dir_item("acpi-events", {"PWRF/00000080": File(
            data=guest.power_off(bb).encode(), executable=True)}, refs=[busybox.path]))
        shepherd_files = []
        for stype, config in cfg.services:
            base = stype.removesuffix("-service-type")
            pkgs = [self.package(s) for s in cfg.service_packages
                    if s.variable in history.SERVICE_PACKAGES.get(stype, ())
                    or (stype == "postgresql-service-type" and s.name == "postgresql")]
            text = (f";; shepherd service of {stype}\n(service {stype}\n  {config or '#f'})\n"
                    + "".join(f";; uses {p.path}\n" for p in pkgs))
            shepherd_files.append(c.add(text_item(f"shepherd-{base}.scm", text,
                                                  refs=[p.path for p in pkgs])))
        shepherd_conf = c.add(text_item(
            "shepherd.conf",
            ";; services started at boot\n(register-services\n"
            + "".join(f" (load \"{s.path}\")\n" for s in shepherd_files) + ")\n",
            refs=[s.path for s in shepherd_files]))

        users = [("root", 0)] + [(u, 1000 + i) for i, u in enumerate(
            u for u in cfg.users if u != "root")]
        c.users = tuple(users)
        accounts = {a.name: a for a in cfg.accounts}
        homes = tuple((name, uid, _GIDS.get(accounts[name].group, 100),
                       accounts[name].home) for name, uid in users[1:] if name in accounts)
        c.authorized_keys = cfg.authorized_keys
        c.host_name, c.timezone = cfg.host_name, cfg.timezone
        etc_files = self.etc_files(users, bb, ssh, dhcp, acpi, shepherd_conf,
                                   sshd=openssh is not None)
        etc = c.add(dir_item("etc", etc_files, refs=[busybox.path, acpi.path, shepherd_conf.path,
                                                     *(i.path for i in (ssh, dhcp) if i)]))
        c.etc = etc
        boot_refs = [busybox.path, glibc.path]
        if openssh:
            boot_refs.append(openssh.path)
        elif ssh:
            boot_refs += [dropbear.path, *(i.path for i in lib_items)]
        boot = c.add(text_item("boot", guest.boot_script(
            bb, f"{dropbear.path}/bin/dropbearkey" if ssh and not openssh else None, lib_path,
            busybox_bin=f"{busybox.path}/bin", glibc_lib=f"{glibc.path}/lib", accounts=homes,
            ssh_keygen=f"{openssh.path}/bin/ssh-keygen" if openssh else None,
            ssh_lib_path=f"{openssh.path}/lib:{glibc.path}/lib" if openssh else ""),
            refs=boot_refs, executable=True))
        init_text = guest.initrd_init((), tuple(_modules()), root_uuid=self.root_uuid)
        initrd_key = store_hash("raw-initrd", busybox.path, kernel.path, init_text)
        initrd = Item("raw-initrd", initrd_key, (), deps=(busybox, kernel))
        initrd.make = lambda: self.initrd_node(init_text)
        c.add(initrd)
        c.initrd = initrd

        profile = self.profile(manifest)
        params_text = self.parameters(kernel, initrd)
        parameters = c.add(text_item("parameters", params_text, refs=[kernel.path, initrd.path]))

        entries: dict[str, str] = {
            "boot": boot.path, "etc": etc.path, "initrd": f"{initrd.path}/initrd.cpio.gz",
            "kernel": kernel.path, "parameters": parameters.path, "profile": profile.path,
        }
        refs = [boot.path, etc.path, initrd.path, kernel.path, parameters.path, profile.path,
                *(i.path for i in service_items), *(i.path for i in local_items.values())]
        if self.save_provenance and cfg.expression is not None:
            # gnu/services.scm@8e2f32cee982:470-480, 507-510: built from -e, the config file
            # is #f: (configuration-file #f) and no configuration.scm
            chans = c.add(text_item("channels.scm", channels_scm(self.channels)))
            prov = c.add(text_item("provenance", provenance(self.channels, None)))
            entries.update({"provenance": prov.path, "channels.scm": chans.path})
            refs += [prov.path, chans.path]
        elif self.save_provenance:
            conf = c.add(text_item("configuration.scm", cfg.text))
            chans = c.add(text_item("channels.scm", channels_scm(self.channels)))
            prov = c.add(text_item("provenance", provenance(self.channels, conf.path),
                                   refs=[conf.path]))
            entries.update({"provenance": prov.path, "channels.scm": chans.path,
                            "configuration.scm": conf.path})
            refs += [prov.path, chans.path, conf.path]
        if self.knobs.big_items:
            bench = self.bench_items()
            entries["bench"] = bench.path
            refs.append(bench.path)
        system = c.add(dir_item("system", {k: Link(t) for k, t in entries.items()}, refs=refs))
        c.system = system
        label = f"GNU with Linux-Libre {kernel.name.rsplit('-', 1)[-1]}"
        c.grub = c.add(text_item("grub.cfg", guest.grub_cfg(
            label, f"{kernel.path}/bzImage", f"{initrd.path}/initrd.cpio.gz", system.path,
            root_uuid=self.root_uuid),
            refs=[kernel.path, initrd.path, system.path]))
        return c

    def etc_files(self, users, bb, ssh, dhcp, acpi, shepherd_conf,
                  sshd: bool = False) -> dict[str, Node]:
        """The etc item; passwd, group and shadow are what activation writes from the
        config's user accounts (gnu/system/accounts.scm, gnu/build/accounts.scm)."""
        cfg = self.config
        accounts = {a.name: a for a in cfg.accounts}
        passwd = ["root:x:0:0:System administrator:/root:/bin/sh"]
        shadow = ["root:*:1::::::"]
        members: dict[str, list[str]] = {}
        for name, uid in users[1:]:
            a = accounts.get(name)
            gid = _GIDS.get(a.group if a else "users", 100)
            home = a.home if a else f"/home/{name}"
            passwd.append(f"{name}:x:{uid}:{gid}::{home}:/bin/sh")
            shadow.append(f"{name}:*:1::::::")
            for g in (a.supplementary_groups if a else ()):
                members.setdefault(g, []).append(name)
        group = [f"{g}:x:{gid}:{','.join(members.get(g, []))}" for g, gid in _GIDS.items()]
        if sshd:       # gnu/services/ssh.scm, %openssh-accounts: sshd's privilege separation
            passwd.append("sshd:x:999:999:sshd privilege separation user:/var/run/sshd:"
                          "/bin/false")
            shadow.append("sshd:!:1::::::")
            group.append("sshd:x:999:")
        passwd.append("nobody:x:65534:65534:Unprivileged user:/var/empty:/bin/false")
        group.append("nogroup:x:65534:")
        files: dict[str, Node] = {
            "hostname": File(data=f"{cfg.host_name}\n".encode()),
            "hosts": File(data=f"127.0.0.1 localhost {cfg.host_name}\n::1 localhost "
                               f"{cfg.host_name}\n".encode()),
            "passwd": File(data=("\n".join(passwd) + "\n").encode()),
            "group": File(data=("\n".join(group) + "\n").encode()),
            "shadow": File(data=("\n".join(shadow) + "\n").encode()),
            "shells": File(data=b"/bin/sh\n"),
            "timezone": File(data=f"{cfg.timezone}\n".encode()),
            "profile": File(data=b"export PATH=/run/current-system/profile/bin:"
                                 b"/run/current-system/profile/sbin:/bin\n"),
            "inittab": File(data=guest.inittab(bb, ssh.path if ssh else None,
                                               dhcp.path if dhcp else None, acpi.path).encode()),
            "shepherd.conf": Link(shepherd_conf.path),
        }
        # /etc/skel: what user-homes copies into a new home (gnu/system/shadow.scm,
        # default-skeletons: the same names, stand-in contents)
        for name in SKELETONS:
            files[f"skel/{name}"] = File(data=f"# {name}: an account skeleton (vmfleet's guix "
                                              f"stand-in)\n".encode())
        for user, key in cfg.authorized_keys:
            name = f"ssh/authorized_keys.d/{user}"
            old = files.get(name)
            text = (old.data.decode() if isinstance(old, File) else "") + key.rstrip("\n") + "\n"
            files[name] = File(data=text.encode())
        return files

    def profile(self, manifest) -> Item:
        c = self.closure
        entries = []
        bins: dict[str, Node] = {}
        for spec, output, item in manifest:
            entries.append(f'     ("{spec.name}"\n      "{spec.version}"\n      "{output}"\n'
                           f'      "{item.path}"\n      (propagated-inputs ())\n'
                           '      (search-paths ()))')
            for cmd in history.COMMANDS.get(spec.name, ()):
                bins.setdefault(cmd, Link(f"{item.path}/{cmd}"))
        version = self.rev.manifest_version
        text = (f";; This file was automatically generated and is for internal use only.\n"
                f"(manifest\n  (version {version})\n  (packages\n    ("
                + "\n".join(entries).lstrip() + ")))\n")
        files: dict[str, Node] = {"manifest": File(data=text.encode())}
        files.update(bins)
        return c.add(dir_item("profile", files, refs=[i.path for _, _, i in manifest]))

    def parameters(self, kernel: Item, initrd: Item) -> str:
        version = kernel.name.rsplit("-", 1)[-1]
        return (f'(boot-parameters\n  (version 0)\n  (label "GNU with Linux-Libre {version}")\n'
                f'  (root-device "{guest.ROOT_LABEL}")\n  (kernel "{kernel.path}/bzImage")\n'
                '  (kernel-arguments ())\n'
                f'  (initrd "{initrd.path}/initrd.cpio.gz")\n  (bootloader-name grub)\n'
                '  (bootloader-menu-entries ())\n'
                f'  (locale "{self.config.locale}")\n'
                '  (store\n    (device #f)\n    (mount-point "/"))\n'
                '  (store-crypto-devices ()))\n')

    def initrd_node(self, init_text: str) -> Node:
        from .cpio import newc_gzip

        k = self._kernel()
        host = self._host()
        entries: list[tuple[str, Node]] = [
            ("bin/busybox", File(source=host.busybox, executable=True)),
            ("init", File(data=init_text.encode(), executable=True)),
        ]
        entries += [(f"lib/modules/{m.name}", File(source=str(m))) for m in k.modules]
        data = newc_gzip(entries, dirs=("bin", "dev", "lib", "lib/modules", "proc", "root",
                                        "sys"), mtime=self.rev.epoch)
        return tree.build({"initrd.cpio.gz": File(data=data)})

    def bench_items(self) -> Item:
        """VMFLEET_STANDIN_BIG: N extra store items holding SIZE bytes in all (benchmarks)."""
        n, total = self.knobs.big_items, self.knobs.big_bytes
        weights = [1 + int(hashlib.sha256(str(i).encode()).hexdigest()[:4], 16) / 65536
                   for i in range(n)]
        scale = total / sum(weights)
        sizes = [int(w * scale) for w in weights]
        sizes[-1] += total - sum(sizes)
        links: dict[str, Node] = {}
        refs = []
        for i, size in enumerate(sizes):
            name = f"bench-data-{i:05d}-1.0"
            seed = f"bench {i} {size}"
            h = store_hash("bench", seed)
            item = Item(name, h, (), node_value=tree.build({"data": File(filler=(seed, size))}))
            self.closure.add(item)
            links[name] = Link(item.path)
            refs.append(item.path)
        return self.closure.add(dir_item("bench-closure", links, refs=refs))


def _modules() -> list[str]:
    from .kernel import MODULES

    return list(MODULES)
