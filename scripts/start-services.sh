#!/usr/bin/env bash
# Starts virtlogd and libvirtd when they are not running: through systemd where it is PID 1,
# otherwise as daemons (these machines have no systemd). Started daemons are recorded by PID
# in their own pid files (/run/libvirtd.pid, /run/virtlogd.pid).
set -euo pipefail
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [ "$(ps -o comm= -p 1)" = systemd ]; then
  systemctl start virtlogd libvirtd
else
  alive /run/virtlogd.pid || virtlogd -d
  alive /run/libvirtd.pid || libvirtd -d
fi
for _ in $(seq 50); do
  virsh -c qemu:///system version >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "start-services: libvirtd did not answer on qemu:///system" >&2
exit 1
