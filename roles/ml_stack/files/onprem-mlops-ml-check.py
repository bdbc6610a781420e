"""Post-install check of the onprem-mlops ML environment.

Run it with the venv's Python: ``/opt/onprem-mlops/venv/bin/python onprem-mlops-ml-check``.
Imports torch and the stack, multiplies two matrices on the CPU and, when CUDA is available,
on every GPU, and prints one JSON object: torch_version, torch_cuda, cuda_available,
device_count, devices, cpu_matmul_ok, cuda_matmul_ok, versions, import_errors.
Exit status 0 unless torch itself cannot be imported; the role judges the result.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--import", dest="modules", action="append", default=[])
    args = parser.parse_args()
    result: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch_version": None,
        "torch_cuda": None,
        "cuda_available": False,
        "cuda_error": None,
        "device_count": 0,
        "devices": [],
        "cpu_matmul_ok": False,
        "cuda_matmul_ok": False,
        "versions": {},
        "import_errors": {},
    }
    try:
        import torch
    except Exception as exc:
        result["import_errors"]["torch"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(result))
        return 1
    result["torch_version"] = torch.__version__
    result["torch_cuda"] = torch.version.cuda
    product = torch.randn(64, 64) @ torch.randn(64, 64)
    result["cpu_matmul_ok"] = tuple(product.shape) == (64, 64) and bool(product.isfinite().all())
    try:
        result["cuda_available"] = torch.cuda.is_available()
        if result["cuda_available"]:
            result["device_count"] = torch.cuda.device_count()
            result["devices"] = [
                torch.cuda.get_device_name(i) for i in range(result["device_count"])
            ]
            ok = True
            for index in range(result["device_count"]):
                device = torch.device("cuda", index)
                left = torch.randn(256, 256, device=device)
                value = (left @ left).sum().item()
                ok = ok and value == value  # not NaN
            result["cuda_matmul_ok"] = ok
    except Exception as exc:  # driver/library mismatch and friends
        result["cuda_error"] = f"{type(exc).__name__}: {exc}"
    for name in args.modules:
        try:
            module = importlib.import_module(name)
            result["versions"][name] = getattr(module, "__version__", "?")
        except Exception as exc:
            result["import_errors"][name] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
