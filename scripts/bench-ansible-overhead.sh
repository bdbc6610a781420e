#!/usr/bin/env bash
# What one Ansible task costs on this control node, the floor under any no-op rollout:
#   controller  a task that runs on the control node only (ansible.builtin.debug)
#   remote      a module on the host (ansible.builtin.stat) over the connection
# N tasks of each kind in one play against a host (default: the demo container, its
# inventory's connection), minus the same play without tasks; ROUNDS rounds, medians.
#
#   scripts/bench-ansible-overhead.sh [host] [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

HOST="${1:-onprem-mlops-demo}"
N="${2:-60}"
ROUNDS="${3:-3}"
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

play() {  # play FILE COUNT [MODULE_LINE]: COUNT tasks of MODULE_LINE against HOST
  printf -- '- name: Overhead\n  hosts: %s\n  gather_facts: false\n  become: true\n' "$HOST" > "$1"
  if [ "$2" -eq 0 ]; then
    echo "  tasks: []" >> "$1"
    return
  fi
  echo "  tasks:" >> "$1"
  for i in $(seq 1 "$2"); do
    printf '    - name: Task %s\n      %s\n' "$i" "$3" >> "$1"
  done
}
play "$WORK/empty.yml" 0
play "$WORK/controller.yml" "$N" "ansible.builtin.debug: {msg: x}"
play "$WORK/remote.yml" "$N" "ansible.builtin.stat: {path: /etc/hostname}"

wall() {  # wall PLAYBOOK -> seconds
  local start end
  start=$EPOCHREALTIME
  ansible-playbook -i inventories/local/hosts.yml "$1" > "$WORK/out" 2>&1 \
    || { tail -20 "$WORK/out" >&2; exit 1; }
  end=$EPOCHREALTIME
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", e - s }'
}

for _ in $(seq 1 "$ROUNDS"); do
  echo "$(wall "$WORK/empty.yml") $(wall "$WORK/controller.yml") $(wall "$WORK/remote.yml")"
done > "$WORK/walls"
python3 - "$WORK/walls" "$N" "$HOST" <<'PY'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
n, host = int(sys.argv[2]), sys.argv[3]
empty, controller, remote = (statistics.median(col) for col in zip(*rows))
print(f"# {len(rows)} rounds of {n} tasks against {host}; medians")
print("| task | seconds per task |")
print("|---|---|")
print(f"| on the control node only (debug) | {(controller - empty) / n:.3f} |")
print(f"| a module on the host (stat) | {(remote - empty) / n:.3f} |")
print(f"\n(play start without tasks: {empty:.2f} s)")
PY
