#!/usr/bin/env bash
# Time the security phase (phase 7) on the local test image: a first run on a server that has
# phase 0 and nginx, then runs that change nothing (what an admin sees every time the phase
# runs again), with and without the concept and acceptance plays. Prints a Markdown table.
#
#   scripts/bench-security.sh [NOOP_RUNS]     (default 3; needs `make venv image`)
#
# The container is the Molecule one's twin (same image, same capabilities), reached through
# the Docker connection like every scenario; it is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${1:-3}"
IMAGE="${TEST_IMAGE:-onprem-mlops/debian12-systemd:latest}"
NAME=onprem-bench-security
WORK=$(mktemp -d /tmp/onprem-bench-security.XXXXXX)
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_PIPELINING=1
export ONPREM_REPORTS_DIR="$WORK/reports"
trap 'docker rm -f "$NAME" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

docker rm -f "$NAME" >/dev/null 2>&1 || true
docker run -d --name "$NAME" --hostname bench-security \
  --cap-add SYS_ADMIN --cap-add NET_ADMIN \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp "$IMAGE" /lib/systemd/systemd >/dev/null
for _ in $(seq 1 60); do
  state=$(docker exec "$NAME" systemctl is-system-running 2>/dev/null || true)
  case "$state" in running|degraded) break ;; esac
  sleep 1
done

ssh-keygen -q -t ed25519 -N '' -f "$WORK/id_ed25519"
docker exec "$NAME" sh -c 'groupadd -f mlops-admins && useradd -m -s /bin/bash -G mlops-admins alice'
cat > "$WORK/hosts.yml" <<EOF
all:
  hosts:
    $NAME:
      ansible_connection: community.docker.docker
      security_admin_networks:
        - "{{ ansible_facts['default_ipv4']['network'] }}/{{ ansible_facts['default_ipv4']['prefix'] }}"
      security_web_server: true
      ssh_hardening_authorized_keys:
        - user: alice
          keys: ["$(cat "$WORK/id_ed25519.pub")"]
      reverse_proxy_routes:
        - {path: /, upstream: "http://127.0.0.1:5000"}
EOF

# run LABEL PLAYBOOK [ARGS...]: one timed run, one table row.
run() {
  local label=$1 playbook=$2 start end recap
  shift 2
  start=$(date +%s.%N)
  ansible-playbook -i "$WORK/hosts.yml" "$playbook" "$@" > "$WORK/run.log" 2>&1 \
    || { tail -40 "$WORK/run.log" >&2; exit 1; }
  end=$(date +%s.%N)
  recap=$(grep -E "^$NAME " "$WORK/run.log" | grep -oE 'ok=[0-9]+ +changed=[0-9]+' | tr -s ' ')
  printf '| %s | %s | %s |\n' "$label" "$(python3 -c "print(f'{$end - $start:.1f}')")" "$recap"
}

echo "| run | wall s | recap |"
echo "|---|---|---|"
run "first run: phase 0, nginx, phase 7" molecule/security/converge.yml
for i in $(seq 1 "$RUNS"); do
  run "no-op $i: phase 7 (hardening, concept, acceptance)" playbooks/phase7_security.yml
done
for i in $(seq 1 "$RUNS"); do
  run "no-op $i: hardening roles only" playbooks/phase7_security.yml --skip-tags concept,acceptance
done

# The measurements of the same container (docs/security.md): tailored, then as SSG ships it.
echo
echo "| audit | Lynis hardening index | OpenSCAP pass | fail | pass rate |"
echo "|---|---|---|---|---|"
for tailoring in "$PWD/playbooks/files/ssg-tailoring-onprem-mlops.xml" ""; do
  ansible-playbook -i "$WORK/hosts.yml" playbooks/security_audit.yml \
    -e "security_audit_tailoring=$tailoring" > "$WORK/audit.log" 2>&1 || { tail -40 "$WORK/audit.log" >&2; exit 1; }
  python3 - "$ONPREM_REPORTS_DIR/security/$NAME/summary.json" "${tailoring:-none}" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"| tailoring: {sys.argv[2].rsplit('/', 1)[-1]} | {s['lynis_hardening_index']} | {s['oscap_pass']} "
      f"| {s['oscap_fail']} | {s['oscap_pass_rate']} % |")
PY
done
