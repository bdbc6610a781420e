"""Predictive maintenance from raw sensor readings: CSV drops -> labelled windows -> splits.

A data drop is a CSV file of daily readings, one row per machine and day::

    machine_id,machine_type,date,vibration_rms,bearing_temp,motor_current,pressure,rpm,failure

``failure`` is 1 on the day a machine broke down; the repair days after it have no rows (the
machine was off). A sensor that dropped out leaves its cell empty. All drops under the data
path together are the history; a later drop may repeat a (machine, date): the later file wins.

A sample is a window of ``WINDOW_DAYS`` consecutive days without a gap or a failure, summarised
per sensor as in the smoke job; its label is 1 when the machine fails within ``HORIZON_DAYS``
after the window. Windows whose outcome is not observed yet (too close to the end of the data)
are left out. Machines, not windows, are split: a machine's id decides once and for all whether
it is for training, validation or the held-out test set, so every model (champion, challenger,
baseline) is evaluated on the same machines and no machine's history leaks into its evaluation.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onprem_mlops.pipeline.table import DataError, is_missing, read_csv
from onprem_mlops.smoke.dataset import SENSORS, _window_features
from onprem_mlops.smoke.dataset import feature_names as sensor_feature_names
from onprem_mlops.smoke.deps import require

TEMPLATE = "predictive-maintenance"
COLUMNS: tuple[str, ...] = ("machine_id", "machine_type", "date", *SENSORS, "failure")
MACHINE_TYPES: tuple[str, ...] = ("pump", "compressor", "fan")
WINDOW_DAYS = 14
HORIZON_DAYS = 7
STRIDE_DAYS = 1
SPLIT_BUCKETS = 10  # crc32(machine_id) % 10: 0-1 held-out test, 2 validation, 3-9 training
TEST_BUCKETS = frozenset({0, 1})
VALID_BUCKETS = frozenset({2})


def data_files(path: Path) -> list[Path]:
    """The CSV files of a data path (a file, or every *.csv under a directory, by name)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.csv") if p.is_file())
        if files:
            return files
        raise DataError(f"{path}: no *.csv data drops in this directory")
    raise DataError(f"{path}: no such file or directory")


def drop_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[str, list[str]]]:
    """(where, cells in ``columns`` order) of every row of every drop; a missing column is named."""
    for file in data_files(path):
        table = read_csv(file)
        lacking = [c for c in columns if c not in table.header]
        if lacking:
            raise DataError(f"{file}: missing column(s) {', '.join(lacking)}")
        index = [table.header.index(c) for c in columns]
        for line, row in enumerate(table.rows, start=2):
            yield f"{file} line {line}", [row[i] for i in index]


def split_of(machine_id: str) -> str:
    bucket = zlib.crc32(machine_id.encode("utf-8")) % SPLIT_BUCKETS
    if bucket in TEST_BUCKETS:
        return "test"
    return "valid" if bucket in VALID_BUCKETS else "train"


@dataclass
class Readings:
    """Per machine: day numbers (days since the first date), readings (days, sensors), failures."""

    days: dict[str, Any]
    types: dict[str, str]
    values: dict[str, Any]
    failed: dict[str, Any]
    first_date: dt.date
    last_date: dt.date
    rows: int


