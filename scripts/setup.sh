#!/usr/bin/env bash
# Installs what vmfleet, its demo and its tests need on Debian 12 (as root), into .venv,
# and starts the services they use (libvirtd, virtlogd). Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv python3-dev gcc git pkg-config libvirt-dev
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients
  e2fsprogs fdisk dosfstools mtools syslinux syslinux-common busybox-static dropbear-bin
  cpio kmod faketime openssh-server openssh-client fuse3 diffoscope-minimal
  netcat-openbsd  # qemu+ssh://…?socket= (tests aimed at a libvirtd of their own) goes through nc
  grub-pc-bin  # the guix stand-in's images boot with GRUB (tests/standin/README.md)
  grub-efi-amd64-bin ovmf  # EFI images (efi-raw, qcow2-gpt): GRUB for UEFI, UEFI firmware (tools/domain_xml.py)
  chromium chromium-driver  # the report's browser test and bench (tests/helpers/browser.py; selenium is pinned in pyproject.toml)
  zsh fish  # the completion scripts, run by the shells they are for (tests/unit/test_completion.py)
)

. scripts/apt-install.sh
apt_install setup "${APT_PACKAGES[@]}"

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.vmfleet-installed
# constraints.txt pins every package (typer and click included: help renders as tested).
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "setup: installing vmfleet into .venv (libvirt-python compiles, ~30 s)" >&2
  .venv/bin/pip install -q -c constraints.txt pip >&2
  .venv/bin/pip install -q -c constraints.txt -e '.[test]' >&2
  touch "$stamp"
fi

# The guix stand-in's guest kernel (Debian's cloud kernel), fetched once into its cache.
if ! tests/standin/bin/fetch-kernel >/dev/null; then
  echo "setup: could not pre-fetch the stand-in's kernel; its first image build will try again" >&2
fi

scripts/start-services.sh
