"""Compare one host's resources with workload profiles; produce pass/fail and advice."""

from __future__ import annotations

import math
from typing import Any

from .profiles import DISK_MEDIA, Profile, Range
from .resources import Resources

# A figure meets a requirement at 95 %: an "80 GB" GPU reports 79.6 GiB, 64 GB of DIMMs
# leave about 62.7 GiB to the kernel's MemTotal.
TOLERANCE = 0.95
# Critical findings that a later phase fixes (driver install): reported, but not a gap.
FIXED_BY_ROLLOUT = frozenset({"os-nouveau-loaded", "gpu-nvml-error", "gpu-not-visible-to-nvml"})
STATUS_ORDER = ("fail", "unknown", "below_recommended", "pass")


def _check(
    resource: str,
    unit: str,
    need: Range | None,
    measured: Any,
    status: str,
    recommendation: str | None = None,
) -> dict[str, Any]:
    return {
        "resource": resource,
        "unit": unit,
        "minimum": need.minimum if need else None,
        "recommended": need.recommended if need else None,
        "measured": round(measured, 1) if isinstance(measured, float) else measured,
        "status": status,
        "recommendation": recommendation,
    }


def _pass_fail(
    resource: str, measured: Any, ok: bool, advice: str, need: Range | None = None
) -> dict[str, Any]:
    """A check with no size to grade: it passes or fails, with ``advice`` when it fails."""
    return _check(resource, "", need, measured, "pass" if ok else "fail", None if ok else advice)


def _grade(measured: float, need: Range) -> str:
    if measured < need.minimum * TOLERANCE:
        return "fail"
    return "below_recommended" if measured < need.recommended * TOLERANCE else "pass"


def _nominal(gib: float, step: int = 8) -> int:
    """Installed size behind a measured one: 62.7 GiB of MemTotal are 64 GB of DIMMs."""
    return max(step, math.ceil(gib / step) * step)


def _gb(value: float) -> str:
    return f"{value:g} GB"


def check_gpu(res: Resources, p: Profile) -> list[dict[str, Any]]:
    need_mem, need_count = p.gpu_memory_gb, p.gpu_count
    if need_mem.recommended == 0 and need_count.recommended == 0:
        return []
    unknown = [g for g in res.gpus if g.memory_gib is None]
    sized = [g for g in res.gpus if g.memory_gib is not None]
    if not res.gpus:
        if p.needs_gpu:
            return [
                _check(
                    "gpu_memory_gb",
                    "GB",
                    need_mem,
                    0,
                    "fail",
                    f"add an NVIDIA GPU with at least {_gb(need_mem.minimum)} memory "
                    f"({_gb(need_mem.recommended)} recommended)",
                )
            ]
        return [
            _check(
                "gpu_memory_gb",
                "GB",
                need_mem,
                0,
                "below_recommended",
                f"optional: an NVIDIA GPU with {_gb(need_mem.recommended)} memory "
                "would speed this workload up",
            )
        ]
    if unknown and not sized:
        return [
            _check(
                "gpu_memory_gb",
                "GB",
                need_mem,
                None,
                "unknown",
                f"{unknown[0].label}: model not known; install the NVIDIA driver "
                "(phase 3) and re-run the assessment to measure its memory",
            )
        ]
    best = max(sized, key=lambda g: g.memory_gib or 0)
    checks = []
    status = _grade(best.memory_gib or 0, need_mem)
    advice = None
    if status == "fail":
        advice = (
            f"largest GPU is {best.label} with {best.memory_gib:.0f} GB: use a GPU with "
            f"at least {_gb(need_mem.minimum)} ({_gb(need_mem.recommended)} recommended)"
        )
    elif status == "below_recommended":
        advice = (
            f"{best.label} has {best.memory_gib:.0f} GB; {_gb(need_mem.recommended)} "
            "recommended for larger batches and contexts"
        )
    checks.append(_check("gpu_memory_gb", "GB", need_mem, best.memory_gib, status, advice))
    floor = need_mem.minimum * TOLERANCE
    count = sum(1 for g in sized if (g.memory_gib or 0) >= floor)
    status = _grade(count, need_count)
    advice = None
    if status != "pass":
        target = need_count.minimum if status == "fail" else need_count.recommended
        advice = (
            f"add {math.ceil(target - count)} GPU(s) with at least "
            f"{_gb(need_mem.minimum)} (has {count} that qualify)"
        )
    checks.append(_check("gpu_count", "GPUs", need_count, count, status, advice))
    if p.gpu_compute_capability and best.compute_capability is not None:
        checks.append(
            _pass_fail(
                "gpu_compute_capability",
                best.compute_capability,
                best.compute_capability >= p.gpu_compute_capability,
                f"{best.label} has compute capability {best.compute_capability:g}; "
                f"the profile needs {p.gpu_compute_capability:g} or newer",
                Range(p.gpu_compute_capability, p.gpu_compute_capability),
            )
        )
    return checks


