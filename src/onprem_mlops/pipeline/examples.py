"""Example data drops for the pipeline (synthetic, deterministic): a history and weekly drops.

``predictive-maintenance``: a mixed fleet (pumps, compressors, fans) with five daily sensor
readings, simulated like the smoke job's data (a load with a weekly rhythm, seasons, noisy
sensors with spikes, failures announced by drifting sensors or coming without warning), but
each machine type has its own sensor levels, noise and failure modes. The exports look like
real ones: repair days have no rows, and a sensor drops out now and then (an empty cell).
``stock-forecasting``: a year of daily sales of 20 items in 6 stores with promotions (price
cuts), public holidays (closed shops, a busier eve) and stock-outs (see :func:`retail`).
``00-history.csv`` holds the first ``history_weeks`` weeks, each later file one week ("week 2
arrives" is copying the next file into the data directory). Identical arguments give identical
files.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from onprem_mlops.pipeline.maintenance import COLUMNS
from onprem_mlops.pipeline.retail import COLUMNS as RETAIL_COLUMNS
from onprem_mlops.smoke.deps import require

START = dt.date(2026, 1, 5)  # a Monday
DROPOUT_RATE = 0.002  # share of sensor cells left empty (a sensor that did not report)
EXAMPLES: tuple[str, ...] = ("predictive-maintenance", "stock-forecasting")
DATA_SEED = 20_261_109
REPAIR_DAYS = 3
LEAD_DAYS = (14, 30)
MEAN_DAYS_BETWEEN_FAILURES = 70.0
# Machine types: share of the fleet, sensor levels and noise (vibration_rms, bearing_temp,
# motor_current, pressure, rpm), and failure modes: probability and drift at full severity in
# units of that machine's sensor noise. The same reading means different things on a fan and
# on a compressor: that is what a model has to learn and a linear baseline cannot.
MACHINE_TYPES: dict[str, tuple[float, tuple[float, ...], tuple[float, ...], dict[str, Any]]] = {
    "pump": (
        0.40, (4.0, 55.0, 30.0, 6.0, 1480.0), (0.30, 1.0, 0.8, 0.10, 8.0),
        {"bearing_wear": (0.5, (10, 3, 0, 0, 0)), "seal_leak": (0.4, (0, 0, -4, -10, 0)),
         "sudden": (0.1, (0, 0, 0, 0, 0))},
    ),
    "compressor": (
        0.35, (2.0, 80.0, 60.0, 9.0, 2950.0), (0.25, 1.5, 1.5, 0.15, 15.0),
        {"overheating": (0.5, (0, 10, 5, 0, 0)), "valve_wear": (0.4, (4, 0, 0, 8, 0)),
         "sudden": (0.1, (0, 0, 0, 0, 0))},
    ),
    "fan": (
        0.25, (1.0, 35.0, 8.0, 0.3, 900.0), (0.08, 0.8, 0.3, 0.02, 10.0),
        {"imbalance": (0.6, (12, 0, 0, 0, -4)), "motor_wear": (0.3, (0, 5, 8, 0, 0)),
         "sudden": (0.1, (0, 0, 0, 0, 0))},
    ),
}  # fmt: skip
CONTRACT = """\
# Data contract of the predictive-maintenance example (onprem-mlops pipeline validate-data).
dataset: predictive-maintenance
min_rows: 500
max_missing_fraction: 0.01
drift: {bins: 10, warn: 0.1, fail: 0.25}
columns:
  - {name: machine_id, type: str}
  - {name: machine_type, type: str, allowed: [pump, compressor, fan]}
  - {name: date, type: str}
  - {name: vibration_rms, type: float, min: 0}
  - {name: bearing_temp, type: float, min: -40, max: 200}
  - {name: motor_current, type: float, min: 0}
  - {name: pressure, type: float, min: 0}
  - {name: rpm, type: float, min: 0}
  - {name: failure, type: int, allowed: [0, 1], drift: false}
