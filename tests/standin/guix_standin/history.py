"""The stand-in's history of the ``guix`` channel: real commits, real dates.

Each revision is a real commit of the guix channel (docs/guix-facts.md, "Pins", read from Guix's
git history) with the package versions it ships, the service types it knows and what its
``guix system`` can do. The catalog is in ancestry order (each revision descends from the ones
before it, as on Guix's master branch), so "is X an ancestor of Y" is catalog order and "does
revision R have feature F" is "is R at or after the commit that introduced F".

What follows a Guix source file (verify there; tests/standin/README.md cites each):
- ``time-machine`` refuses a commit that does not descend from the running guix's
  %oldest-possible-commit (guix/scripts/time-machine.scm: none before 79ec651a286, v1.0.0's
  6298c3ffd965 until a26bce55e60, v0.16.0's 4a0b87f0ec5b since);
- ``system image`` exists from e74baa12459 (2021-01-19), ``--save-provenance`` from
  b85836d3067 (2019-12-07) (guix/scripts/system.scm);
- the default channel URL is git.guix.gnu.org from 3b6e499d5e6 (2025-05-23) (guix/channels.scm);
- qcow2 images are zstd-compressed from a0941c14ef1 (2025-04-30), efi-raw is GPT from
  209204e23b3 (2023-07-07), "EFI bootloader required with GPT partitioning" follows
  ``refuses_bootloader``, ``qcow2-gpt`` exists from 20157dae27d (2025-12-22)
  (gnu/system/image.scm).
Package versions are those of gnu/packages/*.scm at each pin for about 45 packages (openssh,
nginx, the base packages …); the others are
invented (plausible for the date) and say so in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SAVANNAH_URL = "https://git.savannah.gnu.org/git/guix.git"
CODEBERG_URL = "https://codeberg.org/guix/guix.git"
GNU_URL = "https://git.guix.gnu.org/guix.git"
GUIX_URL = SAVANNAH_URL          # the default before 3b6e499d5e6
GUIX_URLS = (SAVANNAH_URL, CODEBERG_URL, GNU_URL)
INTRODUCTION_COMMIT = "9edb3f66fd807b096b48283debdcddccfea34bad"
INTRODUCTION_SIGNER = "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA"
OLDEST_COMMIT = "4a0b87f0ec5b6c2dcf82b372dd20ca7ea6acdd9c"      # v0.16.0
V1_0_COMMIT = "6298c3ffd9654d3231a6f25390b056483e8f407c"


def _d(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)


# The commits that introduced what differs between revisions (docs/guix-facts.md), with dates.
FEATURES = {
    "save-provenance": ("b85836d3067a0faccc945d584dfb88cf557eee97", _d("2019-12-07")),
    "image-type-option": ("313f492657f1d0863c641fa5ee7f5b7028e27c94", _d("2020-09-30")),
    "os-type-check": ("ce10e6053bb02e936b3a0862f3a3f86010b948d0", _d("2019-05-16")),
    "os-or-image": ("6e8cdf1d26092cb9654e179b04730fff7c15c94f", _d("2021-02-17")),
    "image-action": ("e74baa124592428f05b17562f180469e405037f3", _d("2021-01-19")),
    "check-missing-outputs": ("82b06436b4b563a85e70f3fcc610959482f08e91", _d("2022-05-29")),
    "efi-raw-gpt": ("209204e23b39af09e0ea92540b6fa00a60e6a0ae", _d("2023-07-07")),
    "bios-gpt-refused": ("6bd17a0806ad32d1493ac51a7443276f719c4224", _d("2023-09-20")),
    "removable-is-efi": ("21989dd57dac338899574d3ee7f093d633e31e33", _d("2024-01-17")),
    "efi-uses-grub-efi-list": ("5df3514ab0fe36915539c93023f444194087388c", _d("2025-11-26")),
    "efi-list-by-symbol": ("e12ba8c865fd73267ff081c97ddecd46351edb07", _d("2025-12-02")),
    "travel-check-v1.0": ("79ec651a286c71a3d4c72be33a1f80e76a560031", _d("2023-08-16")),
    "travel-check-v0.16": ("a26bce55e60aa3444c4378d3996f3aa41b9661e9", _d("2024-03-11")),
    "efi-needs-gpt": ("e5078ff3210f4a9863b641a60430b2cb3c9c15ee", _d("2024-05-22")),
    "prohibit-password": ("ef3f38ea0027f48feb6a29df131ac58bfbb46b7d", _d("2021-06-20")),
    "timezone-default": ("f78cfcd7d3f1f76a5c09c21d76b14983d8428c4d", _d("2022-10-11")),
    "services-thunked": ("24ead149dbadbaad56f22a89b394bc6fcdc73b52", _d("2021-12-08")),
    "travel-check-channels-file": ("c3d48d024b95f57850ec429d7f326d817dda5090",
                                   _d("2023-09-05")),
    "qemu-image-bios-grub": ("7a20c1676a8421f3ac06a2634a27c2837293df0b", _d("2020-11-10")),
    "zstd-qcow2": ("a0941c14ef185d3d177ad132385992c1b7d36818", _d("2025-04-30")),
    "gnu-default-url": ("3b6e499d5e635e2189f1bf60279dbf5175c404bd", _d("2025-05-23")),
    "qcow2-gpt": ("20157dae27d3ed2c754a5c15aa001f6c268366c3", _d("2025-12-22")),
}


@dataclass(frozen=True)
class Revision:
    commit: str
    date: datetime
    label: str               # the pin's label (release tag or month)
    guix_version: str        # what `guix --version` would call the release it is based on
    column: int | None       # column in the package table; None: unreachable (too old)
    index: int = 0           # position in the catalog (ancestry order)

    @property
    def short(self) -> str:
        return self.commit[:7]

    @property
    def epoch(self) -> int:
        return int(self.date.timestamp())

    @property
    def reachable(self) -> bool:
        """Descends from v0.16.0 (the catalog is in ancestry order)."""
        return self.index >= _OLDEST_INDEX

    @property
    def oldest_commit(self) -> str | None:
        """``%oldest-possible-commit`` of this guix's time-machine
        (guix/scripts/time-machine.scm): none before 79ec651a286 (2023-08-16), v1.0.0's
        6298c3ffd965 until a26bce55e60 (2024-03-11), v0.16.0's 4a0b87f0ec5b since."""
        if self.has("travel-check-v0.16"):
            return OLDEST_COMMIT
        if self.has("travel-check-v1.0"):
            return V1_0_COMMIT
        return None

    def descends_from(self, commit: str) -> bool:
        """Ancestry is catalog order."""
        return self.index >= next(r.index for r in REVISIONS if r.commit == commit)

    def has(self, feature: str) -> bool:
        """Whether this revision includes the commit that introduced ``feature``."""
        return self.date >= FEATURES[feature][1]

    @property
    def image_action(self) -> bool:
        return self.has("image-action")

    @property
    def manifest_version(self) -> int:
        return 3 if self.date < _d("2022-06-01") else 4

    @property
    def default_url(self) -> str:
        return GNU_URL if self.has("gnu-default-url") else SAVANNAH_URL

    @property
    def image_types(self) -> tuple[str, ...]:
        if not self.image_action:
            # 313f492657f added -t/--image-type and --list-image-types (for disk-image);
            # before it -t was --file-system-type (guix/scripts/system.scm)
            return _TYPES_2020 if self.has("image-type-option") else ()
        types = _TYPES_2021
        if self.date >= _d("2022-01-01"):
            types = _TYPES_2022
        if self.date >= _d("2023-10-01"):
            types = types + ("mbr-hybrid-raw",)
        if self.has("qcow2-gpt"):
            types = types + ("qcow2-gpt",)
        return types

    def gpt(self, action: str, image_type: str) -> bool:
        """Whether the image has a GPT (gnu/system/image.scm): qcow2-gpt always; efi-raw
        (and efi32-raw) only from 209204e23b3 (2023-07-07), an ESP and the root in an MBR
        table before it, like qcow2."""
        if action != "image":
            return False
        if image_type == "qcow2-gpt":
            return True
        return image_type == "efi-raw" and self.has("efi-raw-gpt")

    def refuses_bootloader(self, bootloader: str, gpt: bool) -> bool:
        """Whether system-disk-image (gnu/system/image.scm) raises "EFI bootloader required
        with GPT partitioning" for a config whose bootloader is the variable ``bootloader``.

        The test compares ``bootloader-name`` (grub-efi-bootloader's is ``grub-efi``) with a
        list: from 6bd17a0806a (2023-09-20) a GPT image whose bootloader is not grub-efi or
        grub-efi32 (+ grub-efi-removable-bootloader from 21989dd57da, 2024-01-17); inverted by
        e5078ff3210 (2024-05-22): a non-GPT image whose bootloader is one of those three;
        5df3514ab0f (2025-11-26) wrote the list with bound variables, so nothing matched
        until e12ba8c865f (2025-12-02) listed six names (+ grub-efi32-removable-bootloader,
        grub-efi-netboot-bootloader, grub-efi-netboot-removable-bootloader)."""
        name = {"grub-efi-bootloader": "grub-efi",
                "grub-efi32-bootloader": "grub-efi32"}.get(bootloader, bootloader)
        efi = {"grub-efi", "grub-efi32"}
        if self.has("removable-is-efi"):
            efi.add("grub-efi-removable-bootloader")
        if self.has("efi-list-by-symbol"):
            efi |= {"grub-efi32-removable-bootloader", "grub-efi-netboot-bootloader",
                    "grub-efi-netboot-removable-bootloader"}
        elif self.has("efi-uses-grub-efi-list"):
            return False
        if self.has("efi-needs-gpt"):
            return name in efi and not gpt
        if self.has("bios-gpt-refused"):
            return gpt and name not in efi
        return False

    def partition_layout(self, action: str, image_type: str) -> tuple[str, ...]:
        """The partitions of an image (gnu/system/image.scm): efi-raw and qcow2-gpt are GPT
        with an ESP then the root; qcow2 is MBR with the ESP (GNU-ESP, 40 MiB) then the root
        as partition 2, except from d57cab76412 (2023-08-25: qcow2 = mbr-disk-image) to
        dfaeaae9c7e (2023-10-01: mbr-hybrid-disk-image), when it had the root alone (no pin
        falls in that window). vm-image (before e74baa12459) put the root first and a 40 MiB
        ESP labelled GNU-ESP after it (gnu/system/vm.scm@a099685659b4:414-442)."""
        if action == "vm-image":
            return ("root", "esp")
        if image_type in ("efi-raw", "qcow2-gpt"):
            return ("esp", "root")
        if _d("2023-08-25") <= self.date < _d("2023-10-01"):
            return ("root",)
        return ("esp", "root")

    @property
    def version_string(self) -> str:
        """``1.4.0-12.60c9792`` (master) or ``1.4.0`` (a release): the guix package's version."""
        return f"{self.guix_version}.{self.short}" if "-" in self.guix_version \
            else self.guix_version


