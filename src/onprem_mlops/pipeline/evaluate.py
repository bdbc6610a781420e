"""``evaluate``: the challenger against the champion and the baseline, on the same machines.

All three are scored on the held-out machines of the current data: the challenger and the
champion as registered (loaded from MLflow, the files serving would load), the baseline
(logistic regression) trained here on the current training machines. The challenger wins
only if it meets the bar, beats the baseline and beats the champion by more than
``min_improvement``. The decision, its reason and every figure are logged to the
challenger's run and tagged on its version.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from onprem_mlops.pipeline import maintenance, training
from onprem_mlops.smoke import metrics, runtime
from onprem_mlops.smoke.deps import require

PROMOTE = "promote"
REJECT = "reject"


@dataclass(frozen=True)
class Scores:
    challenger: float
    champion: float | None
    baseline: float
    bar: float
    min_improvement: float = 0.0


def decide(s: Scores, metric: str = training.METRIC) -> tuple[str, str]:
    """The decision and its one-line reason (higher is better)."""
    base = f"baseline {s.baseline:.4f}"
    if s.challenger < s.bar:
        return REJECT, f"{metric} {s.challenger:.4f} is below the bar {s.bar:g}"
    if s.challenger <= s.baseline:
        return REJECT, f"{metric} {s.challenger:.4f} does not beat the {base} (logistic regression)"
    if s.champion is not None and s.challenger <= s.champion + s.min_improvement:
        needed = f" by more than {s.min_improvement:g}" if s.min_improvement else ""
        return REJECT, (
            f"{metric} {s.challenger:.4f} does not beat the champion's {s.champion:.4f}{needed}"
        )
    versus = "no champion yet" if s.champion is None else f"champion {s.champion:.4f}"
    return PROMOTE, f"{metric} {s.challenger:.4f} > {versus}, > {base}"


@dataclass
class Evaluation:
    model: str
    challenger_version: str
    champion_version: str | None
    decision: str
    reason: str
    challenger: float
    champion: float | None
    baseline: float
    margin: float | None
    bar: float
    min_improvement: float
    windows_test: int
    positives_test: int
    run_id: str | None
    seconds: float

    def summary(self) -> dict[str, Any]:
        return {"step": "evaluate", "metric": training.METRIC, **asdict(self)}


def registered_scores(model: str, version: str, x: Any) -> Any:
    """Scores of a registered version for raw features ``x``, loaded as serving loads it."""
    pyfunc = require("mlflow.pyfunc")
    np = require("numpy")
    loaded = pyfunc.load_model(f"models:/{model}/{version}")
    return np.asarray(loaded.predict(x.astype("float32")), dtype=np.float64).ravel()


def evaluate(
    client: Any,
    *,
    model: str,
    challenger: str,
    champion: str | None,
    data: maintenance.Windows,
    bar: float,
    min_improvement: float,
    seed: int = 0,
) -> Evaluation:
    """Score all three on ``data``'s held-out machines, decide, and log it to MLflow."""
    started = time.perf_counter()
    x_test, y_test = data.part("test")
    if len(y_test) == 0 or y_test.min() == y_test.max():
        raise maintenance.DataError(
            f"the held-out machines have {len(y_test)} windows and not both outcomes: "
            "more data is needed before models can be compared"
        )
    rt = runtime.select("cpu")
    with runtime.deterministic(rt, seed):
        baseline_model, _ = training.fit_classifier(
            data, training.BASELINE_FIT, rt, time.perf_counter() + 300
        )
    scores = Scores(
        challenger=metrics.roc_auc(y_test, registered_scores(model, challenger, x_test)),
        champion=(
            metrics.roc_auc(y_test, registered_scores(model, champion, x_test))
            if champion is not None
            else None
        ),
        baseline=metrics.roc_auc(y_test, training.score(baseline_model, x_test)),
        bar=bar,
        min_improvement=min_improvement,
    )
    decision, reason = decide(scores)
    run_id = client.get_model_version(model, challenger).run_id or None
    result = Evaluation(
        model=model,
        challenger_version=challenger,
        champion_version=champion,
        decision=decision,
        reason=reason,
        challenger=scores.challenger,
        champion=scores.champion,
        baseline=scores.baseline,
        margin=None if scores.champion is None else scores.challenger - scores.champion,
        bar=bar,
        min_improvement=min_improvement,
        windows_test=len(y_test),
        positives_test=int(y_test.sum()),
        run_id=run_id,
        seconds=time.perf_counter() - started,
    )
    _log(client, result)
    return result


def _log(client: Any, result: Evaluation) -> None:
    """The figures on the challenger's run, the decision on its run and its version."""
    figures = {
        "eval_roc_auc": result.challenger,
        "eval_baseline_roc_auc": result.baseline,
        "eval_windows_test": float(result.windows_test),
    }
    if result.champion is not None and result.margin is not None:
        figures["eval_champion_roc_auc"] = result.champion
        figures["eval_margin"] = result.margin
    tags = {
        "pipeline.decision": result.decision,
        "pipeline.reason": result.reason[:500],
        "pipeline.evaluated_against": result.champion_version or "none",
    }
    if result.run_id:
        for key, value in figures.items():
            client.log_metric(result.run_id, key, value)
        for key, value in tags.items():
            client.set_tag(result.run_id, key, value)
    for key, value in tags.items():
        client.set_model_version_tag(result.model, result.challenger_version, key, value)
