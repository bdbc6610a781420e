"""Stock forecasting from raw CSV sales drops: daily sales per store and item, a week ahead.

A data drop is a CSV file of daily sales, one row per store, item and day::

    date,store_id,item_id,price,promotion,holiday,stockout,units_sold

``holiday`` is 1 on a public holiday (the store is closed, nothing is sold); ``stockout`` is 1
on a day the shelf ran empty, so ``units_sold`` is less than the demand. ``promotion`` and
``price`` are planned ahead and known for the forecast day. All drops under the data path
together are the history; a later drop may repeat a (store, item, date): the later file wins.
A missing row counts like a stock-out: nothing is known of that day's demand.

A sample forecasts day t from sales up to t - 7 (a week's lead time for ordering stock) and
the plan of day t (promotion, price, the holiday calendar). Days whose demand is not observed
(holidays, stock-outs, missing rows) are never a target. The split is by date: the last
``TEST_DAYS`` of the data are the held-out test period, the ``VALID_DAYS`` before them the
validation period; a newer drop moves both forward, and the champion, the challenger and the
seasonal-naive baseline (the same weekday a week earlier) are scored on the same days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onprem_mlops.pipeline.maintenance import drop_rows
from onprem_mlops.pipeline.table import DataError, is_missing
from onprem_mlops.smoke.deps import require

TEMPLATE = "stock-forecasting"
COLUMNS: tuple[str, ...] = (
    "date", "store_id", "item_id", "price", "promotion", "holiday", "stockout", "units_sold",
)  # fmt: skip
LEAD_DAYS = 7
LAGS = (7, 14, 21, 28)
WARMUP_DAYS = 35  # the first days only serve as history for the lag features
VALID_DAYS = 28
TEST_DAYS = 28
FLAGS = ("promotion", "holiday", "stockout")


@dataclass
class Sales:
    """Per series (store, item) and day since ``first_date``: arrays of shape (series, days)."""

    series: list[tuple[str, str]]
    units: Any  # float, NaN where no row
    price: Any  # float, NaN where no row
    promotion: Any  # bool
    holiday: Any  # bool, per day (any series on a holiday)
    stockout: Any  # bool; True also where no row
    first_date: dt.date
    last_date: dt.date
    rows: int


def _flag(cell: str, name: str, where: str) -> bool:
    value = cell.strip()
    if value not in ("0", "1"):
        raise DataError(f"{where}: {name} must be 0 or 1, not {cell!r}")
    return value == "1"


def _number(cell: str, name: str, where: str, *, missing_ok: bool = False) -> float:
    if is_missing(cell):
        if missing_ok:
            return float("nan")
        raise DataError(f"{where}: {name} is empty")
    try:
        value = float(cell)
    except ValueError as err:
        raise DataError(f"{where}: {name} {cell!r} is not a number") from err
    if value < 0:
        raise DataError(f"{where}: {name} {cell!r} is negative")
    return value


def load(path: Path) -> Sales:
    """All sales under ``path``; a missing column or a bad cell is named with its file."""
    np = require("numpy")
    by_key: dict[tuple[str, str, dt.date], tuple[float, float, bool, bool, bool]] = {}
    for where, cells in drop_rows(path, COLUMNS):
        day, store, item, price, promotion, holiday, stockout, units = cells
        try:
            date = dt.date.fromisoformat(day.strip())
        except ValueError as err:
            raise DataError(f"{where}: date {day!r} is not YYYY-MM-DD") from err
        by_key[(store.strip(), item.strip(), date)] = (
            _number(units, "units_sold", where),
            _number(price, "price", where, missing_ok=True),
            _flag(promotion, "promotion", where),
            _flag(holiday, "holiday", where),
            _flag(stockout, "stockout", where),
        )
    if not by_key:
        raise DataError(f"{path}: the data drops hold no sales")
    first = min(key[2] for key in by_key)
    last = max(key[2] for key in by_key)
    series = sorted({(store, item) for store, item, _ in by_key})
    position = {key: n for n, key in enumerate(series)}
    shape = (len(series), (last - first).days + 1)
    units = np.full(shape, np.nan)
    price = np.full(shape, np.nan)
    promotion = np.zeros(shape, dtype=bool)
    stockout = np.ones(shape, dtype=bool)
    holiday = np.zeros(shape[1], dtype=bool)
    for (store, item, date), (sold, cost, promo, closed, empty) in by_key.items():
        s, d = position[(store, item)], (date - first).days
        units[s, d], price[s, d], promotion[s, d], stockout[s, d] = sold, cost, promo, empty
        holiday[d] |= closed
    return Sales(series, units, price, promotion, holiday, stockout, first, last, len(by_key))


def feature_names() -> list[str]:
    names = [f"sales_lag_{lag}" for lag in LAGS] + ["sales_mean_7", "sales_mean_28"]
    names += ["promotion", "price_ratio", "promotion_lag_7", "holiday_next_day"]
    names += ["holiday_lag_7", "stockout_lag_7"]
    names += [f"weekday_{d}" for d in range(7)] + ["season_sin", "season_cos"]
    return names


@dataclass
class Samples:
    x: Any  # (samples, features) float32
    y: Any  # (samples,) float32 units sold
    naive: Any  # (samples,) the seasonal-naive forecast: units sold on the same weekday a week ago
    split: Any  # (samples,) str: train / valid / test
    feature_names: list[str]

    def part(self, name: str) -> tuple[Any, Any]:
        mask = self.split == name
        return self.x[mask], self.y[mask]


def _known_mean(values: Any, unknown: Any) -> Any:
    """Row means over the days whose demand is known (0 where none is)."""
    np = require("numpy")
    known = ~unknown
    total = np.where(known, values, 0.0).sum(axis=1)
    count = known.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def samples(sales: Sales) -> Samples:
    """Feature rows for every series and forecastable day, split by date."""
    np = require("numpy")
    n_days = sales.units.shape[1]
    if n_days < WARMUP_DAYS + VALID_DAYS + TEST_DAYS + 7:
        raise DataError(
            f"the data covers {n_days} days; at least {WARMUP_DAYS + VALID_DAYS + TEST_DAYS + 7} "
            f"are needed ({WARMUP_DAYS} of history, {VALID_DAYS} validation, {TEST_DAYS} test, "
            "a week of training)"
        )
    units = np.nan_to_num(sales.units, nan=0.0)
    unknown = sales.stockout | sales.holiday[None, :]
    # The price relative to the series' usual (median) price: a promotion's depth.
    usual = np.nanmedian(np.where(sales.promotion, np.nan, sales.price), axis=1)
    usual = np.where(np.isfinite(usual) & (usual > 0), usual, 1.0)[:, None]
    ratio = np.nan_to_num(sales.price / usual, nan=1.0)
    n = len(sales.series)
    test_start, valid_start = n_days - TEST_DAYS, n_days - TEST_DAYS - VALID_DAYS
    x_parts, y_parts, naive_parts, split_parts = [], [], [], []
    for day in range(WARMUP_DAYS, n_days):
        target = ~unknown[:, day]
        if not target.any():
            continue
        known = day - LEAD_DAYS
        date = sales.first_date + dt.timedelta(days=day)
        columns = [units[:, day - lag] for lag in LAGS]
        columns += [
            _known_mean(units[:, known - 6 : known + 1], unknown[:, known - 6 : known + 1]),
            _known_mean(units[:, known - 27 : known + 1], unknown[:, known - 27 : known + 1]),
        ]
        following = bool(sales.holiday[day + 1]) if day + 1 < n_days else False
        columns += [sales.promotion[:, day], ratio[:, day], sales.promotion[:, day - 7]]
        columns += [np.full(n, following), np.full(n, sales.holiday[day - 7])]
        columns += [sales.stockout[:, day - 7]]
        columns += [np.full(n, date.weekday() == d) for d in range(7)]
        angle = 2 * np.pi * date.timetuple().tm_yday / 365.25
        columns += [np.full(n, np.sin(angle)), np.full(n, np.cos(angle))]
        rows = np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=1)[target]
        x_parts.append(rows)
        y_parts.append(units[target, day])
        naive_parts.append(units[target, day - 7])
        part = "test" if day >= test_start else "valid" if day >= valid_start else "train"
        split_parts.append(np.full(int(target.sum()), part))
    return Samples(
        x=np.concatenate(x_parts).astype(np.float32),
        y=np.concatenate(y_parts).astype(np.float32),
        naive=np.concatenate(naive_parts),
        split=np.concatenate(split_parts),
        feature_names=feature_names(),
    )


def naive_forecast(data: Samples, split: str = "test") -> Any:
    return data.naive[data.split == split]
