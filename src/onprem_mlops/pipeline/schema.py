"""The data contract of a data drop: columns, their types and limits, and the drift thresholds.

A contract is a YAML mapping::

    dataset: predictive-maintenance
    min_rows: 200                 # fewer rows: the drop is refused
    max_missing_fraction: 0.05    # per column, unless the column sets its own
    drift: {bins: 10, warn: 0.1, fail: 0.25}   # population stability index (PSI)
    columns:
      - {name: machine_id, type: str}
      - {name: vibration_rms, type: float, min: 0}
      - {name: failed_within_7d, type: int, allowed: [0, 1], drift: false}

Types are ``float``, ``int``, ``str`` and ``bool``. Numeric columns are checked for drift
unless they say ``drift: false``. Every problem names the contract file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TYPES: tuple[str, ...] = ("float", "int", "str", "bool")
NUMERIC: frozenset[str] = frozenset({"float", "int"})
COLUMN_KEYS: frozenset[str] = frozenset(
    {"name", "type", "min", "max", "allowed", "max_missing_fraction", "drift"}
)
TOP_KEYS: frozenset[str] = frozenset(
    {"dataset", "min_rows", "max_missing_fraction", "drift", "columns"}
)
DRIFT_KEYS: frozenset[str] = frozenset({"bins", "warn", "fail"})


class ContractError(ValueError):
    """The contract file is unusable; the message names the file and the field."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[Any, ...] | None = None
    max_missing_fraction: float = 0.0
    drift: bool = False


@dataclass(frozen=True)
class Drift:
    bins: int = 10
    warn: float = 0.1
    fail: float = 0.25


@dataclass(frozen=True)
class Contract:
    dataset: str
    min_rows: int
    columns: tuple[Column, ...]
    drift: Drift

    @property
    def drift_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.drift)


def _number(where: str, value: Any, *, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContractError(f"{where} must be a number, not {value!r}")
    if value < low or (high is not None and value > high):
        upper = f" and at most {high:g}" if high is not None else ""
        raise ContractError(f"{where} must be at least {low:g}{upper}, not {value!r}")
    return float(value)


def _unknown(where: str, data: dict[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ContractError(
            f"{where}: unknown key(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}"
        )


def _column(where: str, raw: Any, default_missing: float) -> Column:
    if not isinstance(raw, dict):
        raise ContractError(f"{where} must be a mapping with name and type")
    _unknown(where, raw, COLUMN_KEYS)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ContractError(f"{where}.name must be a non-empty string")
    where = f"{where} ({name})"
    kind = raw.get("type")
    if kind not in TYPES:
        raise ContractError(f"{where}.type must be one of {', '.join(TYPES)}, not {kind!r}")
    numeric = kind in NUMERIC
    for key in ("min", "max"):
        if key in raw and not numeric:
            raise ContractError(f"{where}.{key} is only for float and int columns")
    minimum = _number(f"{where}.min", raw["min"], low=-1e308) if "min" in raw else None
    maximum = _number(f"{where}.max", raw["max"], low=-1e308) if "max" in raw else None
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ContractError(f"{where}: min {minimum:g} is above max {maximum:g}")
    allowed = raw.get("allowed")
    if allowed is not None and (not isinstance(allowed, list) or not allowed):
        raise ContractError(f"{where}.allowed must be a non-empty list")
    drift = raw.get("drift", numeric and allowed is None)
    if not isinstance(drift, bool):
        raise ContractError(f"{where}.drift must be true or false")
    if drift and not numeric:
        raise ContractError(f"{where}.drift is only for float and int columns")
    missing = raw.get("max_missing_fraction", default_missing)
    return Column(
        name=name,
        type=kind,
        minimum=minimum,
        maximum=maximum,
        allowed=tuple(allowed) if allowed is not None else None,
        max_missing_fraction=_number(f"{where}.max_missing_fraction", missing, high=1.0),
        drift=drift,
    )


def parse_contract(data: Any, source: str) -> Contract:
    """A contract from its YAML data; ``source`` (the file name) starts every message."""
    if not isinstance(data, dict):
        raise ContractError(f"{source}: the contract must be a mapping")
    _unknown(source, data, TOP_KEYS)
    dataset = data.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise ContractError(f"{source}: dataset must be a non-empty string")
    min_rows = data.get("min_rows", 1)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ContractError(f"{source}: min_rows must be a whole number >= 1, not {min_rows!r}")
    default_missing = _number(
        f"{source}: max_missing_fraction", data.get("max_missing_fraction", 0.0), high=1.0
    )
    raw_drift = data.get("drift", {})
    if not isinstance(raw_drift, dict):
        raise ContractError(f"{source}: drift must be a mapping with bins, warn and fail")
    _unknown(f"{source}: drift", raw_drift, DRIFT_KEYS)
    bins = raw_drift.get("bins", 10)
    if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= 100:
        raise ContractError(f"{source}: drift.bins must be a whole number 2-100, not {bins!r}")
    warn = _number(f"{source}: drift.warn", raw_drift.get("warn", 0.1))
    fail = _number(f"{source}: drift.fail", raw_drift.get("fail", 0.25))
    if warn > fail:
        raise ContractError(f"{source}: drift.warn {warn:g} is above drift.fail {fail:g}")
    columns = data.get("columns")
    if not isinstance(columns, list) or not columns:
        raise ContractError(f"{source}: columns must be a non-empty list")
    parsed = tuple(
        _column(f"{source}: columns[{i}]", raw, default_missing) for i, raw in enumerate(columns)
    )
    names = [c.name for c in parsed]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ContractError(f"{source}: column(s) listed twice: {', '.join(twice)}")
    return Contract(dataset, min_rows, parsed, Drift(bins, warn, fail))


def load_contract(path: Path) -> Contract:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ContractError(f"{path}: cannot read the contract ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise ContractError(f"{path}: not valid YAML ({err})") from err
    return parse_contract(data, str(path))
