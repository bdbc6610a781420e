#!/usr/bin/env bash
# Make sure a Docker engine answers and debootstrap is present (for the local test target).
# Installs Debian/Ubuntu's docker.io and debootstrap when missing and starts dockerd when no
# daemon runs (through systemd when it is PID 1, otherwise in the background).
set -euo pipefail
log() { printf '[ensure-docker] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root or install sudo"
  SUDO="sudo"
fi

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  # make test may install other packages at the same time: apt-install.sh takes turns.
  "$(dirname "$0")/apt-install.sh" "${missing[@]}"
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

if [ "$(ps -o comm= -p 1 2>/dev/null)" = "systemd" ]; then
  log "starting docker.service"
  $SUDO systemctl start docker.service
else
  log "starting dockerd in the background (log: /var/log/onprem-mlops-dockerd.log)"
  $SUDO sh -c 'nohup dockerd >/var/log/onprem-mlops-dockerd.log 2>&1 &'
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { log "docker is up"; exit 0; }
  sleep 1
done
die "dockerd did not answer within 60 s (see /var/log/onprem-mlops-dockerd.log)"
