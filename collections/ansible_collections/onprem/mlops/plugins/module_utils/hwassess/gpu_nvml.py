"""NVIDIA GPUs through NVML (nvidia-ml-py's ``pynvml``), imported lazily.

Every NVML call is guarded: a missing library, a failed nvmlInit (no driver, driver/library
version mismatch) or a single unsupported query yields data and errors, never an exception.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any

from . import gpu_models
from .pci import normalize_bus_id

NOT_SUPPORTED = 3  # NVML_ERROR_NOT_SUPPORTED
# Clock event ("throttle") reason bits, nvml.h nvmlClocksEventReason*
THROTTLE_BITS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
# nvmlDeviceGetClockInfo's clock types (label, pynvml constant, its value in nvml.h)
CLOCK_TYPES = (
    ("graphics", "NVML_CLOCK_GRAPHICS", 0),
    ("sm", "NVML_CLOCK_SM", 1),
    ("memory", "NVML_CLOCK_MEM", 2),
)


def import_pynvml() -> Any:
    return importlib.import_module("pynvml")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class _Device:
    """Queries one GPU; unsupported queries give None, failures are collected in ``errors``."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self.nvml = nvml
        self.handle = handle
        self.errors: list[str] = []

    def call(self, name: str, *args: Any) -> Any:
        fn = getattr(self.nvml, name, None)
        if fn is None:
            return None
        try:
            return fn(self.handle, *args)
        except Exception as exc:  # NVMLError subclasses, ctypes errors from old drivers
            if getattr(exc, "value", None) != NOT_SUPPORTED:
                self.errors.append(f"{name}: {exc}")
            return None

    def first(self, *names: str) -> Any:
        for name in names:
            if getattr(self.nvml, name, None) is not None:
                return self.call(name)
        return None


def _ecc(dev: _Device) -> dict[str, Any]:
    nvml = dev.nvml
    mode = dev.call("nvmlDeviceGetEccMode")
    counts: dict[str, dict[str, Any]] = {}
    for scope, counter in (("volatile", 0), ("aggregate", 1)):
        counts[scope] = {
            kind: dev.call(
                "nvmlDeviceGetTotalEccErrors",
                error_type,
                getattr(nvml, f"NVML_{scope.upper()}_ECC", counter),
            )
            for kind, error_type in (("corrected", 0), ("uncorrected", 1))
        }
    return {
        "supported": mode is not None,
        "enabled": bool(mode[0]) if mode is not None else None,
        "pending_enabled": bool(mode[1]) if mode is not None else None,
        **counts,
    }


def _retired(dev: _Device) -> dict[str, Any]:
    single = dev.call("nvmlDeviceGetRetiredPages", 0)
    double = dev.call("nvmlDeviceGetRetiredPages", 1)
    pending = dev.call("nvmlDeviceGetRetiredPagesPendingStatus")
    remapped = dev.call("nvmlDeviceGetRemappedRows")
    return {
        "retired_pages": None
        if single is None and double is None
        else {
            "single_bit": len(single or []),
            "double_bit": len(double or []),
            "pending": bool(pending) if pending is not None else None,
        },
        "remapped_rows": None
        if remapped is None
        else {
            "corrected": remapped[0],
            "uncorrected": remapped[1],
            "pending": bool(remapped[2]),
            "failure": bool(remapped[3]),
        },
    }


def _watts(milliwatts: Any) -> float | None:
    return round(milliwatts / 1000, 1) if isinstance(milliwatts, (int, float)) else None


def _ratio(percent: Any) -> float | None:
    return round(percent / 100, 4) if isinstance(percent, (int, float)) else None


def _utilization(dev: _Device) -> dict[str, Any] | None:
    """Share (0..1) of the last sample period in which a kernel ran (gpu) and in which device
    memory was read or written (memory); NVML reports both in percent."""
    rates = dev.call("nvmlDeviceGetUtilizationRates")
    if rates is None:
        return None
    return {
        "gpu_ratio": _ratio(getattr(rates, "gpu", None)),
        "memory_ratio": _ratio(getattr(rates, "memory", None)),
    }


def _clocks(dev: _Device) -> dict[str, Any] | None:
    """Current clocks in MHz; None when NVML supports none of them."""
    clocks = {
        label: dev.call("nvmlDeviceGetClockInfo", getattr(dev.nvml, constant, value))
        for label, constant, value in CLOCK_TYPES
    }
    return None if all(v is None for v in clocks.values()) else clocks


