"""Train on a data path: the model (an MLP) and what a spreadsheet could do (the baseline).

Predictive maintenance: the MLP and a logistic regression are trained the same way (the smoke
job's loop, early stopping on the validation machines) on the same training machines; only the
capacity differs. Stock forecasting: the MLP against the seasonal-naive forecast (the same
weekday a week earlier). "Better" means better than the baseline, not only than the champion.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from onprem_mlops.pipeline import maintenance, retail
from onprem_mlops.smoke import loop, metrics, model, runtime
from onprem_mlops.smoke.deps import require
from onprem_mlops.smoke.result import TrainResult

METRIC = "roc_auc"
DEFAULT_MIN_AUC = 0.85
FORECAST_METRIC = "wape"
DEFAULT_MAX_WAPE_RATIO = 0.9  # the forecast's WAPE must be at most 0.9 x seasonal naive's
BASELINE_FIT = loop.FitConfig(
    epochs=60, batch_size=128, patience=8, hidden=(), dropout=0.0, learning_rate=1e-2
)
MODEL_FIT = loop.FitConfig(batch_size=128)
FORECAST_FIT = loop.FitConfig(epochs=30, patience=5, batch_size=256)


@dataclass(frozen=True)
class TrainJob:
    seed: int = 0
    min_auc: float = DEFAULT_MIN_AUC
    max_wape_ratio: float = DEFAULT_MAX_WAPE_RATIO
    max_seconds: float = 120.0
    device: str = "auto"
    threads: int | None = None
    fit: loop.FitConfig = MODEL_FIT


def fit_classifier(
    data: maintenance.Windows, fit: loop.FitConfig, rt: runtime.Runtime, deadline: float
) -> tuple[Any, loop.FitOutcome]:
    """A classifier of ``data``'s training windows; the exported model takes raw features."""
    torch = require("torch")
    x_train, y_train = data.part("train")
    x_valid, y_valid = data.part("valid")
    for name, labels in (("training", y_train), ("validation", y_valid)):
        if len(labels) == 0 or labels.min() == labels.max():
            raise maintenance.DataError(
                f"the {name} machines have {len(labels)} windows and not both outcomes "
                "(failure and no failure): more data is needed before a model can be trained"
            )
    mean, std = loop.standardisation(x_train)
    valid = loop.to_device((x_valid - mean) / std, rt)
    net = model.build_mlp(x_train.shape[1], fit.hidden, fit.dropout).to(rt.device)
    outcome = loop.fit(
        net,
        (loop.to_device((x_train - mean) / std, rt), loop.to_device(y_train, rt)),
        torch.nn.BCEWithLogitsLoss(),
        lambda m: metrics.roc_auc(y_valid, loop.predict(m, valid, rt)),
        config=fit,
        runtime=rt,
        greater_is_better=True,
        deadline=deadline,
    )
    return model.export(net, mean, std, sigmoid=True), outcome


def score(exported: Any, x: Any) -> Any:
    """Probabilities of an exported model (CPU) for raw features ``x``."""
    torch = require("torch")
    with torch.no_grad():
        return exported(torch.as_tensor(x, dtype=torch.float32)).squeeze(-1).double().numpy()