"""


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _machine(rng: Any, n_days: int, ambient: Any) -> tuple[str, Any, Any, Any]:
    """One machine: its type, daily readings (days, sensors), failure days, repair days."""
    np = require("numpy")
    names = list(MACHINE_TYPES)
    kind = names[rng.choice(len(names), p=[MACHINE_TYPES[n][0] for n in names])]
    _, levels, noises, modes = MACHINE_TYPES[kind]
    level = np.array(levels) * rng.uniform(0.85, 1.15, size=5)
    noise = np.array(noises) * rng.uniform(0.8, 1.3, size=5)
    weekday = np.arange(n_days) % 7
    wander = np.cumsum(rng.normal(0.0, 0.02, size=n_days))
    load = np.clip(rng.uniform(0.5, 0.9) - 0.25 * (weekday >= 5) + wander - wander.mean(), 0.1, 1)
    base = np.stack(
        [
            level[0] * (0.7 + 0.4 * load),
            level[1] + 10.0 * load + 0.3 * ambient,
            level[2] * (0.5 + 0.6 * load),
            level[3] * (0.95 + 0.1 * load),
            level[4] * (0.9 + 0.1 * load),
        ],
        axis=1,
    )
    signal = base + rng.normal(0.0, 1.0, size=base.shape) * noise
    spikes = rng.random(n_days) < 0.01  # a loose mount, a passing forklift
    signal[spikes, 0] += rng.uniform(3.0, 8.0, size=int(spikes.sum())) * noise[0]
    failed = np.zeros(n_days, dtype=bool)
    repair = np.zeros(n_days, dtype=bool)
    mode_names = list(modes)
    probabilities = [modes[m][0] for m in mode_names]
    day, previous_end = float(rng.uniform(0.0, MEAN_DAYS_BETWEEN_FAILURES)), 0
    while day < n_days:
        failure = int(day)
        failed[failure] = True
        repair[failure : failure + REPAIR_DAYS] = True
        drift = np.array(modes[mode_names[rng.choice(len(mode_names), p=probabilities)]][1])
        lead = int(rng.integers(LEAD_DAYS[0], LEAD_DAYS[1] + 1))
        onset = max(failure - lead, previous_end)
        if failure > onset:
            progress = ((np.arange(onset, failure) - onset + 1) / (failure - onset)) ** 2
            severity = float(rng.lognormal(0.0, 0.4))
            signal[onset:failure] += np.outer(progress, drift * noise * severity)
        previous_end = failure + REPAIR_DAYS
        day += REPAIR_DAYS + max(float(rng.gamma(2.0, MEAN_DAYS_BETWEEN_FAILURES / 2)), 5.0)
    return kind, signal, failed, repair


def maintenance(
    out: Path, *, machines: int = 300, history_weeks: int = 10, weekly_drops: int = 3
) -> list[Path]:
    """Write the contract and the drops under ``out``; returns the drop files in order."""
    np = require("numpy")
    weeks = history_weeks + weekly_drops
    n_days = weeks * 7
    rng = np.random.Generator(np.random.PCG64(DATA_SEED))
    ambient = 12.0 + 10.0 * np.sin(2 * np.pi * (np.arange(n_days) - 100) / 365.0)
    rows_by_week: list[list[list[str]]] = [[] for _ in range(weeks)]
    for machine in range(machines):
        kind, signal, failed, repair = _machine(rng, n_days, ambient)
        dropout = rng.random(signal.shape) < DROPOUT_RATE
        name = f"M{machine + 1:04d}"
        for day in range(n_days):
            if repair[day] and not failed[day]:
                continue  # being repaired: no readings
            cells = ["" if dropout[day, s] else _fmt(signal[day, s]) for s in range(5)]
            date = (START + dt.timedelta(days=day)).isoformat()
            rows_by_week[day // 7].append([name, kind, date, *cells, "1" if failed[day] else "0"])
    return _write(out, CONTRACT, COLUMNS, rows_by_week, history_weeks)


def _write(
    out: Path,
    contract: str,
    columns: tuple[str, ...],
    rows_by_week: list[list[list[str]]],
    history_weeks: int,
) -> list[Path]:
    """contract.yml, drops/00-history.csv with the first weeks, then one file per week."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "contract.yml").write_text(contract, encoding="utf-8")
    drops = out / "drops"
    drops.mkdir(exist_ok=True)
    weekly_drops = len(rows_by_week) - history_weeks
    files = [drops / "00-history.csv"]
    files += [
        drops / f"{n:02d}-week{history_weeks + n:02d}.csv" for n in range(1, weekly_drops + 1)
    ]
    history = [row for week in rows_by_week[:history_weeks] for row in week]
    chunks = [history, *rows_by_week[history_weeks:]]
    date = columns.index("date")
    for file, rows in zip(files, chunks, strict=True):
        rows.sort(key=lambda r: (r[date], *r))  # as exported: by date, then the keys
        with file.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)
    return files


# --- stock forecasting ------------------------------------------------------------------

RETAIL_SEED = 20_261_203
RETAIL_START = dt.date(2025, 11, 3)  # a Monday: a year of history before the weekly drops
STOCKOUT_RATE = 0.012  # chance per series and day that the shelf runs empty (for 1-4 days)
RETAIL_CONTRACT = """\
# Data contract of the stock-forecasting example (onprem-mlops pipeline validate-data).
dataset: stock-forecasting
min_rows: 500
max_missing_fraction: 0.0
drift: {bins: 10, warn: 0.1, fail: 0.25}
columns:
  - {name: date, type: str}
  - {name: store_id, type: str}
  - {name: item_id, type: str}
  - {name: price, type: float, min: 0.01, max: 10000}
  - {name: promotion, type: int, allowed: [0, 1], drift: false}
  - {name: holiday, type: int, allowed: [0, 1], drift: false}
  - {name: stockout, type: int, allowed: [0, 1], drift: false}
  - {name: units_sold, type: int, min: 0}
"""


