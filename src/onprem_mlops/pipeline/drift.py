"""Feature drift by the population stability index (PSI), with quantile bins of the reference.

The reference is the data the champion was trained on. Its profile (bin edges at the reference's
quantiles and the share of values in each bin) is small JSON, so a training run can keep it
beside the model and a later data drop is compared with it without the old data.
PSI = sum over bins of (new - ref) * ln(new / ref); shares are floored at 1e-4 so an empty
bin counts as a large, finite shift. Rule of thumb: < 0.1 stable, 0.1-0.25 some shift,
> 0.25 a different population.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

FLOOR = 1e-4


def quantile_edges(values: Sequence[float], bins: int) -> list[float]:
    """The inner bin edges at the reference's quantiles, without repeats."""
    ordered = sorted(values)
    if not ordered:
        return []
    edges: list[float] = []
    for i in range(1, bins):
        edge = ordered[min(len(ordered) - 1, math.floor(i * len(ordered) / bins))]
        if not edges or edge > edges[-1]:
            edges.append(edge)
    return edges


def shares(values: Sequence[float], edges: Sequence[float]) -> list[float]:
    """The share of values in each bin: (-inf, e0), [e0, e1), ..., [e_last, inf)."""
    counts = [0] * (len(edges) + 1)
    for value in values:
        counts[bisect.bisect_right(edges, value)] += 1
    total = len(values)
    return [count / total if total else 0.0 for count in counts]


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    if len(reference) != len(current):
        raise ValueError("reference and current shares need the same bins")
    total = 0.0
    for ref, cur in zip(reference, current, strict=True):
        ref, cur = max(ref, FLOOR), max(cur, FLOOR)
        total += (cur - ref) * math.log(cur / ref)
    return total


def column_profile(values: Sequence[float], bins: int) -> dict[str, Any]:
    edges = quantile_edges(values, bins)
    count = len(values)
    mean = sum(values) / count if count else 0.0
    return {
        "count": count,
        "mean": mean,
        "std": math.sqrt(sum((v - mean) ** 2 for v in values) / count) if count else 0.0,
        "edges": edges,
        "shares": shares(values, edges),
    }
