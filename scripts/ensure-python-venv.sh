#!/usr/bin/env bash
# Debian and Ubuntu ship `python3 -m venv` in a separate package.
set -euo pipefail
# make test may install other packages at the same time: apt-install.sh takes turns.
"$(dirname "$0")/apt-install.sh" python3-venv python3-pip