def _parse_day(cell: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(cell.strip())
    except ValueError as err:
        raise DataError(f"{where}: date {cell!r} is not YYYY-MM-DD") from err


def load(path: Path) -> Readings:
    """All readings under ``path``; a missing column or a bad cell is named with its file."""
    np = require("numpy")
    by_key: dict[tuple[str, dt.date], tuple[list[float], bool]] = {}
    types: dict[str, str] = {}
    for where, cells in drop_rows(path, COLUMNS):
        sensors = []
        kind = cells[1].strip()
        if kind not in MACHINE_TYPES:
            raise DataError(
                f"{where}: machine_type must be one of {', '.join(MACHINE_TYPES)}, not {kind!r}"
            )
        types[cells[0].strip()] = kind
        for name, cell in zip(SENSORS, cells[3:-1], strict=True):
            try:
                sensors.append(float("nan") if is_missing(cell) else float(cell))
            except ValueError as err:
                raise DataError(f"{where}: {name} {cell!r} is not a number") from err
        if cells[-1].strip() not in ("0", "1"):
            raise DataError(f"{where}: failure must be 0 or 1, not {cells[-1]!r}")
        by_key[(cells[0].strip(), _parse_day(cells[2], where))] = (
            sensors,
            cells[-1].strip() == "1",
        )
    if not by_key:
        raise DataError(f"{path}: the data drops hold no readings")
    first = min(day for _, day in by_key)
    last = max(day for _, day in by_key)
    grouped: dict[str, list[tuple[int, list[float], bool]]] = defaultdict(list)
    for (machine, day), (sensors, failed) in by_key.items():
        grouped[machine].append(((day - first).days, sensors, failed))
    days, values, failures = {}, {}, {}
    for machine, entries in grouped.items():
        entries.sort(key=lambda e: e[0])
        days[machine] = np.array([e[0] for e in entries], dtype=np.int64)
        values[machine] = _fill_gaps(np.array([e[1] for e in entries], dtype=np.float64))
        failures[machine] = np.array([e[2] for e in entries], dtype=bool)
    return Readings(days, types, values, failures, first, last, len(by_key))


def _fill_gaps(values: Any) -> Any:
    """A sensor's dropped-out reading takes its previous value (the first ones the next value)."""
    np = require("numpy")
    out = values.copy()
    for column in range(out.shape[1]):
        series = out[:, column]
        known = ~np.isnan(series)
        if not known.any():
            series[:] = 0.0
            continue
        index = np.where(known, np.arange(len(series)), 0)
        np.maximum.accumulate(index, out=index)
        first = int(np.argmax(known))
        index[: first + 1] = first
        out[:, column] = series[index]
    return out


def feature_names() -> list[str]:
    """The sensor statistics, then the machine type one-hot."""
    return [*sensor_feature_names(), *(f"type_{t}" for t in MACHINE_TYPES)]


@dataclass
class Windows:
    x: Any  # (windows, features) float32
    y: Any  # (windows,) float32 0/1
    split: Any  # (windows,) str: train / valid / test
    feature_names: list[str]

    def part(self, name: str) -> tuple[Any, Any]:
        mask = self.split == name
        return self.x[mask], self.y[mask]


def windows(readings: Readings) -> Windows:
    """Labelled windows of every machine, with each window's split."""
    np = require("numpy")
    horizon_end = (readings.last_date - readings.first_date).days
    features, labels, splits = [], [], []
    for machine in sorted(readings.days):
        day, values, failed = (
            readings.days[machine],
            readings.values[machine],
            readings.failed[machine],
        )
        failure_days = day[failed]
        ends = []
        for i in range(WINDOW_DAYS - 1, len(day), 1):
            start = i - WINDOW_DAYS + 1
            end_day = int(day[i])
            if end_day - int(day[start]) != WINDOW_DAYS - 1 or failed[start : i + 1].any():
                continue  # a gap (repair, missing rows) or a failure inside the window
            if end_day % STRIDE_DAYS:
                continue
            upcoming = failure_days[(failure_days > end_day)]
            label = bool(len(upcoming)) and int(upcoming[0]) - end_day <= HORIZON_DAYS
            if not label and end_day + HORIZON_DAYS > horizon_end:
                continue  # the outcome is not observed yet
            ends.append((i, label))
        if not ends:
            continue
        stacked = np.stack([values[i - WINDOW_DAYS + 1 : i + 1].T for i, _ in ends])
        kind = np.array([t == readings.types[machine] for t in MACHINE_TYPES], dtype=np.float64)
        summary = _window_features(stacked)
        features.append(np.hstack([summary, np.tile(kind, (len(summary), 1))]))
        labels.append(np.array([label for _, label in ends], dtype=np.float32))
        splits.append(np.full(len(ends), split_of(machine)))
    if not features:
        raise DataError(f"no complete {WINDOW_DAYS}-day windows in the data yet")
    return Windows(
        x=np.concatenate(features).astype(np.float32),
        y=np.concatenate(labels),
        split=np.concatenate(splits),
        feature_names=feature_names(),
    )
