"""Time budgets: each section runs in a worker thread and is abandoned when it overruns.

A section that hangs (a stuck CUDA kernel, an NVML call that never returns) cannot be
interrupted from Python; it is reported as an error and left behind, and the process ends
with ``os._exit`` once the document is printed (see :func:`abandoned`).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]

_ABANDONED: list[threading.Thread] = []


@dataclass
class Outcome:
    """What a budgeted call gave: its value, or the error (``timed_out`` when it overran)."""

    value: Any = None
    error: str | None = None
    trace: str | None = None
    timed_out: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class Deadline:
    """The overall budget: each section gets at most what is left of it."""

    def __init__(self, total_s: float, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.end = clock() + total_s

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock())

    def clip(self, budget_s: float) -> float:
        return min(budget_s, self.remaining())


def run_with_budget(
    fn: Callable[[], Any], budget_s: float, name: str, clock: Clock = time.monotonic
) -> Outcome:
    """Run ``fn`` for at most ``budget_s`` seconds; never raises."""
    if budget_s <= 0:
        return Outcome(error=f"{name} was not started: its time budget is used up")
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # reported in the document, never raised
            box["error"] = f"{type(exc).__name__}: {exc}"
            box["trace"] = traceback.format_exc(limit=4)

    start = clock()
    worker = threading.Thread(target=target, name=f"gpu-verify-{name}", daemon=True)
    worker.start()
    worker.join(budget_s)
    duration = round(clock() - start, 2)
    if worker.is_alive():
        _ABANDONED.append(worker)
        return Outcome(
            error=f"{name} exceeded its time budget of {budget_s:g} s and was abandoned",
            timed_out=True,
            duration_s=duration,
        )
    if "error" in box:
        return Outcome(error=box["error"], trace=box["trace"], duration_s=duration)
    return Outcome(value=box.get("value"), duration_s=duration)


def abandoned() -> list[str]:
    """Names of the worker threads that overran and are still running."""
    return [t.name for t in _ABANDONED if t.is_alive()]
