"""The stand-in's small history of the ``guix`` channel.

Each revision is a (made-up but real-looking) commit of the guix channel with its date, the
package versions it ships, the service types it knows and what its ``guix system`` can do.
Pins from different months therefore give different closures, as with real Guix; two
neighbouring revisions (2023-10 and 2023-11) differ only in nginx, so a diff between them is
small. Revisions older than 2019-05-01 are listed only so that time travel to them fails the
way ``guix time-machine`` does; revisions before Guix 1.3.0 (2021) have no ``system image``.

The commits are not real Guix commits (except that ``4a0b87f0ec5b…`` is the oldest commit
``guix time-machine`` can reach, and ``e0fa68c7…`` is the example in guix-facts.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

GUIX_URL = "https://git.savannah.gnu.org/git/guix.git"
GUIX_URLS = (
    GUIX_URL,
    "https://codeberg.org/guix/guix.git",
    "https://git.guix.gnu.org/guix.git",
)
INTRODUCTION_COMMIT = "9edb3f66fd807b096b48283debdcddccfea34bad"
INTRODUCTION_SIGNER = "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA"
OLDEST_COMMIT = "4a0b87f0ec5b6c2dcf82b372dd20ca7ea6acdd9c"
OLDEST_DATE = datetime(2019, 5, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Revision:
    commit: str
    date: datetime
    guix_version: str        # what `guix --version` would call the release it is based on
    column: int | None       # column in the package table; None: unreachable (too old)
    image_action: bool = True            # `guix system image` exists (Guix >= 1.3.0)
    manifest_version: int = 4
    image_types: tuple[str, ...] = ()
    services: frozenset[str] = field(default_factory=frozenset)

    @property
    def short(self) -> str:
        return self.commit[:7]

    @property
    def epoch(self) -> int:
        return int(self.date.timestamp())

    @property
    def reachable(self) -> bool:
        return self.date >= OLDEST_DATE

    @property
    def version_string(self) -> str:
        """``1.4.0-12.e0fa68c``: the version `guix describe` and the guix package show."""
        return f"{self.guix_version}.{self.short}"


def _d(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


_TYPES_2023 = ("efi-raw", "efi32-raw", "hurd-raw", "hurd-qcow2", "qcow2", "iso9660",
               "uncompressed-iso9660", "mbr-raw", "raw-with-offset", "docker", "wsl2",
               "tarball", "pinebook-pro-raw", "rock64-raw", "novena-raw", "pine64-raw")
_TYPES_2024 = _TYPES_2023 + ("mbr-hybrid-raw",)

# Service types and the module (gnu services MODULE) that defines them; "base" is exported by
# (use-modules (gnu)). Each type is known from the first column (0-based) given on.
SERVICE_TYPES: dict[str, tuple[str, int, int]] = {
    # type: (module, first column, last column)
    "guix-service-type": ("base", 0, 99),
    "nscd-service-type": ("base", 0, 99),
    "udev-service-type": ("base", 0, 99),
    "syslog-service-type": ("base", 0, 99),
    "login-service-type": ("base", 0, 99),
    "mingetty-service-type": ("base", 0, 99),
    "agetty-service-type": ("base", 0, 99),
    "urandom-seed-service-type": ("base", 0, 99),
    "special-files-service-type": ("base", 0, 99),
    "static-networking-service-type": ("base", 2, 99),
    "guix-publish-service-type": ("base", 0, 99),
    "gpm-service-type": ("base", 0, 99),
    "sysctl-service-type": ("sysctl", 0, 99),
    "dhcp-client-service-type": ("networking", 0, 99),
    "dhcpcd-service-type": ("networking", 5, 99),
    "network-manager-service-type": ("networking", 0, 99),
    "ntp-service-type": ("networking", 0, 99),
    "openntpd-service-type": ("networking", 0, 99),
    "nftables-service-type": ("networking", 1, 99),
    "iptables-service-type": ("networking", 0, 99),
    "tor-service-type": ("networking", 0, 99),
    "openssh-service-type": ("ssh", 0, 99),
    "dropbear-service-type": ("ssh", 0, 99),
    "nginx-service-type": ("web", 0, 99),
    "httpd-service-type": ("web", 0, 99),
    "postgresql-service-type": ("databases", 0, 99),
    "postgresql-role-service-type": ("databases", 1, 99),
    "redis-service-type": ("databases", 0, 99),
    "mysql-service-type": ("databases", 0, 99),
    "qemu-guest-agent-service-type": ("virtualization", 1, 99),
    "prometheus-node-exporter-service-type": ("monitoring", 0, 99),
    "mcron-service-type": ("mcron", 0, 99),
    "rottlog-service-type": ("admin", 0, 5),
    "log-rotation-service-type": ("admin", 6, 99),
    "unattended-upgrade-service-type": ("admin", 1, 99),
    "certbot-service-type": ("certbot", 0, 99),
    "docker-service-type": ("docker", 0, 99),
    "elogind-service-type": ("desktop", 0, 99),
    "dbus-root-service-type": ("dbus", 0, 99),
    "fail2ban-service-type": ("security", 3, 99),
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

REVISIONS: tuple[Revision, ...] = (
    Revision("afded13d580159e49313562195e5623ca1078cbd", _d("2018-12-06 14:21:09"),
             "0.16.0-1", None, image_action=False, manifest_version=3),
    Revision("dfb52813ac5d97cd98aaf387a5b4c082c5f063c0", _d("2019-03-27 09:47:55"),
             "0.16.0-957", None, image_action=False, manifest_version=3),
    Revision(OLDEST_COMMIT, _d("2019-05-01 21:33:12"), "1.0.0rc2-1", 0,
             image_action=False, manifest_version=3),
    Revision("477d56a8d8b1b44b8802d2ce7d90ed430ae636ee", _d("2020-11-18 16:05:41"),
             "1.2.0-4", 1, image_action=False, manifest_version=3),
    Revision("aa45ee8d9978e53520fa6d2604572f634a292507", _d("2023-03-14 11:52:30"),
             "1.4.0-3", 2, image_types=_TYPES_2023),
    Revision("e0fa68c7718fffd33d81af415279d6ddb518f727", _d("2023-10-09 08:14:27"),
             "1.4.0-12", 3, image_types=_TYPES_2023),
    Revision("b92df6ccfdc04473af9d1cad86a99aac035fc3fc", _d("2023-11-20 19:40:03"),
             "1.4.0-14", 4, image_types=_TYPES_2023),
    Revision("b4d6ce5a8f0e2d17c0a3e7b8c1f94a2d6e5b3c70", _d("2024-05-21 07:26:48"),
             "1.4.0-19", 5, image_types=_TYPES_2023),
    Revision("4e306526d728049a0986707f6eb22a3c8c346de7", _d("2024-11-12 13:03:59"),
             "1.4.0-27", 6, image_types=_TYPES_2024),
    Revision("8250fd1a78d6a5da6ac1723e107a6df899e7d351", _d("2025-06-03 10:18:36"),
             "1.4.0-36", 7, image_types=_TYPES_2024),
)

# Package table: VARIABLE PACKAGE-NAME MODULE then one version per column (2019-05, 2020-11,
# 2023-03, 2023-10, 2023-11, 2024-05, 2024-11, 2025-06); '-' means not in that revision and
# '=' after the variable means the package name is the variable's name.
_TABLE = """
glibc           = base        2.28     2.31     2.33     2.35     2.35     2.35     2.39     2.41
gcc             = gcc         5.5.0    7.5.0    10.3.0   11.3.0   11.3.0   11.3.0   14.2.0   14.2.0
binutils        = base        2.31.1   2.34     2.37     2.38     2.38     2.38     2.41     2.41
linux-libre     = linux       5.0.10   5.9.8    6.2.5    6.5.6    6.5.6    6.8.9    6.11.7   6.14.8
linux-libre-lts linux-libre linux 4.19.37 5.4.78 6.1.18 6.1.56 6.1.56 6.6.31 6.6.60 6.12.31
bash            = bash        4.4.23   5.0.16   5.1.16   5.1.16   5.1.16   5.1.16   5.2.37   5.2.37
coreutils       = base        8.30     8.32     8.32     9.1      9.1      9.1      9.1      9.1
grep            = base        3.3      3.4      3.8      3.8      3.8      3.11     3.11     3.11
sed             = base        4.7      4.8      4.8      4.8      4.8      4.9      4.9      4.9
findutils       = base        4.6.0    4.7.0    4.8.0    4.9.0    4.9.0    4.9.0    4.10.0   4.10.0
tar             = base        1.32     1.32     1.34     1.34     1.34     1.34     1.35     1.35
gzip            = compression 1.10     1.10     1.12     1.12     1.12     1.12     1.13     1.14
xz              = compression 5.2.4    5.2.5    5.2.8    5.2.8    5.2.8    5.2.8    5.4.5    5.4.5
bzip2           = compression 1.0.6    1.0.8    1.0.8    1.0.8    1.0.8    1.0.8    1.0.8    1.0.8
less            = less        530      551      608      608      608      643      643      668
procps          = linux       3.3.15   3.3.16   3.3.16   3.3.16   3.3.16   3.3.16   4.0.4    4.0.5
psmisc          = linux       23.2     23.3     23.5     23.6     23.6     23.6     23.7     23.7
iproute         iproute2 linux 4.20.0  5.9.0    6.1.0    6.4.0    6.4.0    6.4.0    6.9.0    6.14.0
util-linux      = linux       2.33.1   2.35.1   2.37.4   2.37.4   2.37.4   2.37.4   2.40.2   2.40.4
e2fsprogs       = linux       1.44.5   1.45.6   1.46.5   1.46.5   1.46.5   1.46.5   1.47.0   1.47.2
kmod            = linux       26       27       29       29       29       29       31       31
eudev           = linux       3.2.7    3.2.9    3.2.11   3.2.11   3.2.11   3.2.14   3.2.14   3.2.14
shadow          = admin       4.6      4.8.1    4.9      4.13     4.13     4.13     4.14.3   4.17.4
mingetty        = admin       1.08     1.08     1.08     1.08     1.08     1.08     1.08     1.08
nano            = nano        4.0      5.3      7.2      7.2      7.2      7.2      8.2      8.4
mg              = text-editors 20180927 20200723 20220614 20221112 20221112 20230501 20240709 20240709
which           = base        2.21     2.21     2.21     2.21     2.21     2.21     2.21     2.21
diffutils       = base        3.7      3.7      3.8      3.8      3.8      3.8      3.10     3.10
info-reader     = texinfo     6.6      6.7      6.8      6.8      6.8      6.8      7.1      7.2
man-db          = man         2.8.5    2.9.3    2.10.2   2.11.2   2.11.2   2.12.0   2.12.1   2.13.0
inetutils       = admin       1.9.4    1.9.4    2.0      2.4      2.4      2.4      2.5      2.6
guile           guile guile   2.2.4    3.0.4    3.0.9    3.0.9    3.0.9    3.0.9    3.0.9    3.0.10
guile-3.0       guile guile   -        3.0.4    3.0.9    3.0.9    3.0.9    3.0.9    3.0.9    3.0.10
shepherd        = admin       0.6.0    0.8.1    0.9.3    0.10.2   0.10.2   0.10.4   0.10.5   1.0.4
guix            = package-management GUIX GUIX GUIX GUIX GUIX GUIX GUIX GUIX
grub            = bootloaders 2.02     2.04     2.06     2.06     2.06     2.06     2.06     2.12
openssl         = tls         1.0.2p   1.1.1h   1.1.1t   3.0.8    3.0.8    3.0.8    3.0.8    3.0.16
gnutls          = tls         3.6.7    3.6.15   3.7.7    3.7.7    3.7.7    3.7.7    3.8.3    3.8.3
zlib            = compression 1.2.11   1.2.11   1.2.13   1.2.13   1.2.13   1.2.13   1.3      1.3.1
pcre2           = pcre        10.32    10.35    10.40    10.42    10.42    10.42    10.42    10.44
readline        = readline    7.0.5    8.0.4    8.1.2    8.1.2    8.1.2    8.1.2    8.2.13   8.2.13
ncurses         = ncurses     6.1      6.2      6.2      6.2      6.2      6.2      6.4      6.4
libffi          = libffi      3.2.1    3.3      3.3      3.4.4    3.4.4    3.4.4    3.4.6    3.4.6
gmp             = multiprecision 6.1.2 6.2.0    6.2.1    6.2.1    6.2.1    6.2.1    6.3.0    6.3.0
libgc           = bdw-gc      7.6.6    8.0.4    8.2.2    8.2.2    8.2.2    8.2.4    8.2.4    8.2.8
libunistring    = libunistring 0.9.10  0.9.10   1.0      1.1      1.1      1.1      1.1      1.3
libxcrypt       = crypto      4.4.10   4.4.17   4.4.33   4.4.33   4.4.33   4.4.36   4.4.36   4.4.38
libtomcrypt     = multiprecision 1.18.2 1.18.2  1.18.2   1.18.2   1.18.2   1.18.2   1.18.2   1.18.2
libtommath      = multiprecision 1.1.0 1.2.0    1.2.0    1.2.0    1.2.0    1.2.1    1.3.0    1.3.0
busybox         = busybox     1.29.3   1.31.1   1.36.0   1.36.1   1.36.1   1.36.1   1.37.0   1.37.0
dropbear        = ssh         2019.78  2020.81  2022.83  2022.83  2022.83  2022.83  2024.85  2025.87
nginx           = web         1.16.0   1.19.4   1.23.3   1.25.2   1.25.3   1.25.5   1.27.2   1.27.5
openssh         = ssh         8.0p1    8.4p1    9.2p1    9.4p1    9.4p1    9.7p1    9.8p1    10.0p1
postgresql      = databases   10.7     10.14    14.6     14.9     14.9     15.6     15.8     16.8
postgresql-10   postgresql databases 10.7 10.14 -        -        -        -        -        -
postgresql-11   postgresql databases 11.2 11.9  11.18    -        -        -        -        -
postgresql-13   postgresql databases - 13.1     13.9     13.12    13.12    13.14    13.16    13.20
postgresql-14   postgresql databases - -        14.6     14.9     14.9     14.11    14.13    14.17
postgresql-15   postgresql databases - -        15.2     15.4     15.4     15.6     15.8     15.12
postgresql-16   postgresql databases - -        -        -        -        16.2     16.4     16.8
redis           = databases   5.0.4    6.0.9    7.0.8    7.0.12   7.0.12   7.0.15   7.2.4    7.2.7
mariadb         = databases   10.1.38  10.5.8   10.10.2  10.10.2  10.10.2  10.10.2  10.10.2  10.11.11
sqlite          = sqlite      3.26.0   3.32.3   3.39.3   3.39.3   3.39.3   3.39.3   3.45.1   3.45.1
curl            = curl        7.64.1   7.73.0   7.85.0   8.4.0    8.4.0    8.6.0    8.6.0    8.11.1
wget            = wget        1.20.3   1.20.3   1.21.3   1.21.4   1.21.4   1.21.4   1.21.4   1.25.0
htop            = admin       2.2.0    3.0.2    3.2.2    3.2.2    3.2.2    3.3.0    3.3.0    3.4.1
rsync           = rsync       3.1.3    3.2.3    3.2.7    3.2.7    3.2.7    3.2.7    3.3.0    3.4.1
git             = version-control 2.21.0 2.29.2 2.39.2   2.41.0   2.41.0   2.45.1   2.46.0   2.49.0
vim             = vim         8.1.1281 8.2.1848 9.0.1150 9.0.1738 9.0.1738 9.1.0146 9.1.0744 9.1.1351
emacs           = emacs       26.2     27.1     28.2     29.1     29.1     29.3     29.4     30.1
tmux            = tmux        2.9      3.1b     3.3a     3.3a     3.3a     3.4      3.5a     3.5a
screen          = screen      4.6.2    4.8.0    4.9.0    4.9.1    4.9.1    4.9.1    4.9.1    5.0.1
python          = python      3.7.0    3.8.2    3.9.9    3.10.7   3.10.7   3.10.7   3.11.11  3.11.11
jq              = web         1.6      1.6      1.6      1.7      1.7      1.7.1    1.7.1    1.7.1
strace          = linux       5.0      5.9      6.2      6.5      6.5      6.7      6.11     6.14
lsof            = lsof        4.91     4.94.0   4.94.0   4.94.0   4.94.0   4.94.0   4.94.0   4.99.4
tzdata          = base        2019a    2020d    2022g    2023c    2023c    2024a    2024a    2025b
nss-certs       = certs       3.43     3.59     3.81     3.88.1   3.88.1   3.99     3.101.1  3.108
isc-dhcp        = admin       4.4.1    4.4.2    4.4.3-P1 4.4.3-P1 4.4.3-P1 4.4.3-P1 4.4.3-P1 4.4.3-P1
dhcpcd          = admin       -        -        -        10.0.2   10.0.2   10.0.6   10.0.8   10.1.0
ntp             = ntp         4.2.8p13 4.2.8p15 4.2.8p15 4.2.8p17 4.2.8p17 4.2.8p17 4.2.8p18 4.2.8p18
openntpd        = ntp         6.2p3    6.2p3    6.8p1    6.8p1    6.8p1    6.8p1    6.8p1    6.8p1
nftables        = linux       0.9.0    0.9.6    1.0.5    1.0.7    1.0.7    1.0.9    1.1.0    1.1.1
iptables        = linux       1.6.2    1.8.5    1.8.8    1.8.9    1.8.9    1.8.9    1.8.10   1.8.10
tor             = tor         0.3.5.8  0.4.4.6  0.4.7.13 0.4.8.7  0.4.8.9  0.4.8.11 0.4.8.13 0.4.8.16
qemu-minimal    = virtualization 3.1.0 5.1.0    7.2.0    8.1.1    8.1.1    8.2.2    9.1.1    9.1.2
prometheus-node-exporter = monitoring 0.18.1 1.0.1 1.5.0 1.6.1 1.6.1 1.7.0 1.8.2 1.9.1
mcron           = guile-xyz   1.1.2    1.2.0    1.2.1    1.2.1    1.2.1    1.2.3    1.2.3    1.2.3
rottlog         = admin       0.72.2   0.72.2   0.72.2   0.72.2   0.72.2   0.72.2   -        -
certbot         = tls         0.31.0   1.9.0    2.3.0    2.6.0    2.6.0    2.9.0    2.11.0   3.2.0
docker          = docker      18.09.5  19.03.13 20.10.17 20.10.25 20.10.27 24.0.9   24.0.9   26.1.4
network-manager = gnome       1.16.0   1.24.0   1.40.0   1.43.4   1.43.4   1.46.0   1.48.10  1.52.0
fail2ban        = admin       -        -        1.0.2    1.0.2    1.0.2    1.0.2    1.1.0    1.1.0
"""

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
        parts = line.split()
        var, name, module, versions = parts[0], parts[1], parts[2], tuple(parts[3:])
        if len(versions) != 8:
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