# v1.2.0's image types (gnu/system/image.scm, gnu/system/images/*.scm at a099685659b4)
_TYPES_2020 = ("raw", "qcow2", "iso9660", "uncompressed-iso9660", "hurd-raw", "hurd-qcow2",
               "arm32-raw", "arm64-raw", "pine64-raw")
_TYPES_2021 = ("efi-raw", "efi32-raw", "hurd-raw", "hurd-qcow2", "qcow2", "iso9660",
               "uncompressed-iso9660", "raw-with-offset", "docker", "pinebook-pro-raw",
               "rock64-raw", "novena-raw", "pine64-raw")
_TYPES_2022 = _TYPES_2021 + ("wsl2", "tarball", "mbr-raw")

_CATALOG = (
    # commit, date, label, guix_version, column
    ("359fdda40f754bbf1b5dc261e7427b75463b59be", "2018-07-05", "v0.15.0", "0.15.0", None),
    (OLDEST_COMMIT, "2018-12-05", "v0.16.0", "0.16.0", 0),
    ("6298c3ffd9654d3231a6f25390b056483e8f407c", "2019-05-01", "v1.0.0", "1.0.0", 0),
    ("b94cf161d066b0fc1f3830ac38fbc98597a1f922", "2020-01-01", "2019-12", "1.0.1-10", 1),
    ("a099685659b4bfa6b3218f84953cbb7ff9e88063", "2020-11-22", "v1.2.0", "1.2.0", 2),
    ("a0178d34f582b50e9bdbb0403943129ae5b560ff", "2021-05-11", "v1.3.0", "1.3.0", 3),
    ("8e2f32cee982d42a79e53fc1e9aa7b8ff0514714", "2022-12-18", "v1.4.0", "1.4.0", 4),
    ("cebcf3533ab83233121434254a6ae7b8c35cfa1f", "2023-03-31", "2023-03", "1.4.0-3", 5),
    ("76e39909e886bb51cf9b2fa03a1523545faca880", "2023-07-01", "2023-06", "1.4.0-6", 6),
    ("60c97924e9519361494aaf0686e28eb831a42315", "2023-11-01", "2023-10", "1.4.0-12", 7),
    ("dc4c48f10281007a0ab3541b8a64198c60c6d5b0", "2024-05-31", "2024-05", "1.4.0-19", 8),
    ("858dd7e721d69a6087375395037a86640418f1fb", "2024-12-01", "2024-11", "1.4.0-27", 9),
    ("dd7e39ccfdd23a388dfa6b7665de466691bc6cda", "2025-07-01", "2025-06", "1.4.0-36", 10),
    ("ab06c318d05c5af140ea8c5c9dd26f69bc167e55", "2026-01-01", "2025-12", "1.4.0-44", 11),
    ("230aa373f315f247852ee07dff34146e9b480aec", "2026-01-21", "v1.5.0", "1.5.0", 12),
)
_OLDEST_INDEX = next(i for i, c in enumerate(_CATALOG) if c[0] == OLDEST_COMMIT)
REVISIONS: tuple[Revision, ...] = tuple(
    Revision(commit, _d(date), label, version, column, index)
    for index, (commit, date, label, version, column) in enumerate(_CATALOG))
