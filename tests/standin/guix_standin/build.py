"""Building an image the way ``guix system image`` does, into the stand-in's store.

The image's file name derives from the system's store file name and the image options (as
a derivation's output does), so building the same inputs again finds the image in the store
and prints its name at once. A build runs under a per-image lock (two concurrent builds of
the same inputs build once), in a temporary folder inside the store folder, and the finished
image is fsynced, made read-only and renamed into place: no half image is ever visible.
Failures print what Guix prints (``build of …drv failed``, ``View build log at '…'.``) and
keep a gzipped build log in the stand-in's log folder.
"""

from __future__ import annotations

import fcntl
import gzip
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import derivation, guest, history, image, kernel, settings
from .channels import Travel
from .closure import STORE, Builder, Closure, Item
from .errors import GuixError
from .nix import store_hash
from .osconfig import SystemConfig
from .settings import Knobs
from .tree import Link


@dataclass(frozen=True)
class ImageOptions:
    action: str                 # 'image' or 'vm-image'
    image_type: str = "qcow2"
    image_size: int | None = None
    save_provenance: bool = False
    derivation: bool = False
    dry_run: bool = False
    check: bool = False
    root_link: str | None = None
    keep_failed: bool = False      # -K: a --check result that differs is kept as OUT-check


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def output_name(opts: ImageOptions) -> str:
    """The image's store name: system-disk-image's default "disk-image" for efi-raw (a raw
    disk), the qcow2 types' image-name "image.qcow2", old vm-image's "qemu-image"."""
    if opts.action == "vm-image":
        return "qemu-image"
    return "disk-image" if opts.image_type == "efi-raw" else "image.qcow2"


def image_hash(closure: Closure, opts: ImageOptions) -> str:
    return store_hash("image", closure.system.path, closure.grub.path, opts.action,
                      opts.image_type, str(opts.image_size or "guess"))