def easter(year: int) -> dt.date:
    """Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def public_holidays(year: int) -> set[dt.date]:
    """Germany's nationwide public holidays (shops are closed)."""
    sunday = easter(year)
    moving = (-2, 1, 39, 50)  # Good Friday, Easter Monday, Ascension, Whit Monday
    fixed = ((1, 1), (5, 1), (10, 3), (12, 25), (12, 26))
    return {sunday + dt.timedelta(days=n) for n in moving} | {dt.date(year, m, d) for m, d in fixed}


def retail(
    out: Path,
    *,
    stores: int = 6,
    items: int = 20,
    history_weeks: int = 52,
    weekly_drops: int = 3,
) -> list[Path]:
    """Write the contract and the sales drops under ``out``; returns the drop files in order.

    Each store and item has a level, a slow trend, a weekly rhythm of the item, a yearly season
    (summer or winter items) with a December peak, and Poisson noise. Promotions are planned in
    runs of two to five days with a price cut of 10-35 %; the deeper the cut, the higher the
    lift. Shops are closed on public holidays and busier the day before. Now and then the shelf
    runs empty: that day sells part of the demand, the next days nothing, until restocked.
    """
    np = require("numpy")
    rng = np.random.Generator(np.random.PCG64(RETAIL_SEED))
    weeks = history_weeks + weekly_drops
    n_days, n_series = weeks * 7, stores * items
    dates = [RETAIL_START + dt.timedelta(days=d) for d in range(n_days)]
    closed = {d for year in {x.year for x in dates} for d in public_holidays(year)}
    holiday = np.array([d in closed for d in dates])
    eve = np.append(holiday[1:], False)
    yday = np.array([d.timetuple().tm_yday for d in dates])
    days = np.arange(n_days)
    level = np.outer(rng.lognormal(0.0, 0.4, stores), rng.lognormal(2.3, 0.8, items)).ravel()
    trend = 1.0 + rng.normal(0.0, 0.15, size=(n_series, 1)) * days / 365.0
    shape = rng.uniform(0.6, 1.6, size=(items, 7))
    weekly = np.tile(shape / shape.mean(axis=1, keepdims=True), (stores, 1))
    weekly = weekly[:, np.array([d.weekday() for d in dates])]
    phase = np.tile(rng.choice([0.0, np.pi], size=items), stores)[:, None]
    amplitude = np.tile(rng.uniform(0.0, 0.35, size=items), stores)[:, None]
    yearly = 1.0 + amplitude * np.sin(2 * np.pi * (yday - 80) / 365.25 + phase)
    december = 1.0 + 0.5 * (yday >= 334) * (yday - 334) / 31.0
    starts = rng.random((n_series, n_days)) < 0.08 / 3.5
    lengths = rng.integers(2, 6, size=starts.shape)
    depth = rng.uniform(0.10, 0.35, size=starts.shape)
    cut = np.zeros((n_series, n_days))
    for offset in range(5):
        live = starts[:, : n_days - offset] & (lengths[:, : n_days - offset] > offset)
        cut[:, offset:] = np.where(live, depth[:, : n_days - offset], cut[:, offset:])
    promotion = cut > 0
    elasticity = np.tile(rng.uniform(2.0, 4.5, size=items), stores)[:, None]
    base_price = np.tile(np.round(rng.uniform(0.8, 25.0, size=items), 2), stores)[:, None]
    price = np.round(base_price * (1.0 - cut), 2)
    rate = level[:, None] * trend * weekly * yearly * december * (1.0 + elasticity * cut)
    rate = rate * np.where(eve, 1.6, 1.0) * np.where(holiday, 0.0, 1.0)
    demand = rng.poisson(np.maximum(rate, 0.02))
    sold, stockout = demand.astype(np.int64), np.zeros(demand.shape, dtype=bool)
    for s, d in zip(*np.nonzero(rng.random(demand.shape) < STOCKOUT_RATE), strict=True):
        span = slice(d, min(d + int(rng.integers(1, 5)), n_days))
        open_days = ~holiday[span]
        stockout[s, span] |= open_days
        sold[s, d] = int(demand[s, d] * rng.uniform(0.0, 0.6)) if open_days[0] else 0
        sold[s, d + 1 : span.stop] = 0
    names = [(f"S{s + 1:02d}", f"I{i + 1:03d}") for s in range(stores) for i in range(items)]
    rows_by_week: list[list[list[str]]] = [[] for _ in range(weeks)]
    for d, date in enumerate(dates):
        for s, (store, item) in enumerate(names):
            rows_by_week[d // 7].append([
                date.isoformat(), store, item, f"{price[s, d]:.2f}", str(int(promotion[s, d])),
                str(int(holiday[d])), str(int(stockout[s, d])), str(int(sold[s, d])),
            ])  # fmt: skip
    return _write(out, RETAIL_CONTRACT, RETAIL_COLUMNS, rows_by_week, history_weeks)
