"""CSV data drops: read them with the standard library and convert cells by column type."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

# Cells that mean "no value" in the exports people send: empty, NA, NaN, null, None.
MISSING: frozenset[str] = frozenset({"", "na", "nan", "null", "none"})
_INT_RE = re.compile(r"[+-]?[0-9]+")
_BOOLS: dict[str, bool] = {"true": True, "false": False, "1": True, "0": False}


class DataError(ValueError):
    """The file cannot be read as a table; the message names the file."""


@dataclass(frozen=True)
class Table:
    path: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def column(self, name: str) -> list[str]:
        index = self.header.index(name)
        return [row[index] for row in self.rows]


def read_csv(path: Path) -> Table:
    """The header and rows of a CSV file; every row must have the header's width."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise DataError(f"{path}: empty file, expected a header line")
            rows = []
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{path}: line {reader.line_num} has {len(row)} fields, "
                        f"the header has {len(header)}"
                    )
                rows.append(tuple(row))
    except OSError as err:
        raise DataError(f"{path}: cannot read the data ({err.strerror})") from err
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: not a UTF-8 CSV file ({err})") from err
    names = [h.strip() for h in header]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"{path}: column(s) named twice in the header: {', '.join(twice)}")
    return Table(str(path), tuple(names), tuple(rows))


def is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING


def convert(cell: str, kind: str) -> float | int | bool | str | None:
    """The cell's value for a column of ``kind``; None when it is not of that type."""
    text = cell.strip()
    if kind == "str":
        return text
    if kind == "int":
        return int(text) if _INT_RE.fullmatch(text) else None
    if kind == "bool":
        return _BOOLS.get(text.lower())
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
