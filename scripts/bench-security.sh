#!/usr/bin/env bash
# Time the security phase (phase 7) on the local test image: a first run on a server that has
# phase 0 and nginx, then runs that change nothing (what an admin sees every time the phase
# runs again), with and without the concept and acceptance plays. Prints Markdown tables:
# the timings, the measurements of a fresh image with openssh-server (the reference column of
# docs/security.md: Lynis, OpenSCAP tailored and not, ssh-audit) and those after phase 7.
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
FRESH=onprem-bench-security-fresh
WORK=$(mktemp -d /tmp/onprem-bench-security.XXXXXX)
export PATH="$PWD/.venv/bin:$PWD/.venv-audit/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
export ONPREM_REPORTS_DIR="$WORK/reports"
trap 'docker rm -f "$NAME" "$FRESH" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

# audit HOST LABEL: Lynis and OpenSCAP (tailored, then as SSG ships it), one table row each.
audit() {
  local host=$1 label=$2 tailoring
  for tailoring in "$PWD/playbooks/files/ssg-tailoring-onprem-mlops.xml" ""; do
    ansible-playbook -i "$WORK/hosts.yml" -l "$host" playbooks/security_audit.yml \
      -e "security_audit_tailoring=$tailoring" > "$WORK/audit.log" 2>&1 \
      || { tail -40 "$WORK/audit.log" >&2; exit 1; }
    python3 - "$ONPREM_REPORTS_DIR/security/$host/summary.json" "$label" "${tailoring:-none}" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {sys.argv[3].rsplit('/', 1)[-1]} | {s['lynis_hardening_index']} "
      f"| {s['oscap_pass']} | {s['oscap_fail']} | {s['oscap_pass_rate']} % |")
PY
  done
}

# ssh_audit HOST: failures and warnings of ssh-audit against the host's published port 22.
ssh_audit() {
  local port
  port=$(docker port "$1" 22/tcp | head -1 | sed 's/.*://')
  ssh-audit -j -p "$port" 127.0.0.1 > "$WORK/ssh-audit.json" || true
  python3 - "$WORK/ssh-audit.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
notes = [a.get("notes", {}) for kind in ("kex", "key", "enc", "mac") for a in r.get(kind, [])]
fails = sum(len(n.get("fail", [])) > 0 for n in notes)
warns = sum(len(n.get("warn", [])) > 0 for n in notes)
print(f"| {sys.argv[2]} | {fails} | {warns} |")
PY
}

for container in "$NAME" "$FRESH"; do
  docker rm -f "$container" >/dev/null 2>&1 || true
  docker run -d --name "$container" --hostname "$container" -p 127.0.0.1::22 \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run --tmpfs /run/lock --tmpfs /tmp "$IMAGE" /lib/systemd/systemd >/dev/null
  for _ in $(seq 1 60); do
    state=$(docker exec "$container" systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac
    sleep 1
  done
done
# The reference: the same image with only openssh-server added (as a freshly installed server).
docker exec "$FRESH" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq openssh-server >/dev/null && systemctl enable --now ssh >/dev/null'

ssh-keygen -q -t ed25519 -N '' -f "$WORK/id_ed25519"
docker exec "$NAME" sh -c 'groupadd -f mlops-admins && useradd -m -s /bin/bash -G mlops-admins alice'
cat > "$WORK/hosts.yml" <<EOF
all:
  hosts:
    $FRESH:
      ansible_connection: community.docker.docker
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
cat > "$WORK/converge.yml" <<EOF
- name: Day 0
  ansible.builtin.import_playbook: $PWD/playbooks/phase0_base.yml
- name: The server's HTTPS endpoint
  hosts: all
  become: true
  roles: [reverse_proxy]
- name: Days 26-30
  ansible.builtin.import_playbook: $PWD/playbooks/phase7_security.yml
EOF
run "first run: phase 0, nginx, phase 7" "$WORK/converge.yml" -l "$NAME,localhost"
for i in $(seq 1 "$RUNS"); do
  run "no-op $i: phase 7 (hardening, concept, acceptance)" playbooks/phase7_security.yml -l "$NAME,localhost"
done
for i in $(seq 1 "$RUNS"); do
  run "no-op $i: hardening roles only" playbooks/phase7_security.yml -l "$NAME,localhost" \
    --skip-tags concept,acceptance
done

# The measurements (docs/security.md): the fresh reference, then the container after phase 7.
echo
echo "| host | tailoring | Lynis hardening index | OpenSCAP pass | fail | pass rate |"
echo "|---|---|---|---|---|---|"
audit "$FRESH" "fresh image + openssh-server"
audit "$NAME" "phase 0, nginx, phase 7"
echo
echo "| ssh-audit of | algorithms failing | algorithms warned |"
echo "|---|---|---|"
ssh_audit "$FRESH"
ssh_audit "$NAME"
