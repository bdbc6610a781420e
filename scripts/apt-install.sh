#!/usr/bin/env bash
# apt-install.sh PACKAGE...: install Debian packages (no recommends) for make's preparation.
# apt-install.sh --download DIR PACKAGE...: only download their .deb files into DIR.
#
# make test prepares the venvs, the test image, the browser and gitlab-ci-local side by side,
# and several of them may need apt at once. apt-get's DPkg::Lock::Timeout waits for dpkg's
# lock but not for the package lists' lock that `apt-get update` takes: a second update fails
# at once ("Could not get lock /var/lib/apt/lists/lock"). So the project's scripts take turns
# (flock on one lock file), and an update that still meets a foreign apt (unattended-upgrades,
# an admin) is retried for up to 10 minutes.
set -euo pipefail
log() { printf '[apt-install] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

download=""
if [ "${1:-}" = "--download" ]; then
  download=$2
  shift 2
fi
[ "$#" -gt 0 ] || die "usage: $0 [--download DIR] PACKAGE..."
command -v apt-get >/dev/null || die "apt-get not found: install $* yourself"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root or install sudo (needed: $*)"
  SUDO="sudo"
fi

exec 9>"${TMPDIR:-/tmp}/onprem-mlops-apt.lock"
flock 9

for attempt in $(seq 1 120); do
  if out=$($SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq 2>&1); then
    break
  fi
  grep -q "Could not get lock" <<<"$out" || { printf '%s\n' "$out" >&2; die "apt-get update failed"; }
  [ "$attempt" -lt 120 ] || die "apt's package lists stayed locked for 10 minutes: $out"
  sleep 5
done
if [ -n "$download" ]; then
  mkdir -p "$download"
  # apt's download sandbox user may not write there; root downloads it itself then.
  (cd "$download" && $SUDO apt-get -o APT::Sandbox::User=root -qq download "$@")
  log "downloaded into $download: $*"
  exit 0
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
  --no-install-recommends "$@" >/dev/null
log "installed: $*"
