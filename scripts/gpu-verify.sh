#!/usr/bin/env bash
# GPU verification of this machine, offline: the project's assessment through NVML, GPU
# micro-benchmarks against the datasheet, the smoke training on CUDA (no MLflow), the exporter
# check and, with --record, a recording of the machine as an assessment test fixture.
# Prints ONE JSON document on stdout; progress and errors go to stderr. The logic is the
# Python package onprem_mlops.gpuverify, run from this checkout's src/ (not an installed copy).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOTAL_S="${GPU_VERIFY_TOTAL_S:-470}"   # hard limit for the whole script (+5 s to kill: < 8 min)
SETUP_S="${GPU_VERIFY_SETUP_S:-90}"    # venv + offline wheel install
PY="${PYTHON:-python3}"
WHEELS="${GPU_VERIFY_WHEELS:-}"

usage() {
  cat <<EOF
Usage: scripts/gpu-verify.sh [--wheels DIR] [--record DIR] [--data-path PATH]
                             [--sections LIST] [--time-budget SECONDS]

Verifies this machine's NVIDIA GPUs without network access and prints one JSON document on
standard output (progress on standard error):
  assessment  the project's assessment (onprem_mlops.hwassess) through the real NVML, with
              gpu_fields_missing: the schema's GPU fields that came back null
  benchmarks  per GPU: bf16/fp16 matmul TFLOP/s, device memory bandwidth and pinned
              host-to-device bandwidth (GB/s), compared with the model's datasheet
  smoke       the predictive-maintenance smoke training on CUDA, without MLflow:
              time to verdict, ROC-AUC, bar, pass/fail, precision, device
  exporter    the GPU exporter's metrics (skipped until the monitoring issue lands)
  recording   with --record DIR: this machine as a fixture for tests/fixtures/hwassess/
plus machine (no host name), started_at, duration_s, sections and errors.

Needs Python 3.10+ with PyTorch (CUDA build). Missing nvidia-ml-py (pynvml) or numpy are
installed from a local wheel folder into a throw-away venv (--system-site-packages, so the
machine's torch is reused); nothing is installed system-wide.

Options:
  --wheels DIR         folder of wheels (pip install --no-index --find-links DIR);
                       default \$GPU_VERIFY_WHEELS
  --record DIR         also write a recording into DIR (new or empty directory)
  --data-path PATH     the assessment's data path (default /srv)
  --sections LIST      comma-separated subset of assessment,smoke,benchmarks,exporter
  --time-budget S      seconds for all sections (default: what is left of the limit)
  -h, --help           this text

Environment: PYTHON (interpreter, default python3), GPU_VERIFY_WHEELS,
GPU_VERIFY_TOTAL_S (hard limit for the whole script, default 470).
Each section has its own time budget; one that overruns is reported as an error.
Exit status: 0 all sections ok, 1 a section failed or erred, 2 usage error,
3 cannot verify (no python3, no PyTorch, no CUDA device, wheel install failed).
EOF
}

log() { printf 'gpu-verify: %s\n' "$*" >&2; }

# A minimal document for failures before Python can write one.
fail_document() {
  local message
  message=$(printf '%s' "$1" | tr '\n\r\t' '   ' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
  printf '{\n  "tool": "scripts/gpu-verify.sh",\n  "started_at": "%s",\n' "$STARTED_AT"
  printf '  "duration_s": %s,\n  "sections": {},\n  "errors": ["%s"]\n}\n' "$SECONDS" "$message"
}

cannot_verify() {
  log "error: $1"
  fail_document "$1"
  exit 3
}

ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --wheels) [ $# -ge 2 ] || { log "--wheels needs a directory"; usage >&2; exit 2; }
              WHEELS="$2"; shift 2 ;;
    --wheels=*) WHEELS="${1#--wheels=}"; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done

STARTED_AT="$(date -u +%Y-%m-%dT%H:%M:%S+00:00)"
SECONDS=0

command -v timeout >/dev/null 2>&1 || cannot_verify "timeout (GNU coreutils) not found"
command -v "$PY" >/dev/null 2>&1 ||
  cannot_verify "$PY not found: install Python 3.10+ (or set PYTHON)"
if [ -n "$WHEELS" ] && [ ! -d "$WHEELS" ]; then
  cannot_verify "wheel folder $WHEELS does not exist"
fi

# Python version, PyTorch, and which optional modules are missing (as distribution names).
PROBE_ERR="$(mktemp "${TMPDIR:-/tmp}/gpu-verify-probe.XXXXXX")"
set +e
probe=$("$PY" - 2>"$PROBE_ERR" <<'PYEOF'
import importlib, platform, sys
if sys.version_info < (3, 10):
    print(f"Python {platform.python_version()} is too old: Python 3.10+ is needed")
    sys.exit(4)
try:
    import torch
except Exception as exc:
    print(f"PyTorch is not importable for {sys.executable}: {type(exc).__name__}: {exc}")
    sys.exit(5)
missing = []
for module, dist in (("pynvml", "nvidia-ml-py"), ("numpy", "numpy")):
    try:
        importlib.import_module(module)
    except Exception:
        missing.append(dist)
print(torch.__version__, platform.python_version(), *missing)
PYEOF
)
rc=$?
set -e
probe_err="$(tail -n 1 "$PROBE_ERR")"
rm -f "$PROBE_ERR"
if [ "$rc" -ne 0 ]; then
  message="$(printf '%s' "$probe" | tail -n 1)"
  cannot_verify "${message:-$PY failed (exit $rc): $probe_err}"
fi
read -r TORCH_VERSION PY_VERSION MISSING <<<"$(printf '%s' "$probe" | tail -n 1)" || true
log "Python $PY_VERSION, PyTorch $TORCH_VERSION"

RUN_PY="$PY"
WORK=""
cleanup() { [ -z "$WORK" ] || rm -rf "$WORK"; }
trap cleanup EXIT

if [ -z "${MISSING:-}" ]; then
  [ -z "$WHEELS" ] || log "nvidia-ml-py and numpy are importable: nothing to install from $WHEELS"
else
  if [ -z "$WHEELS" ]; then
    log "warning: not importable: $MISSING; no --wheels folder given (pynvml missing: no NVML" \
        "fields; numpy missing: no smoke training)"
  else
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu-verify.XXXXXX")"
    VENV="$WORK/venv"
    log "installing $MISSING from $WHEELS into a throw-away venv"
    if ! timeout "$SETUP_S" "$PY" -m venv --system-site-packages "$VENV" \
        >"$WORK/venv.log" 2>&1; then
      rm -rf "$VENV"   # no ensurepip (Debian without python3-venv): a venv without pip
      if ! timeout "$SETUP_S" "$PY" -m venv --system-site-packages --without-pip "$VENV" \
          >>"$WORK/venv.log" 2>&1; then
        cat "$WORK/venv.log" >&2
        cannot_verify "cannot create a venv with $PY"
      fi
    fi
    # A venv's "system" site is the base interpreter's; when $PY is itself a venv, its own
    # site directories (where torch is, with their .pth files) are added after the venv's.
    site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    "$PY" - >"$site/_gpu_verify_parent.pth" <<'PYEOF'
import sys
dirs = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
print("import site; " + "; ".join(f"site.addsitedir({d!r})" for d in dirs))
PYEOF
    pip_cmd=("$VENV/bin/python" -m pip)
    if ! "${pip_cmd[@]}" --version >/dev/null 2>&1; then
      pip_wheel="$(find "$WHEELS" -maxdepth 1 -name 'pip-*.whl' | sort -V | tail -n 1)"
      [ -n "$pip_wheel" ] || cannot_verify "no pip for the venv: add a pip wheel to $WHEELS"
      pip_cmd=("$VENV/bin/python" "$pip_wheel/pip")
    fi
    # shellcheck disable=SC2086  # $MISSING is a list of distribution names
    if ! timeout "$SETUP_S" "${pip_cmd[@]}" install --no-index --find-links "$WHEELS" \
        --disable-pip-version-check --no-input --quiet $MISSING >"$WORK/pip.log" 2>&1; then
      cat "$WORK/pip.log" >&2
      cannot_verify "pip could not install $MISSING from $WHEELS (offline: --no-index)"
    fi
    RUN_PY="$VENV/bin/python"
  fi
fi

export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
left=$((TOTAL_S - SECONDS))
budget=$((left - 25))   # time to print the document and for stuck threads to be dropped
[ "$budget" -gt 30 ] || cannot_verify "setup took ${SECONDS} s: no time left of ${TOTAL_S} s"

OUT="$(mktemp "${TMPDIR:-/tmp}/gpu-verify-out.XXXXXX")"
trap 'cleanup; rm -f "$OUT"' EXIT
set +e
timeout -k 5 "$left" "$RUN_PY" -m onprem_mlops.gpuverify --time-budget "$budget" \
  ${ARGS[@]+"${ARGS[@]}"} >"$OUT"
rc=$?
set -e
case "$rc" in
  124|137)
    log "error: stopped after ${SECONDS} s (limit ${TOTAL_S} s for the whole script) or killed"
    fail_document "gpu-verify did not finish within ${TOTAL_S} s (or was killed)"
    exit 1 ;;
  *)
    cat "$OUT"
    exit "$rc" ;;
esac
