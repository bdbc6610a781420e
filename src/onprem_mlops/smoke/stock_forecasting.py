"""The stock-forecasting template: daily sales per store and item, one week ahead (WAPE bar).

Synthetic sales for ``n_stores`` x ``n_items`` series over about 21 months: a level per store and
item, a slow trend, a weekly rhythm per item, a yearly season (summer or winter items) with a
December peak, planned promotions (runs of a few days that lift sales by an item-specific
factor) and Poisson noise. The forecast for day t may use sales up to t - 7 (a week's lead time
for ordering stock) and the calendar and promotion plan of day t. The last ``test_days`` are the
test period, the ``valid_days`` before them the validation period.

The bar: the model's WAPE on the test period must be at most ``max_wape_ratio`` times the WAPE
of the seasonal-naive forecast (same weekday one week earlier), the usual baseline in retail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from onprem_mlops.smoke import loop, metrics, model, runtime
from onprem_mlops.smoke.deps import require
from onprem_mlops.smoke.result import TrainResult

TEMPLATE = "stock-forecasting"
METRIC = "wape"
LEAD_DAYS = 7
LAGS = (7, 14, 21, 28)
HISTORY_DAYS = 35  # the first days only serve as history for lag features
DATA_SEED = 20_240_502
DEFAULT_MAX_WAPE_RATIO = 0.9


@dataclass(frozen=True)
class SalesConfig:
    n_stores: int = 6
    n_items: int = 20
    n_days: int = 640
    valid_days: int = 56
    test_days: int = 56
    promo_share: float = 0.08
    seed: int = DATA_SEED

    def params(self) -> dict[str, Any]:
        return {
            "data.n_stores": self.n_stores,
            "data.n_items": self.n_items,
            "data.n_days": self.n_days,
            "data.valid_days": self.valid_days,
            "data.test_days": self.test_days,
            "data.promo_share": self.promo_share,
            "data.lead_days": LEAD_DAYS,
            "data.seed": self.seed,
        }


@dataclass
class SalesData:
    sales: Any  # (series, days) units sold
    promo: Any  # (series, days) 0/1 planned promotion


def generate_sales(config: SalesConfig | None = None) -> SalesData:
    """Daily sales and promotion plans; identical arrays for identical configs."""
    np = require("numpy")
    config = config or SalesConfig()
    rng = np.random.Generator(np.random.PCG64(config.seed))
    n_series, days = config.n_stores * config.n_items, np.arange(config.n_days)
    store = rng.lognormal(0.0, 0.4, size=config.n_stores)
    item = rng.lognormal(2.5, 0.8, size=config.n_items)
    level = np.outer(store, item).ravel()[:, None]  # series ordered store-major
    trend = 1.0 + rng.normal(0.0, 0.15, size=(n_series, 1)) * days / 365.0
    weekly_shape = rng.uniform(0.6, 1.6, size=(config.n_items, 7))
    weekly = np.tile(weekly_shape / weekly_shape.mean(axis=1, keepdims=True), (config.n_stores, 1))
    weekly = weekly[:, days % 7]
    phase = np.tile(rng.choice([0.0, np.pi], size=config.n_items), config.n_stores)[:, None]
    amplitude = np.tile(rng.uniform(0.0, 0.35, size=config.n_items), config.n_stores)[:, None]
    yearly = 1.0 + amplitude * np.sin(2 * np.pi * (days - 80) / 365.0 + phase)
    december = 1.0 + 0.5 * ((days % 365) >= 334) * ((days % 365) - 334) / 31.0
    # Promotions are planned in runs of two to five days.
    starts = rng.random((n_series, config.n_days)) < config.promo_share / 3.5
    lengths = rng.integers(2, 6, size=starts.shape)
    promo = np.zeros(starts.shape, dtype=bool)
    for offset in range(5):
        end = config.n_days - offset
        promo[:, offset:] |= starts[:, :end] & (lengths[:, :end] > offset)
    promo = promo.astype(np.float64)
    uplift = np.tile(rng.uniform(1.3, 2.2, size=config.n_items), config.n_stores)[:, None]
    rate = level * trend * weekly * yearly * december * np.where(promo > 0, uplift, 1.0)
    return SalesData(sales=rng.poisson(np.maximum(rate, 0.05)).astype(np.float64), promo=promo)


def feature_names() -> list[str]:
    names = [f"sales_lag_{lag}" for lag in LAGS] + ["sales_mean_7", "sales_mean_28"]
    names += ["promo"] + [f"promo_lag_{lag}" for lag in LAGS] + ["promo_share_28"]
    names += [f"weekday_{d}" for d in range(7)] + ["season_sin", "season_cos"]
    return names


def features(data: SalesData, day: int) -> tuple[Any, Any]:
    """Feature rows of every series for forecasting ``day``, and the actual sales."""
    np = require("numpy")
    known = day - LEAD_DAYS  # last day whose sales are known
    sales, promo = data.sales, data.promo
    n = len(sales)
    columns = [sales[:, day - lag] for lag in LAGS]
    columns += [
        sales[:, known - 6 : known + 1].mean(axis=1),
        sales[:, known - 27 : known + 1].mean(axis=1),
    ]
    columns += [promo[:, day]] + [promo[:, day - lag] for lag in LAGS]
    columns += [promo[:, known - 27 : known + 1].mean(axis=1)]
    columns += [np.full(n, float(day % 7 == d)) for d in range(7)]
    angle = 2 * np.pi * (day % 365) / 365.0
    columns += [np.full(n, np.sin(angle)), np.full(n, np.cos(angle))]
    return np.stack(columns, axis=1), sales[:, day]


def _period(data: SalesData, first: int, last: int) -> tuple[Any, Any]:
    np = require("numpy")
    parts = [features(data, day) for day in range(first, last)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@dataclass(frozen=True)
class ForecastJob:
    seed: int = 0
    max_wape_ratio: float = DEFAULT_MAX_WAPE_RATIO
    max_seconds: float = 60.0
    device: str = "auto"
    threads: int | None = None  # CPU threads; None: runtime.DEFAULT_CPU_THREADS
    data: SalesConfig = field(default_factory=SalesConfig)
    fit: loop.FitConfig = field(default_factory=lambda: loop.FitConfig(epochs=30, patience=5))


def run(job: ForecastJob | None = None) -> TrainResult:
    """Generate sales, train the forecaster, compare with seasonal-naive on the test period."""
    job = job or ForecastJob()
    torch = require("torch")
    started = time.perf_counter()
    deadline = started + job.max_seconds
    data = generate_sales(job.data)
    test_start = job.data.n_days - job.data.test_days
    valid_start = test_start - job.data.valid_days
    x_train, y_train = _period(data, HISTORY_DAYS, valid_start)
    x_valid, y_valid = _period(data, valid_start, test_start)
    x_test, y_test = _period(data, test_start, job.data.n_days)
    naive_wape = metrics.wape(y_test, x_test[:, 0])  # sales_lag_7: same weekday, a week ago
    data_s = time.perf_counter() - started

    rt = runtime.select(job.device, job.threads)
    with runtime.deterministic(rt, job.seed):
        mean, std = loop.standardisation(x_train)
        y_mean, y_std = float(y_train.mean()), float(y_train.std())
        to = lambda a: loop.to_device((a - mean) / std, rt)  # noqa: E731
        valid, test = to(x_valid), to(x_test)
        unscale = lambda out: out * y_std + y_mean  # noqa: E731
        net = model.build_mlp(x_train.shape[1], job.fit.hidden, job.fit.dropout).to(rt.device)
        outcome = loop.fit(
            net,
            (to(x_train), loop.to_device((y_train - y_mean) / y_std, rt)),
            torch.nn.HuberLoss(delta=1.0),
            lambda m: metrics.wape(y_valid, unscale(loop.predict(m, valid, rt))),
            config=job.fit,
            runtime=rt,
            greater_is_better=False,
            deadline=deadline,
        )
        test_wape = metrics.wape(y_test, unscale(loop.predict(net, test, rt)))
        exported = model.export(net, mean, std, out_mean=y_mean, out_std=y_std)
    train_s = time.perf_counter() - started - data_s

    return TrainResult(
        template=TEMPLATE,
        metric_name=METRIC,
        metric=test_wape,
        greater_is_better=False,
        bar=job.max_wape_ratio * naive_wape,
        model=exported,
        input_example=x_test[:5].astype("float32"),
        feature_names=feature_names(),
        device=rt.device_name,
        precision=rt.precision,
        params={
            "template": TEMPLATE,
            "seed": job.seed,
            "max_wape_ratio": job.max_wape_ratio,
            "max_seconds": job.max_seconds,
            "device": rt.device,
            "precision": rt.precision,
            "threads": rt.threads,
            **job.data.params(),
            **job.fit.params(),
        },
        metrics={
            METRIC: test_wape,
            "seasonal_naive_wape": naive_wape,
            "valid_wape": outcome.best_score,
            "best_epoch": float(outcome.best_epoch),
            "epochs": float(len(outcome.history)),
            "rows_train": float(len(y_train)),
            "rows_test": float(len(y_test)),
        },
        history=outcome.history,
        timings={"data": data_s, "train": train_s},
        stop_reason=outcome.stop_reason,
    )
