#!/usr/bin/env bash
# Build the local test target: Debian 12 with systemd as PID 1, made with debootstrap and
# `docker import` (no registry needed). Rebuilt only when its inputs change.
#
# Inputs (environment):
#   TEST_IMAGE      image name            (default: onprem-mlops/debian12-systemd:latest)
#   DEBIAN_MIRROR   Debian mirror URI     (default: read from this machine's apt configuration)
#   DEBIAN_SECURITY_MIRROR  Debian security archive URI (default: from this machine's apt
#                   configuration; none: the image has no security suite)
#   DEBIAN_SUITE    suite                 (default: bookworm)
#   EXTRA_CA_DIR    extra CA certificates (default: /usr/local/share/ca-certificates)
set -euo pipefail

TEST_IMAGE="${TEST_IMAGE:-onprem-mlops/debian12-systemd:latest}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
EXTRA_CA_DIR="${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"
PACKAGES="systemd,systemd-sysv,python3,python3-apt,sudo,ca-certificates,iproute2,procps,dbus"

log() { printf '[build-test-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The first Debian archive URI this machine's apt uses (deb822 *.sources or one-line lists):
# the main archive with `detect_mirror`, the security archive with `detect_mirror security`.
detect_mirror() {
  local f uri want=0
  [ "${1:-}" = security ] && want=1
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri=$(awk -v want="$want" '/^URIs:/ {for (i = 2; i <= NF; i++) if (($i ~ /security/) == want) {print $i; exit}}' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    uri=$(awk -v want="$want" '$1 == "deb" && ($0 ~ /security/) == want {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
}

if [ -z "${DEBIAN_MIRROR:-}" ]; then
  if ! grep -qi '^ID=debian' /etc/os-release; then
    die "this control node is not Debian, so its apt mirror cannot serve a Debian image: set DEBIAN_MIRROR to a Debian archive URI"
  fi
  DEBIAN_MIRROR=$(detect_mirror)
  [ -n "$DEBIAN_MIRROR" ] || die "no Debian mirror found in /etc/apt: set DEBIAN_MIRROR"
fi

DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR-$(detect_mirror security)}"

command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
command -v docker >/dev/null || die "docker is not installed (scripts/ensure-docker.sh)"

ca_files=()
if [ -d "$EXTRA_CA_DIR" ]; then
  while IFS= read -r -d '' f; do ca_files+=("$f"); done \
    < <(find "$EXTRA_CA_DIR" -maxdepth 2 -type f -name '*.crt' -print0 | sort -z)
fi

# Fingerprint of every input: when it matches the label of the existing image, nothing to do.
inputs_hash=$(
  {
    sha256sum "$0"
    echo "$DEBIAN_MIRROR $DEBIAN_SUITE $PACKAGES ${DEBIAN_SECURITY_MIRROR:-}"
    [ "${#ca_files[@]}" -gt 0 ] && sha256sum "${ca_files[@]}"
    true
  } | sha256sum | cut -c1-16
)
current=$(docker image inspect -f '{{ index .Config.Labels "org.onprem-mlops.inputs" }}' "$TEST_IMAGE" 2>/dev/null || true)
if [ "$current" = "$inputs_hash" ]; then
  log "$TEST_IMAGE is up to date (inputs $inputs_hash)"
  exit 0
fi

rootfs=$(mktemp -d /var/tmp/onprem-mlops-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
log "debootstrap $DEBIAN_SUITE into $rootfs"
debootstrap --variant=minbase --include="$PACKAGES" "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >/dev/null

if [ "${#ca_files[@]}" -gt 0 ]; then
  log "trusting ${#ca_files[@]} extra CA certificate(s) from $EXTRA_CA_DIR"
  cp "${ca_files[@]}" "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi

# Same suites as a normal install: updates and security, from the same mirror host layout.
cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
SOURCES
if [ -n "$DEBIAN_SECURITY_MIRROR" ]; then
  echo "deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main" >> "$rootfs/etc/apt/sources.list"
fi

# Units that cannot work in a container and only slow the boot down.
for unit in systemd-remount-fs.service getty@tty1.service console-getty.service \
            systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service \
            sys-kernel-config.mount sys-kernel-debug.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
echo 'onprem-mlops-test' > "$rootfs/etc/hostname"
: > "$rootfs/etc/machine-id"
chroot "$rootfs" apt-get clean
# Package lists stay: a real host has them, and check mode needs them to plan installs.
rm -f "$rootfs"/var/cache/apt/*.bin

log "importing as $TEST_IMAGE"
tar -C "$rootfs" -c . | docker import \
  -c 'CMD ["/lib/systemd/systemd"]' \
  -c 'ENV container=docker' \
  -c "LABEL org.onprem-mlops.inputs=$inputs_hash" \
  - "$TEST_IMAGE" >/dev/null
log "built $TEST_IMAGE (inputs $inputs_hash)"
