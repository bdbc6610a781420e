"""Optional micro-benchmarks: disk, memory bandwidth, CPU matmul, GPU matmul and bandwidths.

Standard library only for disk and memory; NumPy (CPU matmul) and PyTorch (GPU) are used
when importable and reported as skipped otherwise. Each benchmark catches its own errors.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import gpu_models

BLOCK = 4 << 20  # 4 MiB writes and reads
# Measured below this share of the datasheet peak: flagged as far below (see findings).
FAR_BELOW_RATIO = 0.5


def _skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason}


def _guard(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except Exception as exc:
        return {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}


def disk_sequential(directory: str, size_mib: int) -> dict[str, Any]:
    """Write then read ``size_mib`` MiB in ``directory`` (page cache dropped for the read)."""
    if not Path(directory).is_dir() or not os.access(directory, os.W_OK):
        return _skipped(f"{directory} is not a writable directory")
    st = os.statvfs(directory)
    size = size_mib << 20
    if st.f_bavail * st.f_frsize < 2 * size:
        return _skipped(f"less than {2 * size_mib} MiB free in {directory}")
    block = os.urandom(BLOCK)
    fd, name = tempfile.mkstemp(prefix=".onprem-bench-", dir=directory)
    try:
        start = time.perf_counter()
        for _ in range(size // BLOCK):
            os.write(fd, block)
        os.fsync(fd)
        write_s = time.perf_counter() - start
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.lseek(fd, 0, os.SEEK_SET)
        start = time.perf_counter()
        while os.read(fd, BLOCK):
            pass
        read_s = time.perf_counter() - start
    finally:
        os.close(fd)
        Path(name).unlink()
    return {
        "status": "ok",
        "path": directory,
        "size_mib": size_mib,
        "write_mbps": round(size / write_s / 1e6, 1),
        "read_mbps": round(size / read_s / 1e6, 1),
    }


def memory_bandwidth(size_mib: int) -> dict[str, Any]:
    """Single-thread copy bandwidth (bytes read + bytes written per second), best of 3."""
    size = size_mib << 20
    source = bytearray(os.urandom(1 << 20)) * size_mib
    target = bytearray(size)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        target[:] = source
        best = min(best, time.perf_counter() - start)
    return {
        "status": "ok",
        "size_mib": size_mib,
        "threads": 1,
        "copy_gbs": round(2 * size / best / 1e9, 2),
    }


def cpu_matmul(importer: Callable[[str], Any] = importlib.import_module) -> dict[str, Any]:
    """float32 GEMM through NumPy's BLAS (all cores), GFLOP/s."""
    try:
        np = importer("numpy")
    except ImportError:
        return _skipped("numpy is not installed for this Python")
    n = 2048
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.copy()
    a @ b  # warm-up (BLAS thread pool start)
    runs, start = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - start < 1.0:
        a @ b
        runs += 1
    elapsed = time.perf_counter() - start
    return {
        "status": "ok",
        "dtype": "float32",
        "n": n,
        "gflops": round(2 * n**3 * runs / elapsed / 1e9, 1),
    }


# Host-to-device copy from pinned (page-locked) host memory: the PCIe (or NVLink-C2C) path
# that feeds a GPU its batches. Reported as measured; gpu_models has no link peaks.
H2D_MIB = 256


def _cuda_time(torch: Any, device: Any, fn: Callable[[], Any], repeat: int) -> float:
    """Seconds per call of ``fn`` on ``device``: synchronise that device, not the current one."""
    fn()
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeat


def host_to_device(torch: Any, device: Any, size_mib: int = H2D_MIB) -> float:
    """Pinned host memory -> ``device`` copy bandwidth in GB/s (bytes copied once)."""
    size = size_mib << 20
    host = torch.empty(size, dtype=torch.uint8, pin_memory=True)
    target = torch.empty(size, dtype=torch.uint8, device=device)
    seconds = _cuda_time(torch, device, lambda h=host, t=target: t.copy_(h, non_blocking=True), 10)
    del host, target
    return round(size / seconds / 1e9, 1)


def gpu_device(torch: Any, index: int) -> dict[str, Any]:
    """Matmul, device memory and host-to-device figures of GPU ``index`` (CUDA numbering)."""
    device = torch.device("cuda", index)
    name = torch.cuda.get_device_name(index)
    model = gpu_models.by_name(name)
    result: dict[str, Any] = {"index": index, "name": name, "model": model.key if model else None}
    with torch.cuda.device(index):
        n = 8192
        for label, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
            if label == "bf16" and not torch.cuda.is_bf16_supported():
                continue
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            seconds = _cuda_time(torch, device, lambda a=a, b=b: a @ b, 20)
            result[f"{label}_matmul_tflops"] = round(2 * n**3 / seconds / 1e12, 1)
            del a, b
        size = 1 << 30
        src = torch.empty(size, dtype=torch.uint8, device=device)
        dst = torch.empty_like(src)
        seconds = _cuda_time(torch, device, lambda s=src, d=dst: d.copy_(s), 20)
        result["memory_bandwidth_gbs"] = round(2 * size / seconds / 1e9, 1)
        del src, dst
        result["h2d_bandwidth_gbs"] = host_to_device(torch, device)
        torch.cuda.empty_cache()
    result["datasheet"] = compare_with_datasheet(model, result)
    return result


def compare_with_datasheet(model: gpu_models.GpuModel | None, measured: dict[str, Any]) -> Any:
    """Measured / datasheet peak for each figure, with ``far_below`` set under the ratio."""
    if model is None:
        return None
    peaks = {
        "bf16_matmul_tflops": model.bf16_tflops,
        "fp16_matmul_tflops": model.fp16_tflops,
        "memory_bandwidth_gbs": model.memory_bandwidth_gbs,
    }
    comparison: dict[str, Any] = {"source": model.source}
    for key, peak in peaks.items():
        value = measured.get(key)
        if peak and isinstance(value, (int, float)):
            ratio = round(value / peak, 3)
            comparison[key] = {"peak": peak, "ratio": ratio, "far_below": ratio < FAR_BELOW_RATIO}
    return comparison


def gpu(importer: Callable[[str], Any] = importlib.import_module) -> dict[str, Any]:
    try:
        torch = importer("torch")
    except ImportError:
        return _skipped("PyTorch is not installed for this Python")
    if not torch.cuda.is_available():
        return _skipped("PyTorch sees no CUDA device")
    devices = []
    for index in range(torch.cuda.device_count()):
        devices.append(_guard(lambda index=index: {"status": "ok", **gpu_device(torch, index)}))
    return {"status": "ok", "devices": devices}


def _existing_dir(path: str) -> str:
    """``path`` or its nearest existing parent: the benchmark measures that filesystem."""
    current = Path(path)
    while not current.is_dir() and current.parent != current:
        current = current.parent
    return str(current)


def run(data_path: str, disk_mib: int = 1024, memory_mib: int = 256) -> dict[str, Any]:
    start = time.perf_counter()
    results: dict[str, Any] = {
        "disk": _guard(lambda: disk_sequential(_existing_dir(data_path), disk_mib)),
        "memory": _guard(lambda: memory_bandwidth(memory_mib)),
        "cpu_matmul": _guard(cpu_matmul),
        "gpu": _guard(gpu),
    }
    results["duration_s"] = round(time.perf_counter() - start, 2)
    return results
