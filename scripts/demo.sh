#!/usr/bin/env bash
# The demo: a local Debian 12 systemd container stands in for a GPU server, and the rollout
# playbooks that exist so far run against it from this machine.
#   scripts/demo.sh up        create/start the container and converge playbooks/site.yml
#   scripts/demo.sh destroy   remove the container
# Ports are published on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

CONTAINER="${DEMO_CONTAINER:-onprem-mlops-demo}"
IMAGE="${TEST_IMAGE:-onprem-mlops/debian12-systemd:latest}"
HTTPS_PORT="${DEMO_HTTPS_PORT:-8443}"
REPORTS="${DEMO_REPORTS:-$PWD/reports}"
log() { printf '[demo] %s\n' "$*" >&2; }

start_container() {
  if docker container inspect "$CONTAINER" >/dev/null 2>&1; then
    if [ "$(docker container inspect -f '{{.Image}}' "$CONTAINER")" != \
         "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
      log "note: $CONTAINER runs an older test image; 'make demo-destroy' then 'make demo' to start afresh"
    fi
    docker start "$CONTAINER" >/dev/null
    return
  fi
  log "creating container $CONTAINER from $IMAGE"
  docker run -d --name "$CONTAINER" --hostname mlops-demo \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run --tmpfs /run/lock \
    -p "127.0.0.1:${HTTPS_PORT}:443" \
    "$IMAGE" >/dev/null
}

wait_for_systemd() {
  for _ in $(seq 1 60); do
    state=$(docker exec "$CONTAINER" systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) return 0 ;; esac
    sleep 1
  done
  log "systemd in $CONTAINER did not finish booting (state: ${state:-unknown})"
  return 1
}

up() {
  start_container
  wait_for_systemd
  mkdir -p "$REPORTS"
  logfile="$REPORTS/demo-$(date +%Y%m%d-%H%M%S).log"
  log "running playbooks/site.yml against $CONTAINER (log: $logfile)"
  set +e
  ansible-playbook -i inventories/local/hosts.yml playbooks/site.yml \
    -e "onprem_reports_dir=$REPORTS" 2>&1 | tee "$logfile"
  rc=${PIPESTATUS[0]}
  set -e
  echo
  echo "== What happened =="
  grep -A3 '^PLAY RECAP' "$logfile" | sed 's/^/  /'
  echo "== Where to look =="
  echo "  full log:        $logfile"
  echo "  reports:         $REPORTS/"
  echo "  shell on target: docker exec -it $CONTAINER bash"
  echo "  published ports: 127.0.0.1:${HTTPS_PORT} -> 443 (used once the reverse proxy exists)"
  echo "  again:           make demo   (a second run should report changed=0)"
  echo "  remove:          make demo-destroy"
  return "$rc"
}

case "${1:-up}" in
  up) up ;;
  destroy) docker rm -f "$CONTAINER" >/dev/null 2>&1 && log "removed $CONTAINER" || log "no $CONTAINER" ;;
  *) echo "usage: $0 up|destroy" >&2; exit 2 ;;
esac
