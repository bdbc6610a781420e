"""A description of the machine without its host name: GPUs, driver, CUDA, PyTorch, CPU, OS."""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any


def _try(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _part(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """A section of the assessment; {} when missing or its probe failed ({"error": trace})."""
    value = doc.get(name)
    return value if isinstance(value, dict) and set(value) != {"error"} else {}


def torch_info(torch: Any) -> dict[str, Any]:
    if torch is None:
        return {"torch": None, "torch_cuda": None, "cudnn": None, "cuda_devices": []}
    available = bool(_try(torch.cuda.is_available))
    count = (_try(torch.cuda.device_count) or 0) if available else 0
    return {
        "torch": str(getattr(torch, "__version__", None)),
        "torch_cuda": _try(lambda: torch.version.cuda),
        "cudnn": _try(lambda: torch.backends.cudnn.version()) if available else None,
        "cuda_devices": [_try(lambda i=i: torch.cuda.get_device_name(i)) for i in range(count)],
    }


def describe(doc: dict[str, Any] | None, torch: Any) -> dict[str, Any]:
    """From the assessment document (when there is one) and the imported torch module."""
    doc = doc or {}
    cpu, system, nvml = _part(doc, "cpu"), _part(doc, "os"), _part(doc, "nvml")
    memory = _part(doc, "memory")
    gpus = [g.get("name") for g in doc.get("gpus") or [] if isinstance(g, dict)]
    return {
        "gpus": gpus,
        "nvidia_driver": nvml.get("driver_version") or system.get("nvidia_driver_version"),
        "cuda_driver": nvml.get("cuda_driver_version"),
        **torch_info(torch),
        "python": platform.python_version(),
        "cpu_model": cpu.get("model"),
        "cpu_sockets": cpu.get("sockets"),
        "cpu_logical": cpu.get("logical_cpus"),
        "memory_total_bytes": memory.get("total_bytes"),
        "os": (system.get("distribution") or {}).get("pretty_name"),
        "kernel": system.get("kernel"),
        "virtualization": system.get("virtualization"),
        "container": (system.get("container") or {}).get("type"),
    }


def summary(machine: dict[str, Any]) -> str:
    """One line for a recording's description: '1x NVIDIA H200, AMD EPYC 9654, ...'."""
    gpus = machine.get("gpus") or machine.get("cuda_devices") or []
    counts: dict[str, int] = {}
    for name in gpus:
        counts[str(name)] = counts.get(str(name), 0) + 1
    parts = [f"{n}x {name}" for name, n in counts.items()] or ["no GPU visible to NVML"]
    for label, key in (("", "cpu_model"), ("", "os"), ("NVIDIA driver ", "nvidia_driver")):
        if machine.get(key):
            parts.append(f"{label}{machine[key]}")
    return ", ".join(parts)
