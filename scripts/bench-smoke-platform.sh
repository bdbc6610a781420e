#!/usr/bin/env bash
# The smoke job end to end on a converged platform: onprem-mlops smoke-train run inside the
# platform container (its ML venv, phase 5 installed the package there) against MLflow through
# nginx (HTTPS, basic auth), logging and registering a version each run. Prints a Markdown
# table: data + training, MLflow logging and registration, the whole process, the metric.
#
#   scripts/bench-smoke-platform.sh [container] [runs]
# Default: the demo container (make demo), 2 runs. The admin password reaches the job through
# an environment file (0600, removed afterwards), never through a command line.
set -euo pipefail
cd "$(dirname "$0")/.."

CONTAINER="${1:-onprem-mlops-demo}"
RUNS="${2:-2}"
CREDENTIALS="${CREDENTIALS_DIR:-$HOME/.onprem-mlops/credentials}/$CONTAINER"
# shellcheck source=scripts/mlflow-admin-env.sh
. scripts/mlflow-admin-env.sh

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
mlflow_admin_env "$CREDENTIALS/mlflow-admin.password" "$workdir/env" \
  REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt HOME=/root

echo "# $(date -u +%Y-%m-%dT%H:%MZ), container $CONTAINER, $(nproc) host cores"
echo "| run | data + training s | MLflow logging + registration s | process wall s | metric |"
echo "|---|---|---|---|---|"
for run in $(seq 1 "$RUNS"); do
  start=$EPOCHREALTIME
  docker exec --env-file "$workdir/env" "$CONTAINER" \
    /opt/onprem-mlops/venv/bin/onprem-mlops smoke-train --tracking-uri https://localhost \
    > "$workdir/out" 2>&1 || { cat "$workdir/out" >&2; exit 1; }
  end=$EPOCHREALTIME
  # "  seconds:    3.4 (data 0.3, train 3.1; MLflow logging 2.5 more)", "  roc_auc:    0.9476 (...)"
  awk -v run="$run" -v wall="$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')" '
    /^  seconds:/ { train = $2; for (i = 1; i <= NF; i++) if ($i == "logging") logging = $(i + 1) }
    /^  (roc_auc|wape):/ { metric = $1 " " $2 }
    END { printf "| %s | %s | %s | %s | %s |\n", run, train, logging, wall, metric }
  ' "$workdir/out"
done
