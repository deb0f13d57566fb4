#!/usr/bin/env bash
# Starts virtlogd and libvirtd when they are not running: through systemd where it is PID 1,
# otherwise as daemons (these machines have no systemd), recorded by PID in their own pid files
# (/run/libvirtd.pid, /run/virtlogd.pid).
#
# On hosts where /dev/kvm exists but a KVM guest does not boot (vmfleet's probe,
# src/vmfleet/deploy/accel.py), libvirtd re-probes QEMU's capabilities at every domain define
# (20-77 s each here), because what it finds at /dev/kvm never matches what its cached probe
# says. A libvirtd this script starts on such a host runs in a private mount namespace where
# /dev/kvm is a device node no one but root may open (mode 000; /dev/null's numbers, so a
# guest's QEMU that opens it anyway gets nothing): libvirt then finds KVM unusable for its QEMU
# user, its cache stays valid and a define takes ~0.15 s instead of 20-77 s (measured here).
# Bind-mounting /dev/null itself, which everyone may open, still re-probed at every define; an
# empty regular file made every domain start fail (libvirt moves the /dev/kvm mount into the
# guest's /dev). That libvirtd's PID is also kept in
# /run/vmfleet-libvirtd.pid. A libvirtd that was already running is never stopped: if it sees
# the unusable /dev/kvm this script says so and how to fix it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VMFLEET_PYTHON:-.venv/bin/python}
NOKVM=/run/vmfleet-nokvm
MINE=/run/vmfleet-libvirtd.pid

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

kvm_unusable() {  # /dev/kvm is there, and a guest does not boot under it
  [ -e /dev/kvm ] || return 1
  "$PY" -c 'import sys; from vmfleet.deploy.accel import probe_kvm; sys.exit(1 if probe_kvm()[0] else 0)'
}

start_libvirtd() {
  if kvm_unusable; then
    [ -c "$NOKVM" ] || mknod -m 000 "$NOKVM" c 1 3
    unshare -m --propagation private sh -c "mount --bind $NOKVM /dev/kvm && exec libvirtd -d"
    for _ in $(seq 50); do alive /run/libvirtd.pid && break; sleep 0.1; done
    cp /run/libvirtd.pid "$MINE"
    echo "start-services: KVM does not work here; started libvirtd (pid $(cat "$MINE")) with /dev/kvm hidden" >&2
  else
    libvirtd -d
  fi
}

warn_if_slow() {  # a libvirtd we did not start, that sees the real /dev/kvm on a host where KVM fails
  local pid
  pid=$(cat /run/libvirtd.pid)
  if [ -c "/proc/$pid/root/dev/kvm" ] && ! { alive "$MINE" && [ "$(cat "$MINE")" = "$pid" ]; } && kvm_unusable; then
    cat >&2 <<MSG
start-services: warning: the running libvirtd (pid $pid, not started by this script) sees
  /dev/kvm, which does not work on this host: every domain define will take 20-80 s (each one
  re-probes QEMU). Integration tests and deploys will be very slow.
  fix: stop that libvirtd (kill $pid, once nothing uses it), then run scripts/start-services.sh
MSG
  fi
}

if [ "$(ps -o comm= -p 1)" = systemd ]; then
  systemctl start virtlogd libvirtd
else
  alive /run/virtlogd.pid || virtlogd -d
  if alive /run/libvirtd.pid; then warn_if_slow; else start_libvirtd; fi
fi
for _ in $(seq 50); do
  virsh -c qemu:///system version >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "start-services: libvirtd did not answer on qemu:///system" >&2
exit 1