def _device(nvml: Any, index: int) -> dict[str, Any]:
    dev = _Device(nvml, nvml.nvmlDeviceGetHandleByIndex(index))
    name = dev.call("nvmlDeviceGetName")
    name = _text(name) if name is not None else None
    memory = dev.call("nvmlDeviceGetMemoryInfo")
    pci = dev.call("nvmlDeviceGetPciInfo")
    capability = dev.call("nvmlDeviceGetCudaComputeCapability")
    mig = dev.call("nvmlDeviceGetMigMode")
    reasons = dev.first(
        "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"
    )
    persistence = dev.call("nvmlDeviceGetPersistenceMode")
    uuid = dev.call("nvmlDeviceGetUUID")
    return {
        "index": index,
        "name": name,
        "uuid": _text(uuid) if uuid is not None else None,
        "pci_bus_id": normalize_bus_id(_text(pci.busId)) if pci is not None else None,
        "memory_total_bytes": getattr(memory, "total", None),
        "memory_used_bytes": getattr(memory, "used", None),
        "compute_capability": f"{capability[0]}.{capability[1]}" if capability else None,
        "pcie": {
            "current_generation": dev.call("nvmlDeviceGetCurrPcieLinkGeneration"),
            "max_generation": dev.call("nvmlDeviceGetMaxPcieLinkGeneration"),
            "current_width": dev.call("nvmlDeviceGetCurrPcieLinkWidth"),
            "max_width": dev.call("nvmlDeviceGetMaxPcieLinkWidth"),
        },
        "power": {
            "limit_w": _watts(dev.call("nvmlDeviceGetPowerManagementLimit")),
            "default_limit_w": _watts(dev.call("nvmlDeviceGetPowerManagementDefaultLimit")),
            "enforced_limit_w": _watts(dev.call("nvmlDeviceGetEnforcedPowerLimit")),
        },
        "temperature_c": dev.call("nvmlDeviceGetTemperature", 0),
        "utilization": _utilization(dev),
        "power_draw_w": _watts(dev.call("nvmlDeviceGetPowerUsage")),
        "clocks_mhz": _clocks(dev),
        "ecc": _ecc(dev),
        **_retired(dev),
        "throttle_reasons": None
        if reasons is None
        else [label for bit, label in THROTTLE_BITS.items() if reasons & bit],
        "persistence_mode": bool(persistence) if persistence is not None else None,
        "mig": None if mig is None else {"enabled": bool(mig[0]), "pending": bool(mig[1])},
        "known_model": gpu_models.summary(gpu_models.by_name(name)),
        "errors": dev.errors,
    }


def _cuda_version(value: Any) -> str | None:
    """12040 -> '12.4'."""
    if not isinstance(value, int) or value <= 0:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def probe(loader: Callable[[], Any] = import_pynvml) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(NVML status, GPUs). Status 'ok', 'library_missing', 'init_failed' or 'error'."""
    status: dict[str, Any] = {
        "status": "ok",
        "error": None,
        "driver_version": None,
        "cuda_driver_version": None,
        "device_count": None,
    }
    try:
        nvml = loader()
    except Exception as exc:  # ImportError, or a broken installation
        status.update(status="library_missing", error=f"pynvml not importable: {exc}")
        return status, []
    try:
        nvml.nvmlInit()
    except Exception as exc:
        status.update(status="init_failed", error=str(exc) or type(exc).__name__)
        return status, []
    gpus: list[dict[str, Any]] = []
    try:
        status["driver_version"] = _text(nvml.nvmlSystemGetDriverVersion())
        get_cuda = getattr(nvml, "nvmlSystemGetCudaDriverVersion_v2", None) or getattr(
            nvml, "nvmlSystemGetCudaDriverVersion", None
        )
        status["cuda_driver_version"] = _cuda_version(get_cuda()) if get_cuda else None
        status["device_count"] = nvml.nvmlDeviceGetCount()
        for index in range(status["device_count"]):
            try:
                gpus.append(_device(nvml, index))
            except Exception as exc:  # e.g. "GPU is lost" on the handle itself
                gpus.append({"index": index, "name": None, "errors": [str(exc)]})
    except Exception as exc:
        status.update(status="error", error=str(exc) or type(exc).__name__)
    finally:
        with contextlib.suppress(Exception):  # best effort on a half-initialised NVML
            nvml.nvmlShutdown()
    return status, gpus
