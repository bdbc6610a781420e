"""Where and how training runs: device, precision, threads and seeds."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from onprem_mlops.smoke.deps import require

DEVICES = ("auto", "cpu", "cuda")
# Intra-op CPU threads. The smoke models are tiny: a second thread gains little on an idle
# machine but, on a busy one, every mini-batch waits for the slower thread (measured 3-5x
# slower on 2 busy cores, docs/benchmarks.md). --threads raises it.
DEFAULT_CPU_THREADS = 1


def available_cores() -> int:
    """CPU cores this process may run on (affinity mask, e.g. a container's cpuset)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Runtime:
    device: str  # "cpu" or "cuda"
    amp_dtype: Any  # torch.bfloat16 / torch.float16 on CUDA, None on CPU (float32)
    threads: int
    device_name: str

    @property
    def precision(self) -> str:
        if self.amp_dtype is None:
            return "float32"
        return "bf16-mixed" if str(self.amp_dtype).endswith("bfloat16") else "fp16-mixed"

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        torch = require("torch")
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device, dtype=self.amp_dtype)

    def grad_scaler(self) -> Any:
        """A loss scaler, active only for float16 (bfloat16 has float32's exponent range)."""
        torch = require("torch")
        return torch.amp.GradScaler(self.device, enabled=self.amp_dtype is torch.float16)


def select(device: str = "auto", threads: int | None = None) -> Runtime:
    """CUDA with mixed precision when present (or asked for), else CPU in float32."""
    torch = require("torch")
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is visible to PyTorch")
    threads = threads or min(DEFAULT_CPU_THREADS, available_cores())
    if use_cuda:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return Runtime("cuda", dtype, threads, torch.cuda.get_device_name(0))
    plural = "s" if threads > 1 else ""
    return Runtime("cpu", None, threads, f"cpu ({threads} thread{plural})")


@contextlib.contextmanager
def deterministic(runtime: Runtime, seed: int) -> Iterator[None]:
    """Seed every generator, pin threads and ask for deterministic kernels; restore afterwards."""
    torch = require("torch")
    if runtime.device == "cuda":
        # cuBLAS needs this to be deterministic; it must be set before the first cuBLAS call.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous_threads = torch.get_num_threads()
    previous_mode = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.set_num_threads(runtime.threads)
    torch.use_deterministic_algorithms(True, warn_only=runtime.device == "cuda")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_mode)
        torch.set_num_threads(previous_threads)
