"""The pipeline's model templates: how each reads its data, trains, scores and sets its bar.

``predictive-maintenance``: ROC-AUC (higher is better) on the held-out machines, an absolute
bar (``--min-auc``), logistic regression as the baseline. ``stock-forecasting``: WAPE (lower is
better) on the last four weeks, a bar relative to the baseline (``--max-wape-ratio`` times the
seasonal-naive forecast's WAPE).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onprem_mlops.pipeline import maintenance, retail, training
from onprem_mlops.pipeline.table import DataError
from onprem_mlops.smoke import metrics, runtime
from onprem_mlops.smoke.result import TrainResult


@dataclass(frozen=True)
class Loaded:
    rows: int
    until: dt.date
    data: Any  # maintenance.Windows or retail.Samples: x, y, split, part(name)


@dataclass(frozen=True)
class Template:
    name: str
    metric: str
    greater_is_better: bool
    baseline: str  # what the baseline is, for messages
    load: Callable[[Path], Loaded]
    train: Callable[[Any, training.TrainJob, dict[str, Any]], TrainResult]
    test_baseline: Callable[[Any, int], float]  # the baseline's metric on the test split
    score: Callable[[Any, Any], float]  # the metric of (actual, predicted)
    bar: Callable[[training.TrainJob, float], float]  # from the job's settings and the baseline
    test_problem: Callable[[Any], str | None]  # why the test split cannot rank models

    def better(self, a: float, b: float) -> bool:
        return a > b if self.greater_is_better else a < b


def _load_maintenance(path: Path) -> Loaded:
    readings = maintenance.load(path)
    return Loaded(readings.rows, readings.last_date, maintenance.windows(readings))


def _load_retail(path: Path) -> Loaded:
    sales = retail.load(path)
    return Loaded(sales.rows, sales.last_date, retail.samples(sales))


def _logistic_regression(data: maintenance.Windows, seed: int) -> float:
    x_test, y_test = data.part("test")
    rt = runtime.select("cpu")
    with runtime.deterministic(rt, seed):
        fitted, _ = training.fit_classifier(
            data, training.BASELINE_FIT, rt, time.perf_counter() + 300
        )
    return metrics.roc_auc(y_test, training.score(fitted, x_test))


def _seasonal_naive(data: retail.Samples, _seed: int) -> float:
    return metrics.wape(data.part("test")[1], retail.naive_forecast(data))


def _both_outcomes(data: maintenance.Windows) -> str | None:
    y = data.part("test")[1]
    if len(y) == 0 or y.min() == y.max():
        return f"the held-out machines have {len(y)} windows and not both outcomes"
    return None


def _sales_sold(data: retail.Samples) -> str | None:
    y = data.part("test")[1]
    return None if len(y) and float(y.sum()) > 0 else "the test period has no sales"


TEMPLATES: dict[str, Template] = {
    maintenance.TEMPLATE: Template(
        name=maintenance.TEMPLATE,
        metric=training.METRIC,
        greater_is_better=True,
        baseline="logistic regression",
        load=_load_maintenance,
        train=training.train,
        test_baseline=_logistic_regression,
        score=metrics.roc_auc,
        bar=lambda job, _baseline: job.min_auc,
        test_problem=_both_outcomes,
    ),
    retail.TEMPLATE: Template(
        name=retail.TEMPLATE,
        metric=training.FORECAST_METRIC,
        greater_is_better=False,
        baseline="seasonal naive",
        load=_load_retail,
        train=training.train_forecaster,
        test_baseline=_seasonal_naive,
        score=metrics.wape,
        bar=training.forecast_bar,
        test_problem=_sales_sold,
    ),
}


DEFAULT = maintenance.TEMPLATE  # versions registered before templates were tagged


def get(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        known = ", ".join(TEMPLATES)
        raise DataError(f"template {name!r} is not one of {known}") from None
