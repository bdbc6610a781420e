#!/usr/bin/env bash
# Serving benchmark: latency and throughput of the champion, in one run, on two paths:
#   direct  the scoring server itself (http://127.0.0.1:<model_serving_port>/invocations,
#           no TLS, no authentication)
#   nginx   through nginx (TLS, HTTP/1.1 keep-alive) with the credentials checked for every
#           request (auth_request to the authorisation gate, or to MLflow without it)
# wrk (Debian's package) runs inside the platform container, so no traffic goes to container
# addresses. The paths alternate ROUNDS times; the table gives the median of the rounds.
#
#   scripts/bench-serving.sh [container] [connections] [seconds] [rounds]
# Default: the demo container (make demo), 8 connections, 20 s, 3 rounds. Credentials: the
# generated model-serving account on this control node; they reach wrk through an
# environment file (0600, removed afterwards), never through a command line.
set -euo pipefail
cd "$(dirname "$0")/.."

CONTAINER="${1:-onprem-mlops-demo}"
CONNECTIONS="${2:-8}"
SECONDS_RUN="${3:-20}"
ROUNDS="${4:-3}"
CREDENTIALS="${CREDENTIALS_DIR:-$HOME/.onprem-mlops/credentials}/$CONTAINER"
MODEL="${MODEL:-predictive-maintenance}"
DIRECT_PORT="${DIRECT_PORT:-5001}"

password_file="$CREDENTIALS/mlflow-model-serving.password"
[ -r "$password_file" ] || { echo "no $password_file (CREDENTIALS_DIR?)" >&2; exit 2; }

docker exec "$CONTAINER" sh -c 'command -v wrk >/dev/null || \
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }'

version=$(docker exec "$CONTAINER" python3 -c \
  'import json; print(json.load(open("/var/lib/model-serving/served.json"))["version"])')
example="/var/lib/model-serving/models/$MODEL/$version/serving_input_example.json"
rows=$(docker exec "$CONTAINER" python3 -c "import json; print(len(json.load(open('$example'))['inputs']))")

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"; docker exec "$CONTAINER" rm -f /tmp/bench-post.lua' EXIT
# The Authorization header, built here with shell built-ins and base64 reading stdin; the
# file is the only place it is written (0600, in a private temporary directory).
umask 077
printf 'BENCH_AUTHORIZATION=Basic %s\n' \
  "$(printf 'model-serving:%s' "$(cat "$password_file")" | base64 -w0)" > "$workdir/env"
printf 'EXAMPLE=%s\n' "$example" >> "$workdir/env"

docker exec -i "$CONTAINER" sh -c 'cat > /tmp/bench-post.lua' <<'LUA'
local f = io.open(os.getenv("EXAMPLE")); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTHORIZATION")
if auth and os.getenv("BENCH_SEND_AUTH") == "1" then wrk.headers["Authorization"] = auth end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %.2f %.2f %.2f %.1f %d %d\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(75) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6),
    summary.errors.status, summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
LUA

run() {  # run PATH_NAME URL SEND_AUTH -> one RESULT line
  docker exec --env-file "$workdir/env" -e "BENCH_SEND_AUTH=$3" "$CONTAINER" \
    wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" -s /tmp/bench-post.lua "$2" \
    | sed -n "s/^RESULT /$1 /p"
}

echo "# model $MODEL v$version, $rows rows per request; wrk -t2 -c$CONNECTIONS -d${SECONDS_RUN}s," \
  "$ROUNDS rounds alternating; $(nproc) host cores; $(date -u +%Y-%m-%dT%H:%MZ)"
results="$workdir/results"
for round in $(seq 1 "$ROUNDS"); do
  run direct "http://127.0.0.1:$DIRECT_PORT/invocations" 0 | tee -a "$results"
  run nginx "https://localhost/serving/invocations" 1 | tee -a "$results"
done >&2

python3 - "$results" <<'PY'
import statistics
import sys

rows = {}
for line in open(sys.argv[1]):
    name, *values = line.split()
    rows.setdefault(name, []).append([float(v) for v in values])
print("| path | requests | p50 ms | p75 ms | p90 ms | p99 ms | requests/s | non-2xx | socket errors |")
print("|---|---|---|---|---|---|---|---|---|")
med = {}
for name in ("direct", "nginx"):
    cols = list(zip(*rows.get(name, [])))
    if not cols:
        continue
    med[name] = [statistics.median(c) for c in cols]
    m = med[name]
    print(f"| {name} | {m[0]:.0f} | {m[1]:.1f} | {m[2]:.1f} | {m[3]:.1f} | {m[4]:.1f} | {m[5]:.1f} "
          f"| {m[6]:.0f} | {m[7]:.0f} |")
if {"direct", "nginx"} <= med.keys():
    d, n = med["direct"], med["nginx"]
    print(f"\nnginx/direct: throughput {n[5] / d[5]:.2f}x, p50 {n[1] / d[1]:.2f}x")
PY
