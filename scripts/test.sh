#!/usr/bin/env bash
# The whole test suite, as CI and a new user run it: installs what it needs (scripts/setup.sh),
# starts libvirtd/virtlogd, then runs unit and integration tests (real libvirtd, TCG boots, SSH).
# Extra arguments go to pytest, e.g. scripts/test.sh -m 'not integration'.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export VMFLEET_ACCEL=tcg
exec .venv/bin/pytest -p no:cacheprovider -n auto --dist loadfile --no-loadscope-reorder "$@" tests
