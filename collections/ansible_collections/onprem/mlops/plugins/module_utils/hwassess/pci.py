"""NVIDIA GPUs on the PCI bus, seen through sysfs whether or not a driver is bound."""

from __future__ import annotations

from typing import Any

from . import gpu_models
from ._fs import HostFS

NVIDIA_VENDOR = "0x10de"
# PCIe link speed (GT/s) -> generation
SPEED_TO_GEN = {
    "2.5": 1,
    "5": 2,
    "5.0": 2,
    "8": 3,
    "8.0": 3,
    "16": 4,
    "16.0": 4,
    "32": 5,
    "32.0": 5,
    "64": 6,
    "64.0": 6,
}


def link_generation(speed: str | None) -> int | None:
    """'16.0 GT/s PCIe' -> 4."""
    if not speed:
        return None
    return SPEED_TO_GEN.get(speed.split()[0])


def _gen(fs: HostFS, path: str) -> int | None:
    return link_generation(fs.read_line(path))


def normalize_bus_id(bus_id: str) -> str:
    """'00000000:3B:00.0' (NVML) or '0000:3b:00.0' (sysfs) -> '0000:3b:00.0'."""
    domain, _, rest = bus_id.strip().lower().rpartition(":")
    domain, _, bus = domain.rpartition(":")
    return f"{(domain or '0')[-4:].rjust(4, '0')}:{bus}:{rest}"


def probe(fs: HostFS) -> list[dict[str, Any]]:
    devices = []
    for address in fs.listdir("/sys/bus/pci/devices"):
        base = f"/sys/bus/pci/devices/{address}"
        if fs.read_line(f"{base}/vendor") != NVIDIA_VENDOR:
            continue
        pci_class = fs.read_line(f"{base}/class") or ""
        if not pci_class.startswith("0x03"):  # display controllers only (not audio, bridges)
            continue
        device_id = (fs.read_line(f"{base}/device") or "").removeprefix("0x")
        numa = fs.read_int(f"{base}/numa_node")
        cur_width = fs.read_int(f"{base}/current_link_width")
        max_width = fs.read_int(f"{base}/max_link_width")
        devices.append(
            {
                "address": normalize_bus_id(address),
                "device_id": device_id,
                "subsystem_device_id": (
                    fs.read_line(f"{base}/subsystem_device") or ""
                ).removeprefix("0x")
                or None,
                "driver": fs.link_name(f"{base}/driver"),
                "numa_node": numa if numa is not None and numa >= 0 else None,
                "pcie": {
                    "current_generation": _gen(fs, f"{base}/current_link_speed"),
                    "max_generation": _gen(fs, f"{base}/max_link_speed"),
                    "current_width": cur_width,
                    "max_width": max_width,
                },
                "known_model": gpu_models.summary(gpu_models.by_pci_id(device_id)),
            }
        )
    return devices
