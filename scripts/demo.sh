#!/usr/bin/env bash
# The demo: an example fleet history (systems/, three dated commits) is imported, built, an old
# generation is booted, the newest redeployed over it, and the two are diffed; old generations
# are checked, and the history is written as a static HTML report (its path is printed last).
# Installs what it needs (scripts/setup.sh) and starts libvirtd/virtlogd. Re-running it starts over.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

DEMO=${VMFLEET_DEMO_DIR:-/tmp/vmfleet-demo}
export VMFLEET_HOME=$DEMO/home
export VMFLEET_ACCEL=${VMFLEET_ACCEL:-tcg}   # KVM guests hang on some hosts; TCG always works
export PATH=$PWD/.venv/bin:$PATH
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
append() { local out=$1; shift; printf '$ %s >> %s\n' "$*" "$out"; "$@" >> "$out"; }

if ! command -v guix >/dev/null; then
  export PATH=$PWD/tests/standin/bin:$PATH
  export VMFLEET_STANDIN_STORE=${VMFLEET_STANDIN_STORE:-$DEMO/standin-store}  # gone with the demo
  echo "demo: no guix on PATH: using the test stand-in (tests/standin), which keeps Guix's"
  echo "      command-line contract and makes real bootable images, but is not Guix."
fi

if [ -d "$DEMO/home" ]; then  # a previous run: remove its VMs first
  for vm in $(vmfleet ps --json 2>/dev/null | python3 -c 'import json,sys; [print(v["name"]) for v in json.load(sys.stdin)]' || true); do
    vmfleet destroy "$vm" --yes >/dev/null 2>&1 || true
  done
fi
rm -rf "$DEMO"
mkdir -p "$DEMO"

step "record the fleet's history"
show vmfleet init
vmfleet key > "$DEMO/vmfleet.pub"
show .venv/bin/python tests/helpers/example_history.py "$DEMO/fleet" --key-file "$DEMO/vmfleet.pub"
git -C "$DEMO/fleet" log --format='%ad  %s' --date=short
show vmfleet import "$DEMO/fleet" --system web=systems/web.scm --system db=systems/db.scm --channels channels.scm
show vmfleet systems
show vmfleet generations web
show vmfleet resolve web@2023-10

step "build web as it was in June 2023, and as it is now"
show vmfleet build web@2023-06
show vmfleet build web
show vmfleet builds web

step "boot the June 2023 web"
show vmfleet deploy web@2023-06 --name web-demo --accel "$VMFLEET_ACCEL"
show vmfleet ssh web-demo -- cat /etc/hostname /run/current-system/provenance

step "redeploy the newest generation over it"
show vmfleet redeploy web --timeout 5m
show vmfleet ps
show vmfleet ssh web-demo -- cat /run/current-system/provenance

step "what changed between June 2023 and now?"
show vmfleet diff web@2023-06 web || true   # exit 1 means: they differ

step "a config repository of Guile modules (systems/fleet-repo), recorded whole and built from the registry alone"
show .venv/bin/python tests/helpers/corpus.py "$DEMO/acme" --key-file "$DEMO/vmfleet.pub"
show vmfleet import "$DEMO/acme" -L systems/fleet-repo --channels systems/fleet-repo/channels.scm \
  --system acme-web=systems/fleet-repo/acme/systems/web.scm
show vmfleet show acme-web --inputs
rm -rf "$DEMO/acme"   # the registry holds every input: the build needs nothing else
show vmfleet build acme-web

step "the fleet as declared in systems/fleet.toml: what would apply change?"
show vmfleet plan --file systems/fleet.toml || true   # exit 1 means: something would change

step "scheduled checks: the service and timer a weekly check would run (printed: this machine may not run systemd)"
NOTIFY="cat > '$DEMO/findings.json'; echo \"vmfleet would tell ops: \$1\" >&2"
show vmfleet schedule install --print --every weekly --notify "$NOTIFY"

step "do old generations still rebuild bit for bit? Now, and after nginx's source was re-tagged upstream"
append "$DEMO/checks.jsonl" vmfleet check web@2023-06 web db --jsonl || true
VMFLEET_STANDIN_DRIFT=nginx VMFLEET_STANDIN_STORE=$DEMO/standin-drift \
  append "$DEMO/checks.jsonl" vmfleet check web@2023-06 web db --jsonl --notify "$NOTIFY" || true
show wc -l "$DEMO/checks.jsonl"   # one JSON object a line (docs/check.schema.json)

echo
echo "demo: done. Its VMs are still there (web-demo-g3 running, web-demo retired for rollback):"
echo "      export VMFLEET_HOME=$VMFLEET_HOME PATH=$PWD/.venv/bin:\$PATH"
echo "      vmfleet ssh web-demo-g3; vmfleet rollback web-demo --allow-downgrade; vmfleet destroy web-demo-g3 --yes"
echo "      Running this demo again removes them first."

step "the fleet's history as a static site"
show vmfleet report "$DEMO/report" --fleet-file systems/fleet.toml
echo "demo: the report: file://$DEMO/report/index.html"

