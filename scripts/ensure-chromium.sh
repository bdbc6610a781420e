#!/usr/bin/env bash
# Make sure Debian's chromium is installed: tests/unit/test_rollout_report.py renders the
# rollout report's HTML page with it (headless: --dump-dom, --screenshot). Installs the
# chromium package with apt-get when the chromium command is missing; does nothing otherwise.
set -euo pipefail
log() { printf '[ensure-chromium] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if command -v chromium >/dev/null; then
  log "chromium is installed: $(command -v chromium)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root or install sudo"
  SUDO="sudo"
fi
command -v apt-get >/dev/null || die "apt-get not found: install chromium yourself"

log "installing chromium"
# make test prepares the virtual environments and the test image at the same time: wait for
# apt's lock.
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
  --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null || die "the chromium package is installed but no chromium command"
log "chromium installed: $(chromium --version 2>/dev/null || echo 'version unknown')"
