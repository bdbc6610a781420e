"""Evaluation metrics in plain NumPy (no scikit-learn dependency)."""

from __future__ import annotations

from typing import Any

from onprem_mlops.smoke.deps import require


def _average_ranks(values: Any) -> Any:
    """1-based ranks of ``values``; tied values share the mean of their ranks."""
    np = require("numpy")
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Start index of each run of equal values in the sorted order.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_ranks = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def roc_auc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count one half).

    ``labels`` are 0/1, ``scores`` any real numbers where higher means "more likely 1".
    Raises ValueError when one class is absent (the AUC is undefined then).
    """
    np = require("numpy")
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape} vs {s.shape}")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs both classes among the labels")
    rank_sum = float(_average_ranks(s)[y].sum())
    u_statistic = rank_sum - n_pos * (n_pos + 1) / 2.0
    return u_statistic / (n_pos * n_neg)


def wape(actual: Any, forecast: Any) -> float:
    """Weighted absolute percentage error: sum |actual - forecast| / sum |actual|."""
    np = require("numpy")
    a = np.asarray(actual, dtype=np.float64).ravel()
    f = np.asarray(forecast, dtype=np.float64).ravel()
    if a.shape != f.shape:
        raise ValueError(f"actual and forecast differ in length: {a.shape} vs {f.shape}")
    total = float(np.abs(a).sum())
    if total == 0.0:
        raise ValueError("WAPE is undefined when every actual value is zero")
    return float(np.abs(a - f).sum()) / total
