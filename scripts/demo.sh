#!/usr/bin/env bash
# The demo: a local Debian 12 systemd container stands in for a GPU server, and the rollout
# playbooks that exist so far run against it from this machine.
#   scripts/demo.sh up        create/start the container and run every phase with
#                             onprem-mlops rollout (journal, gates, report)
#   scripts/demo.sh destroy   remove the container
# Ports are published on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

CONTAINER="${DEMO_CONTAINER:-onprem-mlops-demo}"
IMAGE="${TEST_IMAGE:-onprem-mlops/debian12-systemd:latest}"
HTTPS_PORT="${DEMO_HTTPS_PORT:-8443}"
SSH_PORT="${DEMO_SSH_PORT:-2222}"
DEMO_KEY=.cache/demo/id_ed25519
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
    -p "127.0.0.1:${HTTPS_PORT}:443" -p "127.0.0.1:${SSH_PORT}:22" \
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

# Phase 7 allows SSH with keys only, for members of mlops-admins: the demo's admin gets a key
# pair here (enablement, phase 6, will create accounts from the inventory).
demo_admin() {
  if [ ! -f "$DEMO_KEY" ]; then
    command -v ssh-keygen >/dev/null || { log "ssh-keygen not found: install openssh-client"; return 1; }
    mkdir -p "$(dirname "$DEMO_KEY")"
    ssh-keygen -q -t ed25519 -N '' -C demo-admin -f "$DEMO_KEY"
  fi
  docker exec "$CONTAINER" sh -c 'getent group mlops-admins >/dev/null || groupadd mlops-admins;
    id demo-admin >/dev/null 2>&1 || useradd -m -s /bin/bash -G mlops-admins demo-admin'
}

# The phases that have a playbook, in the order of the plan (onprem-mlops phases).
PHASES="base assess plan software data models security"

# onprem-mlops from the virtual environment (make demo puts it first on PATH).
rollout() {
  onprem-mlops rollout "$@" -i inventories/local/hosts.yml --reports-dir "$REPORTS"
}

up() {
  start_container
  wait_for_systemd
  demo_admin
  mkdir -p "$REPORTS"
  logfile="$REPORTS/demo-$(date +%Y%m%d-%H%M%S).log"
  rc=0
  for phase in $PHASES; do
    log "onprem-mlops rollout run $phase against $CONTAINER (log: $logfile)"
    set +e
    rollout run "$phase" --plain 2>&1 | tee -a "$logfile"
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" -eq 0 ] || { log "phase $phase did not pass (exit $rc): stopping here"; break; }
  done
  echo
  echo "== What happened (onprem-mlops rollout status) =="
  rollout status | sed 's/^/  /'
  for lang in de en; do rollout report --lang "$lang" | sed 's/^/  report: /'; done
  credentials="${HOME}/.onprem-mlops/credentials/onprem-mlops-demo"
  ca=".cache/demo/onprem-mlops-demo-ca.crt"
  echo "== MLflow from this machine =="
  echo "  URL:             https://localhost:${HTTPS_PORT}/   (user admin)"
  echo "  admin password:  $credentials/mlflow-admin.password (0600, generated)"
  echo "  CA certificate:  $PWD/$ca (the platform's internal CA)"
  echo "  check:           curl --cacert $ca -K <(printf 'user = \"admin:%s\"\\n' \"\$(cat $credentials/mlflow-admin.password)\") \\"
  echo "                     https://localhost:${HTTPS_PORT}/api/2.0/mlflow/experiments/search?max_results=1"
  echo "  Python client:   MLFLOW_TRACKING_URI=https://localhost:${HTTPS_PORT} MLFLOW_TRACKING_USERNAME=admin \\"
  echo "                   MLFLOW_TRACKING_PASSWORD=\"\$(cat $credentials/mlflow-admin.password)\" REQUESTS_CA_BUNDLE=$ca python ..."
  echo "  model serving:   https://localhost:${HTTPS_PORT}/serving/invocations (user model-serving, same directory)"
  echo "== Where to look =="
  echo "  full log:        $logfile (journal: $REPORTS/journal/, ansible-runner: $REPORTS/runner/)"
  echo "  reports:         $REPORTS/"
  echo "  shell on target: docker exec -it $CONTAINER bash"
  echo "  published ports: 127.0.0.1:${HTTPS_PORT} -> 443, 127.0.0.1:${SSH_PORT} -> 22"
  echo "  SSH:             ssh -i $DEMO_KEY -p ${SSH_PORT} demo-admin@127.0.0.1"
  echo "  security:        $REPORTS/security/ (security concept, acceptance results)"
  echo "  again:           make demo   (a second run should report changed=0)"
  echo "  remove:          make demo-destroy"
  return "$rc"
}

case "${1:-up}" in
  up) up ;;
  destroy) docker rm -f "$CONTAINER" >/dev/null 2>&1 && log "removed $CONTAINER" || log "no $CONTAINER" ;;
  *) echo "usage: $0 up|destroy" >&2; exit 2 ;;
esac
