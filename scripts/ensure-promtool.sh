#!/usr/bin/env bash
# Make sure promtool (Prometheus' rule checker) is available for tests/unit/test_alert_rules.py,
# which runs `promtool check rules` and `promtool test rules` on the platform's alert rules.
# promtool comes with Debian's prometheus package; installing that package would also start a
# Prometheus server, so only its files are unpacked into .cache/promtool/ (nothing runs,
# nothing is installed system-wide). Does nothing when they are there already.
set -euo pipefail
log() { printf '[ensure-promtool] %s\n' "$*" >&2; }

DIR=${PROMTOOL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.cache/promtool}
if [ -x "$DIR/usr/bin/promtool" ]; then
  log "promtool is there: $("$DIR/usr/bin/promtool" --version 2>&1 | head -n 1)"
  exit 0
fi
rm -rf "$DIR"
"$(dirname "$0")/apt-install.sh" --download "$DIR/deb" prometheus
dpkg-deb -x "$DIR"/deb/prometheus_*.deb "$DIR"
rm -rf "$DIR/deb"
log "unpacked: $("$DIR/usr/bin/promtool" --version 2>&1 | head -n 1)"
