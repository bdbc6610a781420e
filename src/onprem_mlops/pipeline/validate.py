"""``validate-data``: a data drop against its contract and the champion's reference profile.

Problems refuse the drop (the pipeline stops before training); warnings are reported only.
The report names every column concerned and, for bad cells, the first line of the file where
one occurs, so whoever sends the data can fix it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from onprem_mlops.pipeline import drift
from onprem_mlops.pipeline.schema import Column, Contract
from onprem_mlops.pipeline.table import DataError, Table, convert, is_missing, read_csv

PROFILE_FORMAT = "onprem-mlops/data-profile/1"
FIRST_DATA_LINE = 2  # line 1 is the header


def _numbers(table: Table, column: Column) -> list[float]:
    values = (convert(cell, column.type) for cell in table.column(column.name))
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def build_profile(contract: Contract, table: Table) -> dict[str, Any]:
    """The reference profile of ``table`` for the contract's drift columns."""
    missing = [c.name for c in contract.drift_columns if c.name not in table.header]
    if missing:
        raise DataError(f"{table.path}: reference data lacks column(s) {', '.join(missing)}")
    return {
        "format": PROFILE_FORMAT,
        "dataset": contract.dataset,
        "source": table.path,
        "rows": len(table.rows),
        "bins": contract.drift.bins,
        "columns": {
            c.name: drift.column_profile(_numbers(table, c), contract.drift.bins)
            for c in contract.drift_columns
        },
    }


def load_reference(path: Path, contract: Contract) -> dict[str, Any]:
    """A profile from a JSON file written by ``profile-data``, or built from a CSV file."""
    if path.suffix != ".json":
        return build_profile(contract, read_csv(path))
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(f"{path}: cannot read the reference profile ({err.strerror})") from err
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not a JSON profile ({err})") from err
    if not isinstance(profile, dict) or profile.get("format") != PROFILE_FORMAT:
        raise DataError(f"{path}: not a profile written by onprem-mlops pipeline profile-data")
    if profile.get("dataset") != contract.dataset:
        raise DataError(
            f"{path}: profile of dataset {profile.get('dataset')!r}, "
            f"the contract is for {contract.dataset!r}"
        )
    return profile


def _cells(table: Table, column: Column) -> dict[str, Any]:
    """Missing share, type errors and limit violations of one column."""
    cells = table.column(column.name)
    missing = [i for i, cell in enumerate(cells) if is_missing(cell)]
    bad_type: list[int] = []
    below: list[int] = []
    above: list[int] = []
    not_allowed: list[int] = []
    for i, cell in enumerate(cells):
        if is_missing(cell):
            continue
        value = convert(cell, column.type)
        if value is None:
            bad_type.append(i)
            continue
        if column.minimum is not None and value < column.minimum:  # type: ignore[operator]
            below.append(i)
        if column.maximum is not None and value > column.maximum:  # type: ignore[operator]
            above.append(i)
        if column.allowed is not None and value not in column.allowed:
            not_allowed.append(i)
    return {
        "cells": cells,
        "missing": missing,
        "bad_type": bad_type,
        "below": below,
        "above": above,
        "not_allowed": not_allowed,
    }


def _first(cells: list[str], indices: list[int]) -> str:
    i = indices[0]
    return f"first at line {i + FIRST_DATA_LINE}: {cells[i]!r}"


def _column_problems(column: Column, found: dict[str, Any], rows: int) -> list[str]:
    cells, name = found["cells"], column.name
    problems = []
    missing_fraction = len(found["missing"]) / rows if rows else 0.0
    if rows and len(found["missing"]) == rows:
        problems.append(f"column {name} has no values (all {rows} missing)")
    elif missing_fraction > column.max_missing_fraction:
        problems.append(
            f"column {name}: {missing_fraction:.1%} missing, "
            f"allowed {column.max_missing_fraction:.1%}"
        )
    if found["bad_type"]:
        problems.append(
            f"column {name}: {len(found['bad_type'])} value(s) are not {column.type} "
            f"({_first(cells, found['bad_type'])})"
        )
    for key, text, limit in (
        ("below", "below min", column.minimum),
        ("above", "above max", column.maximum),
    ):
        if found[key]:
            problems.append(
                f"column {name}: {len(found[key])} value(s) {text} {limit:g} "
                f"({_first(cells, found[key])})"
            )
    if found["not_allowed"]:
        allowed = ", ".join(str(v) for v in column.allowed or ())
        problems.append(
            f"column {name}: {len(found['not_allowed'])} value(s) not in [{allowed}] "
            f"({_first(cells, found['not_allowed'])})"
        )
    return problems


def validate(contract: Contract, table: Table, reference: dict[str, Any] | None) -> dict[str, Any]:
    """The validation report; ``ok`` is False when there is at least one problem."""
    problems: list[str] = []
    warnings: list[str] = []
    columns: dict[str, dict[str, Any]] = {}
    rows = len(table.rows)
    absent = [c.name for c in contract.columns if c.name not in table.header]
    if absent:
        problems.append(f"column(s) missing from the data: {', '.join(absent)}")
    extra = [h for h in table.header if h not in {c.name for c in contract.columns}]
    if extra:
        warnings.append(f"column(s) not in the contract, ignored: {', '.join(extra)}")
    if rows < contract.min_rows:
        problems.append(f"{rows} row(s), the contract asks for at least {contract.min_rows}")
    for column in contract.columns:
        if column.name in absent:
            continue
        found = _cells(table, column)
        column_problems = _column_problems(column, found, rows)
        problems.extend(column_problems)
        entry: dict[str, Any] = {
            "type": column.type,
            "missing_fraction": round(len(found["missing"]) / rows, 6) if rows else 0.0,
            "invalid": len(found["bad_type"]),
            "out_of_range": len(found["below"]) + len(found["above"]),
            "not_allowed": len(found["not_allowed"]),
        }
        if column.drift and reference is not None and not column_problems:
            entry.update(_drift(column, table, reference, contract, problems, warnings))
        columns[column.name] = entry
    return {
        "step": "validate-data",
        "dataset": contract.dataset,
        "data": table.path,
        "reference": None if reference is None else reference.get("source"),
        "rows": rows,
        "ok": not problems,
        "reason": problems[0] if problems else "",
        "problems": problems,
        "warnings": warnings,
        "columns": columns,
    }


def _drift(
    column: Column,
    table: Table,
    reference: dict[str, Any],
    contract: Contract,
    problems: list[str],
    warnings: list[str],
) -> dict[str, Any]:
    ref = reference.get("columns", {}).get(column.name)
    if not isinstance(ref, dict) or "edges" not in ref or "shares" not in ref:
        warnings.append(f"column {column.name}: no reference profile, drift not checked")
        return {"psi": None}
    current = drift.shares(_numbers(table, column), ref["edges"])
    value = drift.psi(ref["shares"], current)
    if value > contract.drift.fail:
        problems.append(
            f"column {column.name} drifted from the reference: PSI {value:.3f} "
            f"> {contract.drift.fail:g}"
        )
    elif value > contract.drift.warn:
        warnings.append(f"column {column.name} shifted: PSI {value:.3f} > {contract.drift.warn:g}")
    return {"psi": round(value, 6)}
