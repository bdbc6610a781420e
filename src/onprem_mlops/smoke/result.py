"""What a template's training run hands to MLflow and to the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainResult:
    template: str
    metric_name: str  # the quality metric compared against the bar and the champion
    metric: float
    greater_is_better: bool
    bar: float  # the metric must reach this value (>= or <=, see greater_is_better)
    model: Any  # exported CPU model that takes raw features
    input_example: Any  # float32 NumPy array, a few rows of raw features
    feature_names: list[str]  # the columns of input_example, in order
    device: str
    precision: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # final metrics, metric included
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per epoch
    timings: dict[str, float] = field(default_factory=dict)  # seconds: data, train
    stop_reason: str = ""

    @property
    def bar_met(self) -> bool:
        if self.greater_is_better:
            return self.metric >= self.bar
        return self.metric <= self.bar

    def better_than(self, other: float | None) -> bool:
        """Strictly better than ``other`` (None: nothing to beat)."""
        if other is None:
            return True
        return self.metric > other if self.greater_is_better else self.metric < other

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())