def check_ram(res: Resources, p: Profile) -> dict[str, Any]:
    need = p.system_ram_gb
    if res.ram_gib is None:
        return _check("system_ram_gb", "GB", need, None, "unknown", "memory size not reported")
    status = _grade(res.ram_gib, need)
    advice = None
    if status != "pass":
        target = need.minimum if status == "fail" else need.recommended
        has = _nominal(res.ram_gib)
        add = max(8, math.ceil(target - has))
        advice = (
            f"add {add} GB RAM (has about {has} GB, "
            f"{'needs' if status == 'fail' else 'recommended'} {_gb(target)})"
        )
    return _check("system_ram_gb", "GB", need, res.ram_gib, status, advice)


def check_cpu(res: Resources, p: Profile) -> list[dict[str, Any]]:
    need = p.cpu_cores
    checks = []
    if res.cores is None:
        checks.append(_check("cpu_cores", "cores", need, None, "unknown", "CPU count not reported"))
    else:
        status = _grade(res.cores, need)
        advice = None
        if status != "pass":
            target = need.minimum if status == "fail" else need.recommended
            advice = (
                f"{res.cores} CPU cores, {'needs' if status == 'fail' else 'recommended'} "
                f"{target:g}: use a CPU (or second socket) with more cores"
            )
        checks.append(_check("cpu_cores", "cores", need, res.cores, status, advice))
    missing = [s for s in p.cpu_instruction_sets if s not in res.instruction_sets]
    if p.cpu_instruction_sets:
        checks.append(
            _pass_fail(
                "cpu_instruction_sets",
                list(res.instruction_sets),
                not missing,
                f"CPU lacks {', '.join(missing)}: prebuilt ML libraries need it",
            )
        )
    return checks


def check_disk(res: Resources, p: Profile) -> list[dict[str, Any]]:
    need = p.disk_gb
    where = f"{res.data_mount} (data path {res.data_path})"
    checks = []
    if res.disk_free_gib is None:
        checks.append(
            _check("disk_gb", "GB", need, None, "unknown", f"free space of {where} not reported")
        )
    else:
        status = _grade(res.disk_free_gib, need)
        advice = None
        if status != "pass":
            target = need.minimum if status == "fail" else need.recommended
            advice = (
                f"free or add {math.ceil(target - res.disk_free_gib)} GB on {where}: "
                f"{res.disk_free_gib:.0f} GB free, "
                f"{'needs' if status == 'fail' else 'recommended'} {_gb(target)}"
            )
        checks.append(_check("disk_gb", "GB", need, res.disk_free_gib, status, advice))
    if p.disk_media != "hdd":
        if res.disk_media not in DISK_MEDIA:
            checks.append(
                _check(
                    "disk_media",
                    "",
                    None,
                    res.disk_media,
                    "unknown",
                    f"media of {where} unknown; the profile needs {p.disk_media} or faster",
                )
            )
        else:
            checks.append(
                _pass_fail(
                    "disk_media",
                    res.disk_media,
                    DISK_MEDIA.index(res.disk_media) >= DISK_MEDIA.index(p.disk_media),
                    f"{where} is on {res.disk_media}: move the data path to "
                    f"{p.disk_media.upper()} or faster storage",
                )
            )
    return checks


def check_network(res: Resources, p: Profile) -> dict[str, Any]:
    need = p.network_gbps
    if res.network_gbps is None:
        return _check(
            "network_gbps",
            "Gb/s",
            need,
            None,
            "unknown",
            "no link speed reported (virtual NIC or link down): check the switch port",
        )
    status = _grade(res.network_gbps, need)
    advice = None
    if status != "pass":
        target = need.minimum if status == "fail" else need.recommended
        advice = (
            f"fastest link is {res.network_gbps:g} Gb/s, "
            f"{'needs' if status == 'fail' else 'recommended'} {target:g} Gb/s: add a "
            f"faster NIC or use a faster switch port"
        )
    return _check("network_gbps", "Gb/s", need, res.network_gbps, status, advice)


def evaluate_profile(res: Resources, profile: Profile) -> dict[str, Any]:
    checks = [
        *check_gpu(res, profile),
        check_ram(res, profile),
        *check_cpu(res, profile),
        *check_disk(res, profile),
        check_network(res, profile),
    ]
    worst = min((c["status"] for c in checks), key=STATUS_ORDER.index, default="pass")
    return {"title": profile.title, "status": worst, "checks": checks}


def health(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """Warning and critical findings, and whether one of them blocks the host."""
    items = [f for f in doc.get("findings") or [] if f.get("severity") in ("critical", "warning")]
    blocking = any(
        f["severity"] == "critical" and f.get("id") not in FIXED_BY_ROLLOUT for f in items
    )
    return items, blocking
