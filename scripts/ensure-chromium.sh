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

log "installing chromium"
# make test prepares the virtual environments and the test image at the same time:
# apt-install.sh takes turns with the other scripts.
"$(dirname "$0")/apt-install.sh" chromium
command -v chromium >/dev/null || die "the chromium package is installed but no chromium command"
log "chromium installed: $(chromium --version 2>/dev/null || echo 'version unknown')"