COLUMNS = 13

# Service types and the module (gnu services MODULE) that defines them; "base" is exported by
# (use-modules (gnu)). Each type is known from the first to the last column (0-based) given.
SERVICE_TYPES: dict[str, tuple[str, int, int]] = {
    # type: (module, first column, last column)
    # gnu/services.scm@8e2f32cee98:654, exported by (gnu) like (gnu services base)
    "activation-service-type": ("base", 0, 99),
    "guix-service-type": ("base", 0, 99),
    "nscd-service-type": ("base", 0, 99),
    "udev-service-type": ("base", 0, 99),
    "syslog-service-type": ("base", 0, 99),
    "login-service-type": ("base", 0, 99),
    "mingetty-service-type": ("base", 0, 99),
    "agetty-service-type": ("base", 0, 99),
    "urandom-seed-service-type": ("base", 0, 99),
    "special-files-service-type": ("base", 0, 99),
    "static-networking-service-type": ("base", 4, 99),
    "guix-publish-service-type": ("base", 0, 99),
    "gpm-service-type": ("base", 0, 99),
    "sysctl-service-type": ("sysctl", 0, 99),
    "dhcp-client-service-type": ("networking", 0, 99),
    "dhcpcd-service-type": ("networking", 8, 99),
    "network-manager-service-type": ("networking", 0, 99),
    "ntp-service-type": ("networking", 0, 99),
    "openntpd-service-type": ("networking", 0, 99),
    "nftables-service-type": ("networking", 2, 99),
    "iptables-service-type": ("networking", 0, 99),
    "tor-service-type": ("networking", 0, 99),
    "openssh-service-type": ("ssh", 0, 99),
    "dropbear-service-type": ("ssh", 0, 99),
    "nginx-service-type": ("web", 0, 99),
    "httpd-service-type": ("web", 0, 99),
    "postgresql-service-type": ("databases", 0, 99),
    "postgresql-role-service-type": ("databases", 2, 99),
    "redis-service-type": ("databases", 0, 99),
    "mysql-service-type": ("databases", 0, 99),
    "qemu-guest-agent-service-type": ("virtualization", 2, 99),
    "prometheus-node-exporter-service-type": ("monitoring", 0, 99),
    "mcron-service-type": ("mcron", 0, 99),
    "rottlog-service-type": ("admin", 0, 8),
    "log-rotation-service-type": ("admin", 9, 99),
    "unattended-upgrade-service-type": ("admin", 2, 99),
    "certbot-service-type": ("certbot", 0, 99),
    "docker-service-type": ("docker", 0, 99),
    "elogind-service-type": ("desktop", 0, 99),
    "dbus-root-service-type": ("dbus", 0, 99),
    "fail2ban-service-type": ("security", 7, 99),
    # Read from guix.git at each column's commit ((define NAME in gnu/services*), for the
    # configs of tests/corpus (the real-Guix tier, tests/realguix). etc-service-type is in
    # gnu/services.scm, which (use-modules (gnu)) exports like (gnu services base).
    "etc-service-type": ("base", 0, 99),
    "virtual-terminal-service-type": ("base", 0, 99),
    "console-font-service-type": ("base", 0, 99),
    "pulseaudio-service-type": ("sound", 2, 99),
    "wireguard-service-type": ("vpn", 3, 99),
    "slim-service-type": ("xorg", 0, 99),
    "gdm-service-type": ("xorg", 0, 99),
    "gnome-desktop-service-type": ("desktop", 0, 99),
    "xfce-desktop-service-type": ("desktop", 0, 99),
}

