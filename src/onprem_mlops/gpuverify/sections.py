"""The sections of the verification; each returns a dict with ``status`` and never hangs alone
(the caller runs it under a time budget, :mod:`onprem_mlops.gpuverify.budget`)."""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from typing import Any

from onprem_mlops.gpuverify import fields
from onprem_mlops.gpuverify.budget import Deadline, run_with_budget
from onprem_mlops.gpuverify.recording import REDACTED_HOSTNAME
from onprem_mlops.hwassess import bench, collect
from onprem_mlops.hwassess._fs import HostFS

# (key in bench.gpu_device's result, unit)
FIGURES = (
    ("bf16_matmul_tflops", "TFLOP/s"),
    ("fp16_matmul_tflops", "TFLOP/s"),
    ("memory_bandwidth_gbs", "GB/s"),
    ("h2d_bandwidth_gbs", "GB/s"),
)
NO_LINK_PEAK = "no PCIe/NVLink-C2C peak in gpu_models: reported as measured"
# Where the GPU exporter of the monitoring issue may land; gpu-verify has no adapter yet.
EXPORTER_MODULES = (
    "onprem_mlops.monitoring",
    "onprem_mlops.exporter",
    "onprem_mlops.gpu_exporter",
    "onprem_mlops.commands.exporter",
)


def assessment(
    *, data_path: str, nvml_loader: Callable[[], Any], host_fs: HostFS
) -> dict[str, Any]:
    """The project's assessment through NVML, with the GPU fields that came back null."""
    doc = collect.assess(data_path=data_path, nvml_loader=nvml_loader, host_fs=host_fs)
    if isinstance(doc.get("host"), dict):
        doc["host"]["hostname"] = REDACTED_HOSTNAME
    nvml = doc.get("nvml") or {}
    problems = []
    if nvml.get("status") != "ok":
        problems.append(f"NVML {nvml.get('status')}: {nvml.get('error')}")
    elif not doc.get("gpus"):
        problems.append("NVML reports no GPU")
    critical = [f["message"] for f in doc.get("findings") or [] if f["severity"] == "critical"]
    problems += [f"critical finding: {message}" for message in critical]
    return {
        "status": "failed" if problems else "ok",
        "reason": "; ".join(problems) or None,
        "gpu_fields_missing": fields.gpu_fields_missing(doc),
        "document": doc,
    }


def comparison(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each measured figure next to the datasheet peak of the detected model (if any)."""
    sheet = result.get("datasheet")
    rows = []
    for key, unit in FIGURES:
        cmp = sheet.get(key) if isinstance(sheet, dict) else None
        note = None
        if key == "h2d_bandwidth_gbs":
            note = NO_LINK_PEAK
        elif result.get(key) is None:
            note = "not measured (bf16 unsupported)" if key.startswith("bf16") else "not measured"
        elif sheet is None:
            note = "unknown model: no datasheet values in gpu_models"
        rows.append(
            {
                "figure": key,
                "unit": unit,
                "measured": result.get(key),
                "peak": cmp["peak"] if cmp else None,
                "ratio": cmp["ratio"] if cmp else None,
                "far_below": cmp["far_below"] if cmp else None,
                "note": note,
            }
        )
    return rows


def benchmarks(
    torch: Any,
    *,
    per_gpu_s: float,
    total_s: float | None = None,
    measure: Callable[[Any, int], dict[str, Any]] = bench.gpu_device,
) -> dict[str, Any]:
    """bench.gpu_device for every CUDA device, each under its own time budget.

    ``total_s`` caps them all: the GPUs measured by then are reported, the rest as not
    started, so that the section returns within its own budget instead of losing everything.
    """
    deadline = Deadline(total_s if total_s is not None else math.inf)
    devices = []
    for index in range(torch.cuda.device_count()):
        outcome = run_with_budget(
            lambda index=index: measure(torch, index),
            deadline.clip(per_gpu_s),
            f"benchmark-gpu{index}",
        )
        if outcome.ok:
            entry = {"status": "ok", **outcome.value, "comparison": comparison(outcome.value)}
        else:
            entry = {
                "index": index,
                "status": "error",
                "reason": outcome.error,
                "timed_out": outcome.timed_out,
            }
        entry["duration_s"] = outcome.duration_s
        devices.append(entry)
    errors = [f"GPU {d['index']}: {d['reason']}" for d in devices if d["status"] != "ok"]
    slow = [
        f"GPU {d['index']}: {row['figure']} {row['measured']} is {row['ratio']:.0%} of "
        f"{row['peak']}"
        for d in devices
        for row in d.get("comparison", [])
        if row["far_below"]
    ]
    status = "error" if errors or not devices else ("failed" if slow else "ok")
    reason = "; ".join(errors + slow) or (None if devices else "PyTorch reports no CUDA device")
    return {"status": status, "reason": reason, "devices": devices}


def smoke(run: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """The predictive-maintenance smoke training on CUDA, without MLflow."""
    from onprem_mlops.smoke import train

    run = run or train.run
    started = time.perf_counter()
    result = run(train.MaintenanceJob(device="cuda"))
    passed = bool(result.bar_met)
    verdict_s = time.perf_counter() - started
    return {
        "status": "ok" if passed else "failed",
        "reason": None
        if passed
        else f"{result.metric_name} {result.metric:.4f} misses the bar {result.bar}",
        "template": result.template,
        "metric_name": result.metric_name,
        "metric": round(float(result.metric), 4),
        "bar": result.bar,
        "passed": passed,
        "time_to_verdict_s": round(verdict_s, 2),
        "data_s": round(float(result.timings.get("data", 0.0)), 2),
        "train_s": round(float(result.timings.get("train", 0.0)), 2),
        "epochs": int(result.metrics.get("epochs", len(result.history))),
        "stop_reason": result.stop_reason,
        "precision": result.precision,
        "device": result.device,
        "mlflow": "not used (no tracking server on this machine)",
    }


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def exporter(exists: Callable[[str], bool] = _module_exists) -> dict[str, Any]:
    """The GPU exporter's metrics: skipped until the monitoring issue has landed."""
    found = [name for name in EXPORTER_MODULES if exists(name)]
    if not found:
        return {
            "status": "skipped",
            "reason": "the GPU exporter (monitoring issue) has not landed: none of "
            f"{', '.join(EXPORTER_MODULES)} exists in this checkout",
        }
    return {
        "status": "error",
        "reason": f"{found[0]} exists but gpu-verify cannot read its metrics yet: "
        "add an adapter in src/onprem_mlops/gpuverify/sections.py",
        "module": found[0],
    }
