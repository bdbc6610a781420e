"""The GPU collector's metrics in Prometheus' text format, for node exporter's textfile collector.

The names and labels are a contract: the alert rules depend on them (docs/operations.md, "Where
the metrics come from"). Label ``gpu`` is the NVML index as a string (``gpu="0"``); an Xid of a
GPU that NVML does not list carries its PCI bus id instead. A value that could not be read gives
no series, never a 0. Input: what ``pci.probe``, ``gpu_nvml.probe`` and ``xid.KmsgReader`` return.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .gpu_nvml import THROTTLE_BITS

Labels = tuple[tuple[str, str], ...]
XID_FELL_OFF_THE_BUS = 79  # always present per GPU (0 without errors): its first one is a rise

# (name, type, help), in the order they are written.
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("onprem_gpu_pci_devices", "gauge", "NVIDIA GPUs on the PCI bus (sysfs), driver or not."),
    ("onprem_gpu_nvml_devices", "gauge", "GPUs NVML sees (0 while NVML is not usable)."),
    ("onprem_gpu_nvml_up", "gauge", "1 if NVML initialised and answered, else 0."),
    ("onprem_gpu_xid_source_up", "gauge", "1 if the kernel log (/dev/kmsg) could be read."),
    ("onprem_gpu_collector_errors", "gauge", "NVML queries that failed in the last round."),
    ("onprem_gpu_info", "gauge", "GPU identity; always 1."),
    ("onprem_gpu_utilization_ratio", "gauge", "Share of time a kernel ran on the GPU, 0..1."),
    (
        "onprem_gpu_memory_utilization_ratio",
        "gauge",
        "Share of time device memory was read or written, 0..1.",
    ),
    ("onprem_gpu_memory_used_bytes", "gauge", "Device memory in use."),
    ("onprem_gpu_memory_total_bytes", "gauge", "Device memory."),
    ("onprem_gpu_temperature_celsius", "gauge", "GPU core temperature."),
    ("onprem_gpu_power_draw_watts", "gauge", "Power draw."),
    ("onprem_gpu_power_limit_watts", "gauge", "Enforced power limit."),
    ("onprem_gpu_clock_mhz", "gauge", "Current clock (graphics, sm, memory) in MHz."),
    (
        "onprem_gpu_xid_errors_total",
        "counter",
        "NVIDIA Xid errors in the kernel log since boot (read since the collector started).",
    ),
    ("onprem_gpu_ecc_errors_total", "counter", "ECC errors (volatile: since driver load)."),
    ("onprem_gpu_remapped_rows", "gauge", "Remapped rows; pending and failure are 0 or 1."),
    ("onprem_gpu_retired_pages", "gauge", "Retired device memory pages by cause."),
    ("onprem_gpu_throttle_active", "gauge", "1 while NVML reports this clock throttle reason."),
    ("onprem_gpu_pcie_link_generation", "gauge", "PCIe link generation, current and max."),
    ("onprem_gpu_pcie_link_width", "gauge", "PCIe link width (lanes), current and max."),
)
DURATION = ("onprem_gpu_collect_duration_seconds", "gauge", "Time the last collection took.")
NVML_UNUSABLE = ("library_missing", "init_failed")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: Any) -> str | None:
    """Prometheus' text for a sample value; None for a value that is not a number."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    return None


def _family(name: str, kind: str, help_text: str, samples: Sequence[tuple[Labels, str]]) -> str:
    lines = [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        if labels:
            pairs = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels)
            lines.append(f"{name}{{{pairs}}} {value}")
        else:
            lines.append(f"{name} {value}")
    return "\n".join(lines) + "\n"


class _Samples:
    def __init__(self) -> None:
        self.by_name: dict[str, dict[Labels, str]] = {name: {} for name, _, _ in FAMILIES}

    def add(self, metric: str, value: Any, /, **labels: str) -> None:
        """One sample; a None (or non-numeric) value adds nothing."""
        text = _number(value)
        if text is not None:
            self.by_name[metric][tuple(labels.items())] = text

    def text(self) -> str:
        return "".join(
            _family(name, kind, help_text, list(self.by_name[name].items()))
            for name, kind, help_text in FAMILIES
            if self.by_name[name]
        )


def _answered(gpu: Mapping[str, Any]) -> bool:
    """False for the stub gpu_nvml.probe leaves when a GPU's handle failed (e.g. GPU is lost)."""
    return "pci_bus_id" in gpu


