"""CPU: model, topology and the instruction sets that matter for ML."""

from __future__ import annotations

from typing import Any

from . import cgroup
from ._fs import HostFS, parse_cpu_list

# cpuinfo flag -> name in the report. AVX2/FMA: baseline of most prebuilt ML wheels;
# AVX-512 and AMX: faster CPU inference and preprocessing (oneDNN, PyTorch CPU).
ML_FLAGS: dict[str, str] = {
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "avx512f": "avx512f",
    "avx512bw": "avx512bw",
    "avx512_vnni": "avx512_vnni",
    "avx512_bf16": "avx512_bf16",
    "avx512_fp16": "avx512_fp16",
    "amx_tile": "amx_tile",
    "amx_bf16": "amx_bf16",
    "amx_int8": "amx_int8",
    "asimd": "neon",  # arm64
    "sve": "sve",
}


def _processors(text: str) -> list[dict[str, str]]:
    blocks = []
    for block in text.strip().split("\n\n"):
        entry: dict[str, str] = {}
        for line in block.splitlines():
            key, found, value = line.partition(":")
            if found:
                entry[key.strip()] = value.strip()
        if entry:
            blocks.append(entry)
    return [b for b in blocks if "processor" in b]


def probe(fs: HostFS) -> dict[str, Any]:
    procs = _processors(fs.read("/proc/cpuinfo") or "")
    first = procs[0] if procs else {}
    flags = set((first.get("flags") or first.get("Features") or "").split())
    sockets = {p.get("physical id", "0") for p in procs}
    cores = {(p.get("physical id", "0"), p.get("core id", p["processor"])) for p in procs}
    lines = (fs.read("/proc/self/status") or "").splitlines()
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    usable = parse_cpu_list(status.get("Cpus_allowed_list", "").strip())
    return {
        "model": first.get("model name") or first.get("Model") or first.get("cpu model"),
        "vendor": first.get("vendor_id") or first.get("CPU implementer"),
        "sockets": len(sockets) if procs else None,
        "physical_cores": len(cores) if procs else None,
        "logical_cpus": len(procs) or None,
        "usable_cpus": usable,
        "cgroup_cpu_limit": cgroup.cpu_limit(fs),
        "instruction_sets": sorted(name for flag, name in ML_FLAGS.items() if flag in flags),
        "hypervisor_flag": "hypervisor" in flags,
    }