# Which packages a service type brings into the system closure (by variable).
SERVICE_PACKAGES: dict[str, tuple[str, ...]] = {
    "guix-service-type": ("guix",),
    "openssh-service-type": ("openssh",),
    "dropbear-service-type": ("dropbear",),
    "nginx-service-type": ("nginx",),
    "postgresql-service-type": ("postgresql",),
    "redis-service-type": ("redis",),
    "mysql-service-type": ("mariadb",),
    "dhcp-client-service-type": ("isc-dhcp",),
    "dhcpcd-service-type": ("dhcpcd",),
    "ntp-service-type": ("ntp",),
    "openntpd-service-type": ("openntpd",),
    "nftables-service-type": ("nftables",),
    "iptables-service-type": ("iptables",),
    "tor-service-type": ("tor",),
    "qemu-guest-agent-service-type": ("qemu-minimal",),
    "prometheus-node-exporter-service-type": ("prometheus-node-exporter",),
    "mcron-service-type": ("mcron",),
    "rottlog-service-type": ("rottlog",),
    "certbot-service-type": ("certbot",),
    "docker-service-type": ("docker",),
    "network-manager-service-type": ("network-manager",),
    "fail2ban-service-type": ("fail2ban",),
}

# What %base-services brings (the services and their packages), per era.
BASE_SERVICE_PACKAGES = ("guix", "shepherd", "eudev", "kmod", "mingetty", "inetutils")

