"""What runs inside the guest: real binaries from the host and the scripts that boot it.

The guest is a Guix-shaped system made of Debian parts: busybox-static (shell, init, DHCP
client, acpid), OpenSSH's sshd for ``openssh-service-type`` (with its sshd_config as Guix
writes it: keys read from /etc/ssh/authorized_keys.d/%u; its shared libraries ride in the
openssh store item), dropbear for ``dropbear-service-type`` (its shared libraries are found
with ``ldd`` and placed in the store items of the packages Guix would take them from) and
Debian's cloud kernel. Boot goes: GRUB -> kernel + ``raw-initrd`` (busybox, virtio modules, ``init``) ->
``init`` mounts the root partition (label ``Guix_image``), moves /dev and ``switch_root``s
into ``<system>/boot`` -> ``boot`` mounts /proc, /sys, /dev/pts, /run, points
``/run/current-system`` at the system, activates /etc, makes dropbear's host keys on first
boot (kept on the disk in /etc/ssh or /etc/dropbear), makes homes from /etc/skel as the
``user-homes`` service does, and execs busybox ``init``, whose inittab (from
``<system>/etc``) runs the DHCP client on eth0, the SSH server and acpid (the ACPI
power button powers the guest off cleanly, which is what ``virsh shutdown`` sends).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import GuixError

BUSYBOX = "/usr/bin/busybox"
DROPBEAR = "/usr/sbin/dropbear"
DROPBEARKEY = "/usr/bin/dropbearkey"
SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
# What sshd runs as before authentication (Debian's build: privilege separation in /run/sshd).
SSHD_PRIVSEP_DIR = "/run/sshd"
ROOT_LABEL = "Guix_image"

# Which package a shared library belongs to in Guix.
SONAME_PACKAGES = {
    "libc.so.6": "glibc", "ld-linux-x86-64.so.2": "glibc", "libm.so.6": "glibc",
    "libresolv.so.2": "glibc", "libutil.so.1": "glibc", "libpthread.so.0": "glibc",
    "libdl.so.2": "glibc", "libz.so.1": "zlib", "libcrypt.so.1": "libxcrypt",
    "libtomcrypt.so.1": "libtomcrypt", "libtommath.so.1": "libtommath",
    "libgmp.so.10": "gmp",
}


@dataclass(frozen=True)
class HostBinaries:
    busybox: str
    dropbear: str
    dropbearkey: str
    libraries: dict[str, tuple[tuple[str, str], ...]]   # package -> ((soname, host path), …)
    applets: tuple[str, ...]
    sshd: str = SSHD
    ssh_keygen: str = SSH_KEYGEN
    ssh_libraries: tuple[tuple[str, str], ...] = ()   # sshd's and ssh-keygen's, but libc


def _ldd(binary: str) -> list[tuple[str, str]]:
    """(soname, resolved host path) of each shared library ``binary`` needs."""
    out = []
    for line in subprocess.run(["ldd", binary], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line)
        if m:
            out.append((m.group(1), str(Path(m.group(2)).resolve())))
        elif (m := re.match(r"\s*(/\S+/(\S+?))\s", line)):
            out.append((m.group(2), str(Path(m.group(1)).resolve())))
    return out


def _tool(path: str, package: str) -> str:
    if not Path(path).exists():
        found = shutil.which(Path(path).name)
        if not found:
            raise GuixError(f"stand-in: {path} not found",
                            hints=(f"apt-get install {package}",))
        return found
    return path


def host_binaries() -> HostBinaries:
    busybox = _tool(BUSYBOX, "busybox-static")
    dropbear = _tool(DROPBEAR, "dropbear-bin")
    dropbearkey = _tool(DROPBEARKEY, "dropbear-bin")
    libs: dict[str, dict[str, str]] = {}
    for binary in (dropbear, dropbearkey):
        out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line) or re.match(r"\s*(/\S+/(\S+?))\s",
                                                                         line)
            if not m:
                continue
            if line.strip().startswith("/"):
                path, soname = m.group(1), m.group(2)
            else:
                soname, path = m.group(1), m.group(2)
            package = SONAME_PACKAGES.get(soname)
            if package is None:
                raise GuixError(f"stand-in: {binary} needs {soname}, which the stand-in does "
                                "not know how to place in the store",
                                hints=("add it to SONAME_PACKAGES in tests/standin/"
                                       "guix_standin/guest.py",))
            libs.setdefault(package, {})[soname] = str(Path(path).resolve())
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split()
    sshd, keygen = _tool(SSHD, "openssh-server"), _tool(SSH_KEYGEN, "openssh-client")
    in_glibc = dict(libs.get("glibc", {}))
    ssh_libs = {soname: path for b in (sshd, keygen) for soname, path in _ldd(b)
                if soname not in in_glibc}
    return HostBinaries(busybox, dropbear, dropbearkey,
                        {p: tuple(sorted(v.items())) for p, v in sorted(libs.items())},
                        tuple(a for a in applets if re.fullmatch(r"[\w.-]+", a)),
                        sshd, keygen, tuple(sorted(ssh_libs.items())))


def initrd_init(busybox_applets: tuple[str, ...], modules: tuple[str, ...],
                root_uuid: str | None = None) -> str:
    """/init of the initrd: load the virtio modules, mount the root, switch to the system.
    The root is found by its label, or by ``root_uuid`` (a vm-image's root has no label)."""
    mods = " ".join(modules)
    default, by = (root_uuid, "UUID") if root_uuid else (ROOT_LABEL, "LABEL")
    found_by = f"UUID {root_uuid}" if root_uuid else f"label {ROOT_LABEL}"
    return f"""#!/bin/busybox sh
# raw-initrd: find the root file system ({found_by}) and start the system on it.
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
for m in {mods}; do
  [ -f /lib/modules/$m.ko ] && $B insmod /lib/modules/$m.ko 2>/dev/null
done
root={default}; system=
for arg in $($B cat /proc/cmdline); do
  case "$arg" in
    --root=*) root="${{arg#--root=}}" ;;
    --system=*) system="${{arg#--system=}}" ;;
  esac
done
case "$root" in /*) ;; *) root="{by}=$root" ;; esac
dev=; i=0
while [ $i -lt 100 ]; do
  case "$root" in
    /*) [ -b "$root" ] && dev=$root ;;
    *) dev=$($B findfs "$root" 2>/dev/null) ;;
  esac
  [ -n "$dev" ] && break
  $B sleep 0.1; i=$((i + 1))
done
if [ -z "$dev" ] || ! $B mount -t ext4 "$dev" /root; then
  echo "initrd: cannot mount the root file system ($root); starting a shell"
  exec $B sh
fi
$B umount /proc /sys
$B mkdir -p /root/dev            # the image holds only what gnu/build/install.scm makes
$B mount --move /dev /root/dev
exec $B switch_root /root "$system/boot"
"""


def boot_script(busybox: str, dropbearkey: str | None, lib_path: str, *,
                busybox_bin: str, glibc_lib: str,
                accounts: tuple[tuple[str, int, int, str], ...],
                ssh_keygen: str | None = None, ssh_lib_path: str = "") -> str:
    """``<system>/boot``: the first program on the root file system (PID 1 until init).

    It activates the system as Guix's activation scripts do at every boot (gnu/system.scm,
    gnu/build/activation.scm): the image at rest holds only what gnu/build/install.scm
    writes, so /etc/static, the /etc files, /etc/passwd, group and shadow, /bin/sh, /root,
    each user's home (owned by the user) and the SSH host key are made here, from the
    system's store items. ``accounts`` is (name, uid, gid, home) per user. A home that does
    not exist yet is made 0700 from /etc/skel and given to its user, as the ``user-homes``
    service does (gnu/build/activation.scm, activate-user-home); sshd reads the keys from
    /etc/ssh/authorized_keys.d/%u, so no ~/.ssh is made. With ``ssh_keygen`` (openssh) the
    host key is made as openssh's activation does (``ssh-keygen``; ed25519 only here, for
    speed under TCG), with ``dropbearkey`` dropbear's."""
    keygen = ""
    if ssh_keygen is not None:
        keygen = f"""key=/etc/ssh/ssh_host_ed25519_key
if [ ! -s $key ]; then
  LD_LIBRARY_PATH={ssh_lib_path} {ssh_keygen} -q -t ed25519 -N "" -f $key >/dev/null 2>&1
  $B sync
fi
$B mkdir -p {SSHD_PRIVSEP_DIR}; $B chmod 755 {SSHD_PRIVSEP_DIR}
[ -e /var/run ] || $B ln -s /run /var/run
"""
    elif dropbearkey is not None:
        keygen = f"""key=/etc/dropbear/dropbear_ed25519_host_key
if [ ! -s $key ]; then
  LD_LIBRARY_PATH={lib_path} {dropbearkey} -t ed25519 -f $key >/dev/null 2>&1
  $B sync
fi
"""
    homes = "".join(f"home {name} {uid} {gid} {home}\n" for name, uid, gid, home in accounts)
    return f"""#!{busybox} sh
# boot: mount the API file systems, activate the system named on the kernel command line,
# then hand over to init.
B={busybox}
export PATH=/bin
$B mkdir -p /proc /sys /dev /run /tmp /etc/dropbear /var/log
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mkdir -p /dev/pts /dev/shm
$B mount -t devpts devpts /dev/pts
$B mount -t tmpfs -o mode=0755 tmpfs /run
$B mount -t tmpfs -o mode=1777 tmpfs /tmp
system=
for arg in $($B cat /proc/cmdline); do
  case "$arg" in --system=*) system="${{arg#--system=}}" ;; esac
done
$B ln -sfn "$system" /run/current-system
$B ln -sfn "$system" /run/booted-system
# activation: /etc from the system's etc item
$B ln -sfn "$system/etc" /etc/static
for f in /etc/static/*; do
  n="${{f##*/}}"
  case "$n" in
    passwd|group) $B cp -f "$f" "/etc/$n"; $B chmod 644 "/etc/$n" ;;
    shadow) $B cp -f "$f" /etc/shadow; $B chmod 600 /etc/shadow ;;
    ssh) $B mkdir -p /etc/ssh; $B rm -rf /etc/ssh/authorized_keys.d   # openssh-activation
         $B cp -r /etc/static/ssh/authorized_keys.d /etc/ssh/authorized_keys.d
         $B chmod 555 /etc/ssh/authorized_keys.d ;;
    *) $B ln -sfn "/etc/static/$n" "/etc/$n" ;;
  esac
done
# special files: /bin/sh (here all of busybox's applets), /usr/bin, the ELF interpreter
$B mkdir -p /bin /usr /lib64
$B ln -sf {busybox_bin}/* /bin/
$B ln -sfn /run/current-system/profile/bin /usr/bin
$B ln -sfn /run/current-system/profile/sbin /usr/sbin
$B ln -sfn {glibc_lib}/ld-linux-x86-64.so.2 /lib64/ld-linux-x86-64.so.2
# accounts: user-homes makes a home once, from the skeletons
home() {{
  [ -d "$4" ] && return
  $B mkdir -p "$4"
  [ -d /etc/skel ] && $B cp -a /etc/skel/. "$4/" && $B chmod -R u+w "$4"
  $B chmod 700 "$4"; $B chown -R "$2:$3" "$4"
}}
home root 0 0 /root
{homes}$B hostname "$($B cat /etc/hostname)"
$B ifconfig lo 127.0.0.1 up
{keygen}echo "boot: system $system"
exec $B init
"""


def sshd_daemon(sshd: str, lib_path: str, config: str) -> str:
    """What openssh-service-type's shepherd service runs: sshd in the foreground with the
    sshd_config Guix generates (gnu/services/ssh.scm, openssh-config-file). ``-r``: no
    re-exec per connection (Guix's sshd re-execs; under TCG loading sshd and its 25
    libraries again for each connection took longer than vmfleet's 10 s knock)."""
    return f"""#!/bin/sh
# ssh-daemon: openssh-service-type's sshd, keys from /etc/ssh/authorized_keys.d/%u.
export LD_LIBRARY_PATH={lib_path}
exec {sshd} -D -e -r -f {config}
"""


def sshd_config(port: int, permit_root_login: str) -> str:
    """sshd_config with the directives gnu/services/ssh.scm's openssh-config-file writes that
    matter here (PAM is not modelled: UsePAM no)."""
    return f"""# Generated by 'openssh-service' (the vmfleet stand-in's subset).
Port {port}
PermitRootLogin {permit_root_login}
PermitEmptyPasswords no
PasswordAuthentication no
PubkeyAuthentication yes
X11Forwarding no
PidFile /var/run/sshd.pid
UsePAM no
PrintLastLog no
HostKey /etc/ssh/ssh_host_ed25519_key
AuthorizedKeysFile  .ssh/authorized_keys .ssh/authorized_keys2 /etc/ssh/authorized_keys.d/%u
"""


def ssh_daemon(dropbear: str, lib_path: str, port: int = 22, root_login: bool = True) -> str:
    flags = "" if root_login else " -w"
    return f"""#!/bin/sh
# ssh-daemon: what openssh-service-type runs here (dropbear, keys kept in /etc/dropbear).
export LD_LIBRARY_PATH={lib_path}
exec {dropbear} -F -E -p {port}{flags} -r /etc/dropbear/dropbear_ed25519_host_key
"""


def dhcp_script(busybox: str) -> str:
    return f"""#!{busybox} sh
# udhcpc event script: configure the interface and the default route.
B={busybox}
case "$1" in
  deconfig) $B ifconfig "$interface" 0.0.0.0 up ;;
  bound|renew)
    $B ifconfig "$interface" "$ip" netmask "${{subnet:-255.255.255.0}}" up
    if [ -n "$router" ]; then
      while $B route del default gw 0.0.0.0 dev "$interface" 2>/dev/null; do :; done
      for r in $router; do $B route add default gw "$r" dev "$interface"; break; done
    fi
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done ;;
esac
exit 0
"""


def power_off(busybox: str) -> str:
    return f"""#!{busybox} sh
# The ACPI power button: a clean shutdown through init.
exec {busybox} poweroff
"""


def inittab(busybox: str, ssh_daemon_path: str | None, dhcp_script_path: str | None,
            acpi_dir: str) -> str:
    """busybox init's table: DHCP only when the config has a networking service, the SSH
    daemon only when it has openssh (or dropbear) — as a Guix system would."""
    lines = ["# inittab: the services of this system (busybox init plays the part of shepherd)."]
    if dhcp_script_path:
        lines.append(f"::respawn:{busybox} udhcpc -f -i eth0 -s {dhcp_script_path} -t 20 -T 1 "
                     "-A 2")
    else:
        lines.append(f"::once:{busybox} echo 'boot: this system has no networking service "
                     "(dhcp-client-service-type, static-networking, …): eth0 stays down'")
    if ssh_daemon_path:
        lines.append(f"::respawn:{ssh_daemon_path}")
    lines += [f"::respawn:{busybox} acpid -f -c {acpi_dir} -l /dev/null",
              f"::ctrlaltdel:{busybox} reboot",
              f"::shutdown:{busybox} sh -c 'sync; {busybox} umount -a -r 2>/dev/null; sync'"]
    return "\n".join(lines) + "\n"


def grub_embedded(kernel: str, initrd: str, system: str, root_index: int = 1,
                  root_uuid: str | None = None) -> str:
    """GRUB's config, built into core.img (no modules to load from the disk: fast under TCG)."""
    return f"""set root=(hd0,msdos{root_index})
linux {kernel} --root={root_uuid or ROOT_LABEL} --system={system} --load={system}/boot console=ttyS0 quiet
initrd {initrd}
boot
"""


def grub_cfg(label: str, kernel: str, initrd: str, system: str,
             root_uuid: str | None = None) -> str:
    search = f"--fs-uuid --set {root_uuid}" if root_uuid else f"--label --set {ROOT_LABEL}"
    return f"""# GRUB configuration of {system} (the loader runs the same commands, built in).
set timeout=0
menuentry "{label}" {{
  search {search}
  linux {kernel} --root={root_uuid or ROOT_LABEL} --system={system} --load={system}/boot console=ttyS0
  initrd {initrd}
}}
"""