class Build:
    def __init__(self, travel: Travel, config: SystemConfig, opts: ImageOptions, knobs: Knobs):
        self.travel = travel
        self.rev = travel.revision
        self.config = config
        self.opts = opts
        self.knobs = knobs
        self.store = settings.store_dir()
        self.cache = settings.cache_dir()
        self._host = None
        self._kernel = None
        # vm-image's root is found by a UUID derived from the OS (gnu/system/vm.scm,
        # operating-system-uuid); the stand-in derives it from the config and the revision
        root_uuid = image.fs_uuid(f"vm-image:{self.rev.commit}:{config.text}:"
                                  f"{config.expression}") if opts.action == "vm-image" else None
        self.builder = Builder(self.rev, config, travel.channels,
                               save_provenance=opts.save_provenance, knobs=knobs,
                               host=self.host, kernel=self.kernel, root_uuid=root_uuid)
        self.closure = self.builder.build()
        # As gnu/system/image.scm makes them: one computed-file "partition.img" per file
        # system (the ESP, the root), a computed-file "genimage.cfg" that names the partition
        # images, and the image that runs genimage on it. So the partition derivations are
        # inputs of genimage.cfg.drv, which is an input of the image derivation (guix gc
        # --references of the image .drv does not list them; --requisites does).
        self.layout = self.rev.partition_layout(opts.action, opts.image_type)
        self.table = "gpt" if self.rev.gpt(opts.action, opts.image_type) else "dos"
        self.part_hash = store_hash("partition", self.closure.system.path,
                                    self.closure.grub.path, str(opts.image_size or "guess"))
        self.part_name = "partition.img"
        self.part_out = self.store / f"{self.part_hash}-{self.part_name}"
        self.part_drv = self.store / f"{store_hash('drv', self.part_hash)}-{self.part_name}.drv"
        grub = history.packages(self.rev)["grub"].full_name
        self.esp_hash = store_hash("esp-partition", grub, "x86_64-efi", str(self.rev.epoch))
        self.esp_out = self.store / f"{self.esp_hash}-{self.part_name}"
        self.esp_drv = self.store / f"{store_hash('drv', self.esp_hash)}-{self.part_name}.drv"
        # vm-image (before e74baa12459) did not use genimage: the stand-in keeps its image
        # derivation referring to the root partition directly.
        self.uses_genimage = opts.action == "image"
        self.cfg_name = "genimage.cfg"
        self.cfg_hash = store_hash("genimage", self.table, opts.image_type,
                                   *(self.partition_out(k).name for k in self.layout))
        self.cfg_out = self.store / f"{self.cfg_hash}-{self.cfg_name}"
        self.cfg_drv = self.store / f"{store_hash('drv', self.cfg_hash)}-{self.cfg_name}.drv"
        self.image_hash = image_hash(self.closure, opts)
        self.image_name = output_name(opts)
        self.image_out = self.store / f"{self.image_hash}-{self.image_name}"
        # a derivation's name follows its inputs: the genimage.cfg derivation is one
        drv_key = (self.cfg_drv.name,) if self.uses_genimage else ()
        self.image_drv = self.store / \
            f"{store_hash('drv', self.image_hash, *drv_key)}-{self.image_name}.drv"
        self.set_role("image")
        self.log_lines: list[str] = []
        self.program = "guix system"      # whose errors these are ("guix build" for a .drv)

    def set_role(self, role: str) -> None:
        """Which derivation this build is about: 'image' (default), 'genimage', 'partition'
        (the root) or 'esp'."""
        self.role = role
        if role == "genimage":
            self.hash, self.name = self.cfg_hash, self.cfg_name
            self.out, self.drv = self.cfg_out, self.cfg_drv
        elif role == "esp":
            self.hash, self.name = self.esp_hash, self.part_name
            self.out, self.drv = self.esp_out, self.esp_drv
        elif role == "partition":
            self.hash, self.name = self.part_hash, self.part_name
            self.out, self.drv = self.part_out, self.part_drv
        else:
            self.hash, self.name = self.image_hash, self.image_name
            self.out, self.drv = self.image_out, self.image_drv
        self.drv_in_store = f"{STORE}/{self.drv.name}"

    def partition_out(self, kind: str) -> Path:
        return self.esp_out if kind == "esp" else self.part_out

    def partition_drv(self, kind: str) -> Path:
        return self.esp_drv if kind == "esp" else self.part_drv

    def host(self) -> guest.HostBinaries:
        if self._host is None:
            self._host = guest.host_binaries()
        return self._host

    def kernel(self) -> kernel.Kernel:
        if self._kernel is None:
            self._kernel = kernel.get(self.cache, say)
        return self._kernel

    def log(self, line: str) -> None:
        self.log_lines.append(line)

    # --- what gets printed -------------------------------------------------------------------
    def system_drvs(self) -> list[Item]:
        c = self.closure
        names = ("system", "grub.cfg", "profile", "etc", "boot", "raw-initrd", "parameters")
        return sorted((i for i in c.items.values() if i.name in names and i.kind != "text"),
                      key=lambda i: i.name)

    def packages(self) -> list[Item]:
        c = self.closure
        items = c.closure_of([c.system, c.grub])
        return [i for i in items if i.make is not None and i.name != "raw-initrd"]

    def plan(self, verb: str) -> None:
        if self.opts.check:       # its inputs are in the store: only the image is rebuilt
            say(f"The following derivation {verb} built:")
            say(f"  {self.drv_in_store}")
            return
        drvs = [str(self.drv_in_store)]
        if self.role == "image" and self.uses_genimage:
            drvs.append(f"{STORE}/{self.cfg_drv.name}")
        drvs += [i.drv for i in self.system_drvs()]
        say(f"The following derivations {verb} built:")
        for d in drvs:
            say(f"  {d}")
        pkgs = self.packages()
        say(f"{len(pkgs)} store items {verb} downloaded:" if verb == "will be"
            else f"The following {len(pkgs)} store items would be downloaded:")
        for p in pkgs[:8]:
            say(f"  {p.path}")
        if len(pkgs) > 8:
            say(f"  …and {len(pkgs) - 8} more")

    def write_drv(self) -> None:
        derivation.write(self)

    @property
    def shown_drv(self) -> str:
        """The derivation as errors name it: ``guix build`` was given the .drv's file name."""
        return str(self.drv.resolve()) if self.program == "guix build" else self.drv_in_store

    def log_path(self, drv: str) -> Path:
        base = Path(drv).name
        return settings.log_dir() / "drvs" / base[:2] / f"{base[2:]}.gz"

    def save_log(self, drv: str, lines: list[str]) -> Path:
        path = self.log_path(drv)
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def fail(self, drv: str, lines: list[str], chain: list[str]) -> GuixError:
        log = self.save_log(drv, lines)
        trail = [f"build of {drv} failed", f"View build log at '{log}'."]
        trail += [f"cannot build derivation `{d}': 1 dependencies couldn't be built"
                  for d in chain]
        return GuixError(f"build of `{self.shown_drv}' failed", program=self.program,
                         lines_before=tuple(trail))

    # --- the build ---------------------------------------------------------------------------
    def run(self) -> str | None:
        """Build (or find) the image; return what goes on stdout (None: nothing)."""
        self.write_drv()          # as Guix, which adds the .drv to the store whatever follows
        if self.opts.derivation:
            return str(self.drv)
        if self.opts.check and not self.out.exists():
            # nix/libstore/build.cc (the daemon's text since 82b06436, 2022-05-29)
            raise GuixError(f"`{self.shown_drv}' is missing outputs; build it normally before "
                            "using `--check'", program=self.program)
        if self.out.exists() and not self.opts.check:
            if self.opts.dry_run:
                return None
            self.link_root()
            return str(self.out)
        if self.opts.dry_run:
            self.plan("would be")
            return None
        self.store.mkdir(parents=True, exist_ok=True)
        locks = self.store / ".locks"
        locks.mkdir(exist_ok=True)
        with open(locks / f"{self.hash}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"waiting for lock on `{self.out}'...")
                fcntl.flock(lock, fcntl.LOCK_EX)
            if self.out.exists() and not self.opts.check:
                self.link_root()
                return str(self.out)
            self.plan("will be")
            self.vanished()
            self.keys_as_strings()
            self.slow()
            tmp = Path(tempfile.mkdtemp(prefix=f".build-{self.hash[:8]}-", dir=self.store))
            work = Path(tempfile.mkdtemp(prefix="vmfleet-standin-", dir=self.workdir_base()))
            try:
                # inputs are built normally first (also for --check), as the daemon does
                if self.role in ("image", "genimage"):
                    self.build_partitions(work, tmp)
                if self.role == "image" and self.uses_genimage and not self.cfg_out.exists():
                    cfg = self.build_genimage(tmp / self.cfg_name)
                    os.chmod(cfg, 0o444)
                    os.replace(cfg, self.cfg_out)
                built = self.build_into(work, tmp / self.name)
                if self.opts.check and self.out.exists():
                    return self.compare(built)
                os.chmod(built, 0o444)
                os.replace(built, self.out)
                _fsync_dir(self.store)
            finally:
                shutil.rmtree(work, ignore_errors=True)
                shutil.rmtree(tmp, ignore_errors=True)
        self.link_root()
        return str(self.out)

    def vanished(self) -> None:
        for item in self.packages():
            spec = self._spec_of(item)
            if spec and spec.name in self.knobs.vanish:
                src = self.builder.source_path(spec)
                url = _source_url(spec)
                drv = f"{STORE}/{store_hash('drv', src)}-{spec.full_name}.tar.gz.drv"
                say(f"building {drv}...")
                lines = [f"Starting download of {src}", f"From {url}...",
                         f'download failed "{url}" 404 "Not Found"',
                         f"Trying to use Disarchive to assemble {src}...",
                         "could not find its Disarchive specification",
                         f'failed to download "{src}" from "{url}"']
                raise self.fail(drv, lines, [item.drv, self.closure.system.drv,
                                             self.drv_in_store])

    def keys_as_strings(self) -> None:
        """gnu/services/ssh.scm@a0178d34f582:405-426 (same at every pin): the builder of
        ``openssh-authorized-keys`` opens each key with ``call-with-input-file``; a key
        written as a string is no file, so that derivation fails."""
        if not self.config.string_keys:
            return
        _user, text = self.config.string_keys[0]
        drv = f"{STORE}/{store_hash('drv', 'openssh-authorized-keys', text)}" \
              "-openssh-authorized-keys.drv"
        say(f"building {drv}...")
        lines = ["Backtrace:", "(frames not modelled by the stand-in)",
                 "In procedure open-file: No such file or directory: "
                 + '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"']
        etc = next(i for i in self.closure.items.values() if i.name == "etc")
        raise self.fail(drv, lines, [etc.drv, self.closure.system.drv, self.drv_in_store])

    def _spec_of(self, item: Item):
        for spec in self.builder.vars.values():
            if spec.full_name == item.name:
                return spec
        return None

    def slow(self) -> None:
        seconds = self.knobs.slow
        if seconds <= 0:
            return
        pkgs = self.packages() or [self.closure.system]
        end = time.monotonic() + seconds
        i = 0
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            item = pkgs[i % len(pkgs)]
            say(f"building {item.drv}...")
            i += 1
            time.sleep(min(0.5, left))

    def workdir_base(self) -> str:
        """Where the root tree and the raw disk are made: $VMFLEET_STANDIN_TMPDIR, else
        /dev/shm when it has room (no disk I/O for what is thrown away), else the store."""
        env = os.environ.get("VMFLEET_STANDIN_TMPDIR")
        if env:
            return env
        need = 3 * (self.knobs.big_bytes + (200 << 20))
        try:
            st = os.statvfs("/dev/shm")
            if st.f_bavail * st.f_frsize > need and os.access("/dev/shm", os.W_OK):
                return "/dev/shm"
        except OSError:
            pass
        return str(self.store)

    def build_partitions(self, work: Path, tmp: Path) -> None:
        """Build the partition images the layout needs that are not in the store."""
        if "esp" in self.layout and not self.esp_out.exists():
            part = self.build_esp(work, tmp / f"esp-{self.part_name}")
            os.chmod(part, 0o444)
            os.replace(part, self.esp_out)
        if not self.part_out.exists():
            part = self.build_partition(work, tmp / self.part_name)
            os.chmod(part, 0o444)
            os.replace(part, self.part_out)

    def genimage_text(self) -> str:
        """genimage's configuration for the layout (gnu/system/image.scm's genimage.cfg,
        in genimage's syntax): the table, then each partition image by its store name."""
        table = "gpt" if self.table == "gpt" else "mbr"
        lines = [f'image {self.image_name} {{', '\thdimage {',
                 f'\t\tpartition-table-type = "{table}"', '\t}']
        for kind in self.layout:
            label = "GNU-ESP" if kind == "esp" else "Guix_image"
            lines += [f'\tpartition {label} {{',
                      f'\t\timage = "{STORE}/{self.partition_out(kind).name}"',
                      '\t\toffset = "1M"' if kind == self.layout[0] else None,
                      '\t\tbootable = "true"' if kind == "root" else None, '\t}']
        return "\n".join(x for x in lines + ["}"] if x is not None) + "\n"

    def build_genimage(self, out: Path) -> Path:
        """The ``…-genimage.cfg`` derivation: a text file, so always the same bytes."""
        say(f"building {STORE}/{self.cfg_drv.name}...")
        out.write_text(self.genimage_text())
        return out

    def build_partition(self, work: Path, out: Path) -> Path:
        """The ``…-partition.img`` derivation: the root file system."""
        for item in ([] if self.opts.check else self.system_drvs()):
            say(f"building {item.drv}...")
        say(f"building {STORE}/{self.part_drv.name}...")
        extras = self.root_extras()
        started = time.monotonic()
        try:
            image.build_partition(work, self.closure, extras, image_size=self.opts.image_size,
                                  epoch=self.rev.epoch, out=out, log=self.log,
                                  root_uuid=self.builder.root_uuid,
                                  nondeterministic="partition" in self.knobs.nondeterministic)
        except image.BuildFailed as e:
            self.log(f"error: {e}")
            raise self.fail(f"{STORE}/{self.part_drv.name}", self.log_lines, []) from None
        self.log(f"partition built in {time.monotonic() - started:.1f} s")
        self.save_log(f"{STORE}/{self.part_drv.name}", self.log_lines)
        with open(out, "rb") as f:
            os.fsync(f.fileno())
        return out

    def build_esp(self, work: Path, out: Path) -> Path:
        """The ESP's ``…-partition.img`` derivation."""
        drv = f"{STORE}/{self.esp_drv.name}"
        say(f"building {drv}...")
        try:
            image.build_esp(work, out, epoch=self.rev.epoch, log=self.log)
        except image.BuildFailed as e:
            self.log(f"error: {e}")
            raise self.fail(drv, self.log_lines, []) from None
        self.save_log(drv, self.log_lines)
        return out

    def build_into(self, work: Path, out: Path) -> Path:
        if self.role == "partition":
            return self.build_partition(work, out)
        if self.role == "esp":
            return self.build_esp(work, out)
        if self.role == "genimage":
            return self.build_genimage(out)
        say(f"building {self.drv_in_store}...")
        kernel_item, initrd = self.closure.kernel, self.closure.initrd
        grub_config = guest.grub_embedded(f"{kernel_item.path}/bzImage",
                                          f"{initrd.path}/initrd.cpio.gz",
                                          self.closure.system.path,
                                          root_index=1 + self.layout.index("root"),
                                          root_uuid=self.builder.root_uuid)
        partitions = [(k, self.partition_out(k)) for k in self.layout]
        started = time.monotonic()
        try:
            image.build_image(work, self.closure, partitions, table=self.table,
                              grub_config=grub_config if self.table == "dos" else None,
                              out=out, log=self.log,
                              fmt="raw" if self.opts.image_type == "efi-raw" else "qcow2",
                              nondeterministic="image" in self.knobs.nondeterministic,
                              zstd=self.rev.has("zstd-qcow2"))
        except image.BuildFailed as e:
            self.log(f"error: {e}")
            raise self.fail(self.drv_in_store, self.log_lines, []) from None
        self.log(f"built in {time.monotonic() - started:.1f} s")
        self.save_log(self.drv_in_store, self.log_lines)
        with open(out, "rb") as f:
            os.fsync(f.fileno())
        return out

    def compare(self, built: Path) -> str:
        """nix/libstore/build.cc@60c97924e95:2420-2428 (@43770a9d8ac:3256-3264): with
        keepFailed the second result is renamed to OUT-check (replacing an older one) and the
        message names it; without, it is dropped."""
        if _same_file(built, self.out):
            return str(self.out)
        if self.opts.keep_failed:
            kept = self.out.with_name(self.out.name + "-check")
            os.chmod(built, 0o444)
            os.replace(built, kept)
            raise GuixError(f"derivation `{self.shown_drv}' may not be deterministic: output "
                            f"`{self.out}' differs from `{kept}'", program=self.program)
        raise GuixError(f"derivation `{self.shown_drv}' may not be deterministic: output "
                        f"`{self.out}' differs", program=self.program)

    def link_root(self) -> None:
        if self.opts.root_link:
            link = Path(self.opts.root_link)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(self.out)

    # --- the root file system outside the store ----------------------------------------------
    def root_extras(self) -> image.RootExtras:
        """What gnu/build/install.scm's populate-root-file-system and install-boot-config
        write outside the store: directories, the system-1-link, gcroots and grub.cfg.
        Nothing else of /etc exists until the first boot (the boot script activates)."""
        c = self.closure
        files: dict = {
            "/var/guix/profiles/system-1-link": Link(c.system.path),
            "/var/guix/profiles/system": Link("system-1-link"),
            "/var/guix/gcroots/booted-system": Link("/run/booted-system"),
            "/var/guix/gcroots/current-system": Link("/run/current-system"),
            "/var/guix/gcroots/profiles": Link("/var/guix/profiles"),
            "/boot/grub/grub.cfg": c.grub.node,
        }
        modes: dict[str, int] = {
            "/etc": 0o755, "/var/log": 0o755, "/var/guix/gcroots": 0o755,
            "/var/empty": 0o755, "/var/db": 0o755, "/mnt": 0o755,
            "/var/guix/profiles/per-user/root": 0o755, "/bin": 0o755, "/tmp": 0o1777,
            "/var/tmp": 0o1777, "/var/lock": 0o1777, "/home": 0o755,
        }
        return image.RootExtras(files=files, owners={}, modes=modes)


def _source_url(spec) -> str:
    special = {"nginx": "https://nginx.org/download/nginx-{v}.tar.gz",
               "openssh": "https://ftp.openbsd.org/pub/OpenBSD/OpenSSH/portable/"
                          "openssh-{v}.tar.gz",
               "postgresql": "https://ftp.postgresql.org/pub/source/v{v}/postgresql-{v}.tar.bz2"}
    pattern = special.get(spec.name, "https://ftpmirror.gnu.org/gnu/{n}/{n}-{v}.tar.gz")
    return pattern.format(n=spec.name, v=spec.version)


def _same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

