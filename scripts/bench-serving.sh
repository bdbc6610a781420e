#!/usr/bin/env bash
# Serving benchmark: latency (p50/p99) and throughput of the champion through nginx (TLS,
# basic auth checked against MLflow), measured with wrk (Debian's package) run inside the
# platform container, so no traffic goes to container addresses.
#   scripts/bench-serving.sh [container] [connections] [seconds]
# Default: the demo container (make demo), 8 connections, 20 s. Credentials: the generated
# model-serving account on this control node (never printed).
set -euo pipefail
cd "$(dirname "$0")/.."

CONTAINER="${1:-onprem-mlops-demo}"
CONNECTIONS="${2:-8}"
SECONDS_RUN="${3:-20}"
CREDENTIALS="${CREDENTIALS_DIR:-$HOME/.onprem-mlops/credentials}/$CONTAINER"
MODEL="${MODEL:-predictive-maintenance}"

password_file="$CREDENTIALS/mlflow-model-serving.password"
[ -r "$password_file" ] || { echo "no $password_file (CREDENTIALS_DIR?)" >&2; exit 2; }

docker exec "$CONTAINER" sh -c 'command -v wrk >/dev/null || \
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }'

version=$(docker exec "$CONTAINER" python3 -c \
  'import json; print(json.load(open("/var/lib/model-serving/served.json"))["version"])')
example="/var/lib/model-serving/models/$MODEL/$version/serving_input_example.json"

# The Lua script gets the credentials from the environment of docker exec, not argv.
docker exec -i -e "BENCH_AUTH=model-serving:$(cat "$password_file")" -e "EXAMPLE=$example" \
  "$CONTAINER" sh -c 'cat > /tmp/bench-post.lua <<LUA
local f = io.open(os.getenv("EXAMPLE")); local body = f:read("*a"); f:close()
local auth = "Basic " .. (io.popen("printf %s \"\$BENCH_AUTH\" | base64 -w0"):read("*a"))
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/json"; wrk.headers["Authorization"] = auth
LUA'
echo "# wrk -t2 -c$CONNECTIONS -d${SECONDS_RUN}s --latency, POST /serving/invocations (model $MODEL v$version, $(docker exec "$CONTAINER" python3 -c "import json; print(len(json.load(open('$example'))['inputs']))") rows), $(nproc) host cores"
docker exec -e "BENCH_AUTH=model-serving:$(cat "$password_file")" -e "EXAMPLE=$example" "$CONTAINER" \
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s /tmp/bench-post.lua \
  https://localhost/serving/invocations
docker exec "$CONTAINER" rm -f /tmp/bench-post.lua
