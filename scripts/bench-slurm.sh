#!/usr/bin/env bash
# Slurm on the molecule/slurm containers (a controller and two compute nodes on one Docker
# network, all on this machine's cores): how long a job takes from srun to its end on one and
# on two nodes, and the distributed smoke job on one rank and on two ranks (gloo, CPU).
# Prints Markdown tables. Run it while the scenario's containers are up:
#
#   .venv/bin/molecule converge -s slurm && scripts/bench-slurm.sh [runs]
#
# The containers share this host's cores, so two "nodes" are not twice the hardware: the
# figures show the overhead of Slurm and of the rendezvous, not a speed-up. The MLflow admin
# password reaches the job through an environment file (0600, removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${1:-5}"
CTL="${CTL:-onprem-molecule-slurm-ctl}"
PLATFORM=onprem-molecule-model_serving
# shellcheck source=scripts/mlflow-admin-env.sh
. scripts/mlflow-admin-env.sh

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
mlflow_admin_env "${CREDENTIALS_DIR:-.cache/platform/credentials}/$PLATFORM/mlflow-admin.password" \
  "$workdir/env" MLFLOW_TRACKING_SERVER_CERT_PATH=/etc/ssl/certs/ca-certificates.crt

median() { sort -n | awk '{ v[NR] = $1 } END { m = int((NR + 1) / 2); printf "%.2f", (NR % 2) ? v[m] : (v[m] + v[m + 1]) / 2 }'; }
wall() { local start=$EPOCHREALTIME; "$@" > "$workdir/out" 2>&1 || { cat "$workdir/out" >&2; exit 1; }
         awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", e - s }'; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) host cores, $RUNS runs each, container result"
echo
echo "| job | nodes | median s (srun to end, via docker exec) | min s | max s |"
echo "|---|---|---|---|---|"
for nodes in 1 2; do
  for _ in $(seq 1 "$RUNS"); do
    wall docker exec "$CTL" srun --nodes="$nodes" --ntasks-per-node=1 --time=1 true
  done > "$workdir/times"
  echo "| \`srun true\` | $nodes | $(median < "$workdir/times") | $(sort -n "$workdir/times" | head -1) | $(sort -n "$workdir/times" | tail -1) |"
done

echo
echo "| smoke job | ranks (nodes) | run | data + training s | rank train s | process wall s | roc_auc |"
echo "|---|---|---|---|---|---|---|"
for nodes in 1 2; do
  for run in $(seq 1 "$RUNS"); do
    seconds=$(wall docker exec --env-file "$workdir/env" "$CTL" \
      srun --nodes="$nodes" --ntasks-per-node=1 --time=10 --kill-on-bad-exit=1 \
      /opt/onprem-mlops/venv/bin/onprem-mlops smoke-train --distributed \
      --tracking-uri "https://$PLATFORM" --experiment slurm-bench --model-name slurm-bench)
    # "  seconds:    3.4 (data 0.3, train 3.1; MLflow logging 2.5 more)", "  roc_auc:    0.9476"
    awk -v nodes="$nodes" -v run="$run" -v wall="$seconds" '
      /^  seconds:/ { gsub(/[(,;]/, " "); train = $2; for (i = 1; i <= NF; i++) if ($i == "train") rank = $(i + 1) }
      /^  roc_auc:/ { auc = $2 }
      END { printf "| distributed | %s | %s | %s | %s | %.1f | %s |\n", nodes, run, train, rank, wall, auc }
    ' "$workdir/out"
  done
done