# Package table (packages.txt beside this file): VARIABLE PACKAGE-NAME MODULE then one version
# per column of REVISIONS; '-' means not in that revision and '=' means the package name is the
# variable's. About 45 rows hold the versions read in gnu/packages/*.scm at each pin; the other
# rows and cells are invented.
_TABLE = (Path(__file__).with_name("packages.txt")).read_text()
# Runtime inputs by package name (the same in every revision). glibc is added to every
# package that is not in NO_LIBC; the toolchain (glibc, gcc, binutils) is an implicit build
# input of every package, so upgrading it changes every store file name.
DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "bash": ("readline", "ncurses"),
    "coreutils": ("gmp",),
    "grep": ("pcre2",),
    "less": ("ncurses",),
    "procps": ("ncurses",),
    "psmisc": ("ncurses",),
    "util-linux": ("ncurses",),
    "e2fsprogs": ("util-linux",),
    "kmod": ("xz", "zlib"),
    "eudev": ("kmod",),
    "shadow": ("libxcrypt",),
    "nano": ("ncurses",),
    "mg": ("ncurses",),
    "info-reader": ("ncurses",),
    "inetutils": ("ncurses", "readline"),
    "readline": ("ncurses",),
    "guile": ("gmp", "libffi", "libgc", "libunistring", "readline"),
    "shepherd": ("guile",),
    "guix": ("guile", "sqlite", "zlib", "bzip2", "gnutls"),
    "gnutls": ("gmp",),
    "libtomcrypt": ("libtommath",),
    "dropbear": ("zlib", "libxcrypt", "libtomcrypt", "libtommath", "gmp"),
    "nginx": ("openssl", "pcre2", "zlib"),
    "openssh": ("openssl", "zlib", "libxcrypt"),
    "postgresql": ("openssl", "readline", "zlib"),
    "redis": ("openssl",),
    "mariadb": ("openssl", "pcre2", "zlib", "ncurses"),
    "sqlite": ("readline",),
    "curl": ("openssl", "zlib"),
    "wget": ("openssl", "pcre2", "zlib"),
    "htop": ("ncurses",),
    "rsync": ("openssl", "zlib"),
    "git": ("curl", "openssl", "pcre2", "zlib"),
    "vim": ("ncurses",),
    "emacs": ("ncurses", "gmp", "zlib", "gnutls"),
    "tmux": ("ncurses",),
    "screen": ("ncurses", "libxcrypt"),
    "python": ("openssl", "readline", "sqlite", "zlib", "xz", "bzip2", "libffi"),
    "isc-dhcp": ("iproute2",),
    "ntp": ("openssl",),
    "nftables": ("readline", "gmp"),
    "tor": ("openssl", "zlib"),
    "qemu-minimal": ("zlib",),
    "mcron": ("guile",),
    "certbot": ("python", "openssl"),
    "docker": ("iptables",),
    "network-manager": ("gnutls", "iproute2"),
    "fail2ban": ("python",),
}
NO_LIBC = frozenset({"glibc", "gcc", "binutils", "linux-libre", "busybox", "tzdata",
                     "nss-certs", "grub"})
