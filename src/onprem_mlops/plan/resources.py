"""What a host offers, read from its assessment document (schema 1.x)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

GIB = 1 << 30


@dataclass(frozen=True)
class Gpu:
    label: str
    memory_gib: float | None  # None: model unknown and no driver to ask
    compute_capability: float | None
    source: str  # "nvml" or "pci-id" (known model, driver not yet installed)


@dataclass
class Resources:
    gpus: list[Gpu] = field(default_factory=list)
    ram_gib: float | None = None
    cores: int | None = None
    instruction_sets: tuple[str, ...] = ()
    disk_free_gib: float | None = None
    disk_media: str = "unknown"
    data_path: str | None = None
    data_mount: str | None = None
    network_gbps: float | None = None


def _cc(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _gpus(doc: dict[str, Any]) -> list[Gpu]:
    gpus, seen = [], set()
    for gpu in doc.get("gpus") or []:
        seen.add(gpu.get("pci_bus_id"))
        memory = gpu.get("memory_total_bytes")
        gpus.append(
            Gpu(
                label=f"{gpu.get('name') or 'GPU'} ({gpu.get('pci_bus_id') or gpu.get('index')})",
                memory_gib=memory / GIB if memory else None,
                compute_capability=_cc(gpu.get("compute_capability")),
                source="nvml",
            )
        )
    for dev in doc.get("pci_nvidia_devices") or []:
        if dev.get("address") in seen or dev.get("driver") == "vfio-pci":
            continue
        known = dev.get("known_model") or {}
        name = known.get("name") or f"unknown NVIDIA device 10de:{dev.get('device_id')}"
        gpus.append(
            Gpu(
                label=f"{name} ({dev.get('address')}, no driver)",
                memory_gib=known.get("memory_gib"),
                compute_capability=_cc(known.get("compute_capability")),
                source="pci-id",
            )
        )
    return gpus


def _cores(cpu: dict[str, Any]) -> int | None:
    candidates = [cpu.get("physical_cores") or cpu.get("logical_cpus"), cpu.get("usable_cpus")]
    if cpu.get("cgroup_cpu_limit"):
        candidates.append(math.ceil(cpu["cgroup_cpu_limit"]))
    known = [c for c in candidates if isinstance(c, int) and c > 0]
    return min(known) if known else None


def _network(net: dict[str, Any]) -> float | None:
    up = [i for i in net.get("interfaces") or [] if i.get("operstate") == "up"]
    physical = [i for i in up if i.get("physical")] or up
    speeds = [i["speed_mbps"] / 1000 for i in physical if i.get("speed_mbps")]
    speeds += [
        p["rate_gbps"]
        for p in net.get("infiniband") or []
        if p.get("state") == "ACTIVE" and p.get("rate_gbps")
    ]
    return max(speeds) if speeds else None


def from_assessment(doc: dict[str, Any]) -> Resources:
    cpu, mem = doc.get("cpu") or {}, doc.get("memory") or {}
    data = (doc.get("disks") or {}).get("data_path") or {}
    limits = [v for v in (mem.get("total_bytes"), mem.get("cgroup_limit_bytes")) if v]
    return Resources(
        gpus=_gpus(doc),
        ram_gib=min(limits) / GIB if limits else None,
        cores=_cores(cpu),
        instruction_sets=tuple(cpu.get("instruction_sets") or ()),
        disk_free_gib=data["available_bytes"] / GIB if data.get("available_bytes") else None,
        disk_media=data.get("media") or "unknown",
        data_path=data.get("path"),
        data_mount=data.get("mountpoint"),
        network_gbps=_network(doc.get("network") or {}),
    )
