#!/usr/bin/env bash
# No-op rollout benchmark: playbooks/site.yml run a second time against an already converged
# host (changed=0), for this working tree and for an earlier commit, side by side in one run.
#
#   scripts/bench-noop.sh BASE_REV [ROUNDS]
#
# Each tree gets its own container from the test image (onprem-mlops-bench-base and
# onprem-mlops-bench-head, nothing published), its own credentials directory and reports,
# and is converged once (timed as "first run"). Then the two no-op runs alternate ROUNDS
# times (default 3), so that both see the same machine load; a run that changes anything or
# fails stops the benchmark. Finally one more no-op run of this tree with ansible.posix's
# profile_tasks callback lists the 20 slowest tasks (its own overhead is not in the table).
# Needs `make venv image` first; both trees run with this tree's virtual environment.
# Results: .cache/bench-noop/results.md (and the logs next to it).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_REV="${1:?usage: $0 BASE_REV [ROUNDS]}"
ROUNDS="${2:-3}"
IMAGE="${TEST_IMAGE:-onprem-mlops/debian12-systemd:latest}"
WORK="$PWD/.cache/bench-noop"
HEAD_TREE="$PWD"
BASE_TREE="$WORK/base-tree"
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_FORCE_COLOR=0 NO_COLOR=1
log() { printf '[bench-noop] %s\n' "$*" >&2; }

command -v ansible-playbook >/dev/null || { log "no .venv: run make venv first"; exit 2; }
base_sha=$(git rev-parse --verify "$BASE_REV^{commit}")
mkdir -p "$WORK"
if [ "$(git -C "$BASE_TREE" rev-parse HEAD 2>/dev/null)" != "$base_sha" ]; then
  git worktree remove --force "$BASE_TREE" 2>/dev/null || rm -rf "$BASE_TREE"
  git worktree prune
  git worktree add --detach "$BASE_TREE" "$base_sha" >/dev/null
fi
# Both trees read the same wheelhouses (built once by whichever runs first) and the demo
# admin's key; everything else is their own.
mkdir -p .cache/wheelhouse .cache/demo "$BASE_TREE/.cache"
[ -f .cache/demo/id_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -C demo-admin -f .cache/demo/id_ed25519
ln -sfn "$PWD/.cache/wheelhouse" "$BASE_TREE/.cache/wheelhouse"
ln -sfn "$PWD/.cache/demo" "$BASE_TREE/.cache/demo"

start_container() {  # name
  if ! docker container inspect "$1" >/dev/null 2>&1; then
    docker run -d --name "$1" --hostname mlops-demo \
      --cap-add SYS_ADMIN --cap-add NET_ADMIN \
      --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
      --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
      "$IMAGE" >/dev/null
  fi
  docker start "$1" >/dev/null
  for _ in $(seq 1 60); do
    case "$(docker exec "$1" systemctl is-system-running 2>/dev/null || true)" in
      running|degraded) break ;;
    esac
    sleep 1
  done
  docker exec "$1" sh -c 'getent group mlops-admins >/dev/null || groupadd mlops-admins;
    id demo-admin >/dev/null 2>&1 || useradd -m -s /bin/bash -G mlops-admins demo-admin'
}

# run TREE CONTAINER LOGFILE [extra env...]: site.yml of TREE against CONTAINER; prints
# "<wall seconds> <changed> <failed>".
run() {
  local tree=$1 container=$2 logfile=$3; shift 3
  local home="$WORK/home-$(basename "$container")"
  mkdir -p "$home" "$WORK/reports-$(basename "$container")"
  local start end
  start=$EPOCHREALTIME
  set +e
  (cd "$tree" && env HOME="$home" ANSIBLE_CONFIG="$tree/ansible.cfg" "$@" \
    ansible-playbook -i inventories/local/hosts.yml playbooks/site.yml \
      -e "ansible_host=$container" -e "onprem_reports_dir=$WORK/reports-$(basename "$container")" \
      >"$logfile" 2>&1)
  local rc=$?
  set -e
  end=$EPOCHREALTIME
  local changed failed
  changed=$(sed -n 's/.*onprem-mlops-demo *: .*changed=\([0-9]*\).*/\1/p' "$logfile" | tail -1)
  failed=$(sed -n 's/.*onprem-mlops-demo *: .*failed=\([0-9]*\).*/\1/p' "$logfile" | tail -1)
  [ "$rc" -eq 0 ] || { log "$tree failed (rc $rc), see $logfile"; tail -30 "$logfile" >&2; exit 1; }
  awk -v s="$start" -v e="$end" -v c="${changed:-?}" -v f="${failed:-?}" \
    'BEGIN { printf "%.1f %s %s\n", e - s, c, f }'
}

start_container onprem-mlops-bench-base
start_container onprem-mlops-bench-head
results="$WORK/results.md"
{
  echo "# No-op rollout of playbooks/site.yml, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
  echo
  echo "base: $BASE_REV ($(git rev-parse --short "$base_sha")), head: working tree of" \
    "$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' + uncommitted changes')"
  echo
  echo "| run | tree | wall s | changed |"
  echo "|---|---|---|---|"
} >"$results"

for tree in base head; do
  dir=$([ "$tree" = base ] && echo "$BASE_TREE" || echo "$HEAD_TREE")
  log "first run of $tree (converges its container)"
  run "$dir" "onprem-mlops-bench-$tree" "$WORK/first-$tree.log" >"$WORK/last"
  read -r wall changed _ <"$WORK/last"
  echo "| first run | $tree | $wall | $changed |" >>"$results"
done

for round in $(seq 1 "$ROUNDS"); do
  for tree in base head; do
    dir=$([ "$tree" = base ] && echo "$BASE_TREE" || echo "$HEAD_TREE")
    log "no-op $round of $tree"
    run "$dir" "onprem-mlops-bench-$tree" "$WORK/noop-$tree-$round.log" >"$WORK/last"
    read -r wall changed _ <"$WORK/last"
    [ "$changed" = 0 ] || { log "$tree changed $changed things on a no-op run"; exit 1; }
    echo "| no-op $round | $tree | $wall | $changed |" >>"$results"
    echo "$tree $wall" >>"$WORK/walls"
  done
done

python3 - "$WORK/walls" >>"$results" <<'PY'
import statistics, sys
walls = {}
for line in open(sys.argv[1]):
    tree, wall = line.split()
    walls.setdefault(tree, []).append(float(wall))
base, head = statistics.median(walls["base"]), statistics.median(walls["head"])
print(f"\nMedian no-op: base {base:.1f} s, head {head:.1f} s ({base / head:.1f}x faster)")
PY
rm -f "$WORK/walls" "$WORK/last"

for tree in base head; do
  dir=$([ "$tree" = base ] && echo "$BASE_TREE" || echo "$HEAD_TREE")
  log "profiled no-op run of $tree"
  run "$dir" "onprem-mlops-bench-$tree" "$WORK/profile-$tree.log" \
    ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=20 \
    >"$WORK/last"
  {
    echo
    echo "The 20 slowest tasks of $tree's no-op run (profile_tasks, one extra run):"
    echo
    echo '```'
    sed -n '/^TASKS RECAP/,/^$/p' "$WORK/profile-$tree.log" | sed -n '4,23p'
    echo '```'
  } >>"$results"
done
cat "$results"