TOOLCHAIN = ("glibc", "gcc", "binutils")

# Packages whose store items hold a command (bin/NAME prints the version). Commands that
# busybox also provides are left out so that the guest's shell tools stay busybox's.
COMMANDS: dict[str, tuple[str, ...]] = {
    "nginx": ("sbin/nginx",), "openssh": ("bin/ssh", "bin/scp", "sbin/sshd"),
    "postgresql": ("bin/postgres", "bin/psql"), "redis": ("bin/redis-server",),
    "mariadb": ("bin/mysqld",), "sqlite": ("bin/sqlite3",), "curl": ("bin/curl",),
    "htop": ("bin/htop",), "rsync": ("bin/rsync",), "git": ("bin/git",),
    "emacs": ("bin/emacs",), "tmux": ("bin/tmux",), "screen": ("bin/screen",),
    "python": ("bin/python3",), "jq": ("bin/jq",), "strace": ("bin/strace",),
    "lsof": ("bin/lsof",), "guix": ("bin/guix",), "shepherd": ("bin/herd",),
    "guile": ("bin/guile",), "certbot": ("bin/certbot",), "tor": ("bin/tor",),
    "docker": ("bin/docker",), "nano": ("bin/nano",), "mg": ("bin/mg",),
    "bash": ("bin/bash",), "mcron": ("bin/mcron",), "nft": (),
}

