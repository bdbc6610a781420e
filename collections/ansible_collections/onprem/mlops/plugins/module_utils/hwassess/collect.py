"""Run every probe and assemble the versioned assessment document."""

from __future__ import annotations

import datetime
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import bench, cpu, disks, findings, findings_gpu, gpu_nvml, memory, network, pci, system
from ._fs import DiskUsage, HostFS

SCHEMA_VERSION = "1.2"
DEFAULT_DATA_PATH = "/srv"


def _section(name: str, fn: Callable[[], Any], errors: list[dict[str, str]]) -> Any:
    """Run one probe; a bug in it costs that section, not the whole report."""
    try:
        return fn()
    except Exception as exc:
        errors.append(
            findings.finding(
                "assessment-probe-error",
                "warning",
                f"the {name} probe failed: {exc!r}",
                "Report this with the trace in the section's 'error' field; the rest is valid.",
            )
        )
        return {"error": traceback.format_exc(limit=3)}


def _hostname(fs: HostFS) -> str | None:
    return fs.read_line("/proc/sys/kernel/hostname") or (os.uname().nodename if fs.live else None)


def assess(
    root: str = "/",
    *,
    benchmarks: bool = False,
    data_path: str = DEFAULT_DATA_PATH,
    nvml_loader: Callable[[], Any] = gpu_nvml.import_pynvml,
    disk_usage: DiskUsage | None = None,
    bench_disk_mib: int = 1024,
    host_fs: HostFS | None = None,
) -> dict[str, Any]:
    """Assess the host whose filesystem is at ``root`` and return the document.

    ``nvml_loader`` returns the ``pynvml`` module (tests pass a fake); ``disk_usage`` maps a
    mountpoint to (total, available) bytes (default: os.statvfs). Benchmarks only run when
    ``root`` is the live system. ``host_fs`` replaces ``root`` and ``disk_usage`` with a
    prepared view (gpu-verify passes one that records what the probes read).
    """
    start = time.perf_counter()
    fs = host_fs or HostFS(root, disk_usage)
    errors: list[dict[str, str]] = []
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"hostname": _hostname(fs)},
    }
    doc["cpu"] = _section("cpu", lambda: cpu.probe(fs), errors)
    doc["memory"] = _section("memory", lambda: memory.probe(fs), errors)
    doc["disks"] = _section("disks", lambda: disks.probe(fs, data_path), errors)
    doc["network"] = _section("network", lambda: network.probe(fs), errors)
    hypervisor = bool((doc["cpu"] or {}).get("hypervisor_flag"))
    doc["os"] = _section("os", lambda: system.probe(fs, hypervisor), errors)
    nvml_status, gpus = gpu_nvml.probe(nvml_loader)
    doc["nvml"], doc["gpus"] = nvml_status, gpus
    doc["pci_nvidia_devices"] = _section("pci", lambda: pci.probe(fs), errors) or []
    if benchmarks and fs.live:
        doc["benchmarks"] = bench.run(data_path, disk_mib=bench_disk_mib)
    derived = _findings(doc, errors)
    doc["findings"] = findings.sort_findings(errors + derived)
    doc["duration_s"] = round(time.perf_counter() - start, 3)
    return doc


def _findings(doc: dict[str, Any], errors: list[dict[str, str]]) -> list[dict[str, str]]:
    def ok(name: str) -> dict[str, Any]:
        section = doc.get(name)
        return section if isinstance(section, dict) and "error" not in section else {}

    checks: list[Callable[[], list[dict[str, str]]]] = [
        lambda: findings.cpu_findings(ok("cpu"), ok("os").get("architecture")),
        lambda: findings.memory_findings(ok("memory")),
        lambda: findings.disk_findings(ok("disks")),
        lambda: findings.network_findings(ok("network")),
        lambda: findings.os_findings(ok("os"), findings.has_nvidia_gpu(doc)),
        lambda: findings_gpu.gpu_findings(doc),
        lambda: findings_gpu.bench_findings(doc.get("benchmarks")),
    ]
    out: list[dict[str, str]] = []
    for check in checks:
        out += _safe(check, errors)
    return out


def _safe(check: Callable[[], list[dict[str, str]]], errors: list[dict[str, str]]) -> list[Any]:
    result = _section("findings", check, errors)
    return result if isinstance(result, list) else []
