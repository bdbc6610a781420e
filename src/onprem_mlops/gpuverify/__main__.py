"""``python -m onprem_mlops.gpuverify``: see :mod:`onprem_mlops.gpuverify.main`."""

from __future__ import annotations

from onprem_mlops.gpuverify.main import run_cli

if __name__ == "__main__":  # pragma: no cover - exercised through scripts/gpu-verify.sh
    run_cli()
