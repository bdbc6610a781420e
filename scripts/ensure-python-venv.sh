#!/usr/bin/env bash
# Debian and Ubuntu ship `python3 -m venv` in a separate package.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# make test installs docker.io at the same time: wait for apt's lock.
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
  python3-venv python3-pip >/dev/null
