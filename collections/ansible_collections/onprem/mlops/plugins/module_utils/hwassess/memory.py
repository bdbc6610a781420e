"""System memory: size, availability, ECC (through EDAC, where the kernel exposes it)."""

from __future__ import annotations

from typing import Any

from . import cgroup
from ._fs import HostFS


def _meminfo(fs: HostFS) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in (fs.read("/proc/meminfo") or "").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            factor = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
            values[key.strip()] = int(parts[0]) * factor
    return values


def _ecc(fs: HostFS) -> dict[str, Any]:
    """ECC as seen by the EDAC driver: only visible when one is loaded for the chipset."""
    controllers = [c for c in fs.listdir("/sys/devices/system/edac/mc") if c.startswith("mc")]
    if not controllers:
        return {
            "visible": False,
            "controllers": 0,
            "mode": None,
            "corrected_errors": None,
            "uncorrected_errors": None,
        }
    corrected = uncorrected = 0
    modes: set[str] = set()
    for mc in controllers:
        base = f"/sys/devices/system/edac/mc/{mc}"
        corrected += fs.read_int(f"{base}/ce_count") or 0
        uncorrected += fs.read_int(f"{base}/ue_count") or 0
        for entry in fs.listdir(base):
            if entry.startswith(("dimm", "rank", "csrow")):
                mode = fs.read_line(f"{base}/{entry}/dimm_edac_mode") or fs.read_line(
                    f"{base}/{entry}/edac_mode"
                )
                if mode:
                    modes.add(mode)
    return {
        "visible": True,
        "controllers": len(controllers),
        "mode": ",".join(sorted(modes)) or None,
        "corrected_errors": corrected,
        "uncorrected_errors": uncorrected,
    }


def _shm_size(fs: HostFS) -> int | None:
    """Size of /dev/shm: PyTorch data-loader workers exchange batches through it."""
    for line in (fs.read("/proc/mounts") or "").splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[1] == "/dev/shm":
            for option in fields[3].split(","):
                if option.startswith("size="):
                    return _size_option(option[5:])
            try:
                return fs.disk_usage("/dev/shm")[0]
            except (OSError, KeyError):
                return None
    return None


def _size_option(text: str) -> int | None:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = text.lower()
    try:
        if text and text[-1] in units:
            return int(text[:-1]) * units[text[-1]]
        return int(text)
    except ValueError:
        return None


def probe(fs: HostFS) -> dict[str, Any]:
    info = _meminfo(fs)
    return {
        "total_bytes": info.get("MemTotal"),
        "available_bytes": info.get("MemAvailable"),
        "swap_total_bytes": info.get("SwapTotal"),
        "hugepages_total": info.get("HugePages_Total"),
        "cgroup_limit_bytes": cgroup.memory_limit(fs),
        "shm_bytes": _shm_size(fs),
        "ecc": _ecc(fs),
    }