BASE_PACKAGES_2019 = ("bash", "coreutils", "findutils", "grep", "sed", "tar", "gzip", "bzip2",
                      "xz", "less", "procps", "psmisc", "iproute", "util-linux", "e2fsprogs",
                      "kmod", "eudev", "shadow", "mingetty", "nano", "which", "diffutils",
                      "info-reader", "man-db", "inetutils", "guile")
BASE_PACKAGES_2023 = BASE_PACKAGES_2019 + ("mg",)
BASE_PACKAGES_2024 = BASE_PACKAGES_2023 + ("nss-certs",)


@dataclass(frozen=True)
class PackageSpec:
    variable: str
    name: str
    version: str
    module: str

    @property
    def full_name(self) -> str:
        return f"{self.name}-{self.version}"


def _parse_table() -> dict[str, tuple[str, str, tuple[str, ...]]]:
    rows: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for line in _TABLE.strip().splitlines():
        if line.startswith("#"):
            continue
        parts = line.split()
        var, name, module, versions = parts[0], parts[1], parts[2], tuple(parts[3:])
        if len(versions) != COLUMNS:
            raise AssertionError(f"history table: {var} has {len(versions)} columns")
        rows[var] = (var if name == "=" else name, module, versions)
    return rows


_ROWS = _parse_table()


def by_commit() -> dict[str, Revision]:
    return {r.commit: r for r in REVISIONS}


def newest() -> Revision:
    return max((r for r in REVISIONS if r.column is not None), key=lambda r: r.date)


def packages(rev: Revision) -> dict[str, PackageSpec]:
    """Every package variable of a revision."""
    out = {}
    for var, (name, module, versions) in _ROWS.items():
        v = versions[rev.column]
        if v == "-":
            continue
        if v == "GUIX":
            v = rev.version_string
        out[var] = PackageSpec(var, name, v, module)
    return out


# Security replacements (grafts): (variable, revision commit) -> (replacement variable, its
# version). Real: gnu/packages/curl.scm@60c97924e95:64-68 gives curl 7.85.0 a
# ``(replacement curl/fixed)``, and :158-162 makes curl/fixed 8.4.0a ("add lowercase 'a' for
# grafting": a replacement's file name must be as long as the original's); the pins before
# (76e39909e886, cebcf3533ab8) and after (dc4c48f10281, curl 8.5.0) have no replacement.
REPLACEMENTS: dict[tuple[str, str], tuple[str, str]] = {
    ("curl", "60c97924e9519361494aaf0686e28eb831a42315"): ("curl/fixed", "8.4.0a"),
}


def replacement(rev: Revision, spec: PackageSpec) -> PackageSpec | None:
    """The package that replaces ``spec`` when grafting at this revision, if any."""
    found = REPLACEMENTS.get((spec.variable, rev.commit))
    if found is None:
        return None
    return PackageSpec(found[0], spec.name, found[1], spec.module)


def base_packages(rev: Revision) -> tuple[str, ...]:
    if rev.date.year < 2023:
        return BASE_PACKAGES_2019
    if rev.date < datetime(2024, 9, 1, tzinfo=UTC):
        return BASE_PACKAGES_2023
    return BASE_PACKAGES_2024


def service_types(rev: Revision) -> dict[str, str]:
    """{service type: module} known in this revision."""
    return {t: module for t, (module, first, last) in SERVICE_TYPES.items()
            if first <= rev.column <= last}


def _version_key(version: str) -> tuple:
    out = []
    for part in version.replace("-", ".").split("."):
        num = "".join(c for c in part if c.isdigit())
        out.append((int(num) if num else -1, part))
    return tuple(out)


def find_specification(rev: Revision, spec: str) -> PackageSpec | None:
    """What ``(specification->package SPEC)`` finds: NAME or NAME@VERSION-PREFIX, newest
    matching version first (an output suffix ``:out`` is ignored)."""
    spec = spec.split(":", 1)[0]
    name, _, version = spec.partition("@")
    found = [p for p in packages(rev).values() if p.name == name
             and (not version or p.version == version or p.version.startswith(version + "."))]
    if not found:
        return None
    return max(found, key=lambda p: _version_key(p.version))
