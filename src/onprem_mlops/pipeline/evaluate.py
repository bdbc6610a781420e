"""``evaluate``: the challenger against the champion and the baseline, on the same held-out data.

All three are scored on the held-out part of the current data (the test machines for
predictive maintenance, the last four weeks for stock forecasting): the challenger and the
champion as registered (loaded from MLflow, the files serving would load), the baseline as its
template defines it (logistic regression trained here on the current training machines, or the
seasonal-naive forecast). The challenger wins only if it meets the bar, beats the baseline and
beats the champion by more than ``min_improvement``. The decision, its reason and every figure
are logged to the challenger's run and tagged on its version.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from onprem_mlops.pipeline import templates, training
from onprem_mlops.pipeline.table import DataError
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
    greater_is_better: bool = True
    baseline_name: str = "logistic regression"


def decide(s: Scores, metric: str = training.METRIC) -> tuple[str, str]:
    """The decision and its one-line reason."""
    sign = 1.0 if s.greater_is_better else -1.0

    def beats(a: float, b: float) -> bool:
        return sign * (a - b) > 0

    base = f"baseline {s.baseline:.4f}"
    if beats(s.bar, s.challenger):
        side = "below" if s.greater_is_better else "above"
        return REJECT, f"{metric} {s.challenger:.4f} is {side} the bar {s.bar:g}"
    if not beats(s.challenger, s.baseline):
        return REJECT, (f"{metric} {s.challenger:.4f} does not beat the {base} ({s.baseline_name})")
    if s.champion is not None and not beats(s.challenger, s.champion + sign * s.min_improvement):
        needed = f" by more than {s.min_improvement:g}" if s.min_improvement else ""
        return REJECT, (
            f"{metric} {s.challenger:.4f} does not beat the champion's {s.champion:.4f}{needed}"
        )
    versus = "no champion yet" if s.champion is None else f"champion {s.champion:.4f}"
    relation = ">" if s.greater_is_better else "<"
    return PROMOTE, f"{metric} {s.challenger:.4f} {relation} {versus}, {relation} {base}"


@dataclass
class Evaluation:
    model: str
    template: str
    metric: str
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
    rows_test: int
    run_id: str | None
    seconds: float

    def summary(self) -> dict[str, Any]:
        return {"step": "evaluate", **asdict(self)}


def registered_scores(model: str, version: str, x: Any, feature_names: list[str]) -> Any:
    """Scores of a registered version for raw features ``x``, loaded as serving loads it.

    A version trained on other features (the smoke job's model, another data layout) cannot be
    compared: refused by name instead of failing inside the model.
    """
    pyfunc = require("mlflow.pyfunc")
    np = require("numpy")
    loaded = pyfunc.load_model(f"models:/{model}/{version}")
    known = (loaded.metadata.metadata or {}).get("feature_names")
    if known is not None and list(known) != list(feature_names):
        raise DataError(
            f"version {version} of {model} takes {len(known)} other features than this data's "
            f"{len(feature_names)}: it cannot be scored on it. To replace it with a pipeline "
            f"model, promote by hand: onprem-mlops pipeline promote --model {model} "
            f"--version NEW --expected-champion {version}"
        )
    return np.asarray(loaded.predict(x.astype("float32")), dtype=np.float64).ravel()


def evaluate(
    client: Any,
    *,
    model: str,
    challenger: str,
    champion: str | None,
    template: templates.Template,
    data: Any,
    job: training.TrainJob,
    min_improvement: float,
) -> Evaluation:
    """Score all three on ``data``'s held-out part, decide, and log it to MLflow."""
    started = time.perf_counter()
    problem = template.test_problem(data)
    if problem:
        raise DataError(f"{problem}: more data is needed before models can be compared")
    x_test, y_test = data.part("test")
    baseline = template.test_baseline(data, job.seed)
    scores = Scores(
        challenger=template.score(
            y_test, registered_scores(model, challenger, x_test, data.feature_names)
        ),
        champion=(
            template.score(y_test, registered_scores(model, champion, x_test, data.feature_names))
            if champion is not None
            else None
        ),
        baseline=baseline,
        bar=template.bar(job, baseline),
        min_improvement=min_improvement,
        greater_is_better=template.greater_is_better,
        baseline_name=template.baseline,
    )
    decision, reason = decide(scores, template.metric)
    run_id = client.get_model_version(model, challenger).run_id or None
    result = Evaluation(
        model=model,
        template=template.name,
        metric=template.metric,
        challenger_version=challenger,
        champion_version=champion,
        decision=decision,
        reason=reason,
        challenger=scores.challenger,
        champion=scores.champion,
        baseline=scores.baseline,
        margin=None if scores.champion is None else scores.challenger - scores.champion,
        bar=scores.bar,
        min_improvement=min_improvement,
        rows_test=len(y_test),
        run_id=run_id,
        seconds=time.perf_counter() - started,
    )
    _log(client, result)
    return result


def _log(client: Any, result: Evaluation) -> None:
    """The figures on the challenger's run, the decision on its run and its version."""
    metric = result.metric
    figures = {
        f"eval_{metric}": result.challenger,
        f"eval_baseline_{metric}": result.baseline,
        "eval_rows_test": float(result.rows_test),
    }
    if result.champion is not None and result.margin is not None:
        figures[f"eval_champion_{metric}"] = result.champion
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