def train(data: maintenance.Windows, job: TrainJob, data_params: dict[str, Any]) -> TrainResult:
    """The model for ``data``, with its and the baseline's ROC-AUC on the held-out machines."""
    started = time.perf_counter()
    rt = runtime.select(job.device, job.threads)
    x_test, y_test = data.part("test")
    with runtime.deterministic(rt, job.seed):
        net, outcome = fit_classifier(data, job.fit, rt, started + job.max_seconds)
        baseline, _ = fit_classifier(data, BASELINE_FIT, rt, started + job.max_seconds)
    test_auc = metrics.roc_auc(y_test, score(net, x_test))
    baseline_auc = metrics.roc_auc(y_test, score(baseline, x_test))
    return TrainResult(
        template=maintenance.TEMPLATE,
        metric_name=METRIC,
        metric=test_auc,
        greater_is_better=True,
        bar=job.min_auc,
        model=net,
        input_example=x_test[:5].copy(),
        feature_names=data.feature_names,
        device=rt.device_name,
        precision=rt.precision,
        params={
            "template": maintenance.TEMPLATE,
            "seed": job.seed,
            "min_auc": job.min_auc,
            "device": rt.device,
            "threads": rt.threads,
            "data.window_days": maintenance.WINDOW_DAYS,
            "data.horizon_days": maintenance.HORIZON_DAYS,
            **data_params,
            **job.fit.params(),
        },
        metrics={
            METRIC: test_auc,
            "baseline_roc_auc": baseline_auc,
            "valid_roc_auc": outcome.best_score,
            "best_epoch": float(outcome.best_epoch),
            "epochs": float(len(outcome.history)),
            "positive_rate": float(data.y.mean()),
            **{f"windows_{s}": float((data.split == s).sum()) for s in ("train", "valid", "test")},
        },
        history=outcome.history,
        timings={"train": time.perf_counter() - started},
        stop_reason=outcome.stop_reason,
    )


def forecast_bar(job: TrainJob, naive_wape: float) -> float:
    return job.max_wape_ratio * naive_wape


def train_forecaster(
    data: retail.Samples, job: TrainJob, data_params: dict[str, Any]
) -> TrainResult:
    """The forecaster for ``data``, with its and seasonal naive's WAPE on the test period."""
    torch = require("torch")
    started = time.perf_counter()
    rt = runtime.select(job.device, job.threads)
    x_train, y_train = data.part("train")
    x_valid, y_valid = data.part("valid")
    x_test, y_test = data.part("test")
    naive_wape = metrics.wape(y_test, retail.naive_forecast(data))
    with runtime.deterministic(rt, job.seed):
        mean, std = loop.standardisation(x_train)
        y_mean, y_std = float(y_train.mean()), float(y_train.std()) or 1.0
        valid = loop.to_device((x_valid - mean) / std, rt)
        net = model.build_mlp(x_train.shape[1], job.fit.hidden, job.fit.dropout).to(rt.device)
        outcome = loop.fit(
            net,
            (loop.to_device((x_train - mean) / std, rt),
             loop.to_device((y_train - y_mean) / y_std, rt)),
            torch.nn.HuberLoss(delta=1.0),
            lambda m: metrics.wape(y_valid, loop.predict(m, valid, rt) * y_std + y_mean),
            config=job.fit,
            runtime=rt,
            greater_is_better=False,
            deadline=started + job.max_seconds,
        )  # fmt: skip
        exported = model.export(net, mean, std, out_mean=y_mean, out_std=y_std)
    test_wape = metrics.wape(y_test, score(exported, x_test))
    return TrainResult(
        template=retail.TEMPLATE,
        metric_name=FORECAST_METRIC,
        metric=test_wape,
        greater_is_better=False,
        bar=forecast_bar(job, naive_wape),
        model=exported,
        input_example=x_test[:5].copy(),
        feature_names=data.feature_names,
        device=rt.device_name,
        precision=rt.precision,
        params={
            "template": retail.TEMPLATE,
            "seed": job.seed,
            "max_wape_ratio": job.max_wape_ratio,
            "device": rt.device,
            "threads": rt.threads,
            "data.lead_days": retail.LEAD_DAYS,
            "data.test_days": retail.TEST_DAYS,
            **data_params,
            **job.fit.params(),
        },
        metrics={
            FORECAST_METRIC: test_wape,
            "baseline_wape": naive_wape,
            "valid_wape": outcome.best_score,
            "best_epoch": float(outcome.best_epoch),
            "epochs": float(len(outcome.history)),
            **{f"rows_{s}": float((data.split == s).sum()) for s in ("train", "valid", "test")},
        },
        history=outcome.history,
        timings={"train": time.perf_counter() - started},
        stop_reason=outcome.stop_reason,
    )