def _section(gpu: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = gpu.get(key)
    return value if isinstance(value, Mapping) else {}


def bus_indexes(
    gpus: Sequence[Mapping[str, Any]], known: Mapping[str, int] | None = None
) -> dict[str, int]:
    """PCI bus id -> NVML index: this round's, then ``known`` ones (from earlier rounds) whose
    index no other bus holds now. Keeps an Xid of a GPU whose handle fails on its index label."""
    current = {
        str(g["pci_bus_id"]): int(g["index"])
        for g in gpus
        if g.get("pci_bus_id") and isinstance(g.get("index"), int)
    }
    taken = set(current.values())
    merged = {bus: index for bus, index in (known or {}).items() if index not in taken}
    merged.update(current)
    return merged


def _gpu_samples(
    out: _Samples, gpu: Mapping[str, Any], pci_by_bus: Mapping[str, Mapping[str, Any]]
) -> None:
    g = str(gpu["index"])
    out.add(
        "onprem_gpu_info",
        1,
        gpu=g,
        name=str(gpu.get("name") or ""),
        uuid=str(gpu.get("uuid") or ""),
        pci_bus_id=str(gpu.get("pci_bus_id") or ""),
    )
    utilization = _section(gpu, "utilization")
    out.add("onprem_gpu_utilization_ratio", utilization.get("gpu_ratio"), gpu=g)
    out.add("onprem_gpu_memory_utilization_ratio", utilization.get("memory_ratio"), gpu=g)
    out.add("onprem_gpu_memory_used_bytes", gpu.get("memory_used_bytes"), gpu=g)
    out.add("onprem_gpu_memory_total_bytes", gpu.get("memory_total_bytes"), gpu=g)
    out.add("onprem_gpu_temperature_celsius", gpu.get("temperature_c"), gpu=g)
    out.add("onprem_gpu_power_draw_watts", gpu.get("power_draw_w"), gpu=g)
    power = _section(gpu, "power")
    limit = power.get("enforced_limit_w")
    out.add("onprem_gpu_power_limit_watts", power.get("limit_w") if limit is None else limit, gpu=g)
    clocks = _section(gpu, "clocks_mhz")
    for clock in ("graphics", "sm", "memory"):
        out.add("onprem_gpu_clock_mhz", clocks.get(clock), gpu=g, clock=clock)
    ecc = _section(gpu, "ecc")
    for counter in ("volatile", "aggregate"):
        counts = ecc.get(counter) if isinstance(ecc.get(counter), Mapping) else {}
        for kind in ("corrected", "uncorrected"):
            out.add(
                "onprem_gpu_ecc_errors_total", counts.get(kind), gpu=g, type=kind, counter=counter
            )
    rows = _section(gpu, "remapped_rows")
    for state in ("corrected", "uncorrected", "pending", "failure"):
        out.add("onprem_gpu_remapped_rows", rows.get(state), gpu=g, state=state)
    retired = _section(gpu, "retired_pages")
    for cause in ("single_bit", "double_bit"):
        out.add("onprem_gpu_retired_pages", retired.get(cause), gpu=g, cause=cause)
    reasons = gpu.get("throttle_reasons")
    if isinstance(reasons, list):
        for reason in THROTTLE_BITS.values():
            out.add("onprem_gpu_throttle_active", reason in reasons, gpu=g, reason=reason)
    # NVML's link; where it has no answer, the same device's link in sysfs.
    pcie = _section(gpu, "pcie")
    sysfs = _section(pci_by_bus.get(str(gpu.get("pci_bus_id")), {}), "pcie")
    for metric, what in (
        ("onprem_gpu_pcie_link_generation", "generation"),
        ("onprem_gpu_pcie_link_width", "width"),
    ):
        for state in ("current", "max"):
            key = f"{state}_{what}"
            value = pcie.get(key)
            out.add(metric, sysfs.get(key) if value is None else value, gpu=g, state=state)


def render(
    pci_devices: Sequence[Mapping[str, Any]],
    nvml_status: Mapping[str, Any],
    gpus: Sequence[Mapping[str, Any]],
    xid_counts: Mapping[tuple[str, int], int],
    xid_source_ok: bool,
    *,
    known_buses: Mapping[str, int] | None = None,
) -> str:
    """The exposition text of one collection round.

    "" (nothing GPU-related) when no NVIDIA GPU is on the PCI bus and NVML is not usable
    (library missing, init failed); GPUs on the bus with NVML failing give the PCI count,
    ``onprem_gpu_nvml_devices 0`` and ``onprem_gpu_nvml_up 0``.

    ``known_buses`` (bus id -> NVML index from earlier rounds, see :func:`bus_indexes`) keeps
    the ``gpu`` label of Xids from a GPU whose NVML handle fails after it fell off the bus.
    """
    status = nvml_status.get("status")
    nvml_ok = status == "ok"
    if not pci_devices and not gpus and status in NVML_UNUSABLE:
        return ""
    out = _Samples()
    nvml_gpus = [g for g in gpus if isinstance(g.get("index"), int)] if nvml_ok else []
    answered = [g for g in nvml_gpus if _answered(g)]
    out.add("onprem_gpu_pci_devices", len(pci_devices))
    out.add("onprem_gpu_nvml_devices", len(answered))
    out.add("onprem_gpu_nvml_up", nvml_ok)
    out.add("onprem_gpu_xid_source_up", bool(xid_source_ok))
    errors = sum(len(g.get("errors") or []) for g in gpus) + (1 if status == "error" else 0)
    out.add("onprem_gpu_collector_errors", errors)

    pci_by_bus = {str(d.get("address")): d for d in pci_devices}
    for gpu in answered:
        _gpu_samples(out, gpu, pci_by_bus)

    indexes = bus_indexes(nvml_gpus, known_buses)

    def gpu_label(bus: str) -> str:
        return str(indexes[bus]) if bus in indexes else bus

    if xid_source_ok or xid_counts:  # counts read before a read error are kept
        xids: dict[tuple[str, int], int] = {}
        seeded = {str(g["index"]) for g in nvml_gpus}
        seeded |= {gpu_label(str(d.get("address"))) for d in pci_devices}
        for label in seeded:
            xids[(label, XID_FELL_OFF_THE_BUS)] = 0
        for (bus, xid), count in xid_counts.items():
            key = (gpu_label(bus), int(xid))
            xids[key] = xids.get(key, 0) + count
        for (label, xid), count in sorted(xids.items(), key=_xid_order):
            out.add("onprem_gpu_xid_errors_total", count, gpu=label, xid=str(xid))
    return out.text()


def _xid_order(item: tuple[tuple[str, int], int]) -> tuple[int, str, int]:
    (label, xid), _ = item
    return (0, label.rjust(8), xid) if label.isdigit() else (1, label, xid)


def render_duration(seconds: float) -> str:
    """``onprem_gpu_collect_duration_seconds``, appended to a non-empty round."""
    name, kind, help_text = DURATION
    return _family(name, kind, help_text, [((), _number(round(seconds, 6)) or "0")])
