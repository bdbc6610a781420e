"""The model steps of ``onprem-mlops pipeline``: example-data, train, evaluate, deploy-check.

They share the exit statuses and the JSON summaries of :mod:`onprem_mlops.commands.pipeline`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from onprem_mlops.commands.pipeline import (
    NONE,
    REFUSED,
    _alias_argument,
    _client,
    _fail,
    _registry_arguments,
    _tracking_arguments,
    _write_json,
)
from onprem_mlops.pipeline.table import DataError


def _read_summary(path: str, step: str) -> dict[str, Any] | str:
    """The JSON summary a previous step wrote, or a problem naming the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        return f"{path}: cannot read the {step} summary ({err.strerror})"
    except json.JSONDecodeError as err:
        return f"{path}: not JSON ({err})"
    if not isinstance(data, dict) or data.get("step") != step:
        return f"{path}: not a summary written by onprem-mlops pipeline {step}"
    return data


def _loaded(step: str, template: Any, data: str) -> Any:
    try:
        return template.load(Path(data))
    except DataError as err:
        return _fail(step, str(err))


def _run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def _example_data(args: argparse.Namespace) -> int:
    from onprem_mlops.pipeline import examples

    if args.example == "stock-forecasting":
        files = examples.retail(
            Path(args.out), stores=args.stores, items=args.items,
            history_weeks=args.history_weeks or 52, weekly_drops=args.weekly_drops,
        )  # fmt: skip
    else:
        files = examples.maintenance(
            Path(args.out), machines=args.machines,
            history_weeks=args.history_weeks or 10, weekly_drops=args.weekly_drops,
        )  # fmt: skip
    print(f"example-data: {args.example}: contract.yml and {len(files)} drop(s) under {args.out}")
    for file in files:
        print(f"  {file}")
    return 0


def _init_repo(args: argparse.Namespace) -> int:
    """The CI template (and the example's data contract) into a model repository."""
    from importlib import resources

    from onprem_mlops.pipeline import examples

    target = Path(args.dir)
    template = resources.files("onprem_mlops") / "data" / "model-repo" / ".gitlab-ci.yml"
    contract = (
        examples.RETAIL_CONTRACT if args.example == "stock-forecasting" else (examples.CONTRACT)
    )
    text = template.read_text(encoding="utf-8")
    if args.example == "stock-forecasting":
        for key in ("MODEL_NAME: ", "MODEL_TEMPLATE: ", "DATA_PATH: "):
            line = next(x for x in text.splitlines() if x.strip().startswith(key))
            text = text.replace(line, line.replace("predictive-maintenance", args.example, 1), 1)
    files = {target / ".gitlab-ci.yml": text, target / "contract.yml": contract}
    existing = [str(f) for f in files if f.exists()]
    if existing and not args.force:
        return _fail("init-repo", f"{', '.join(existing)} exist(s); --force overwrites", REFUSED)
    target.mkdir(parents=True, exist_ok=True)
    for file, content in files.items():
        file.write_text(content, encoding="utf-8")
        print(f"init-repo: wrote {file}")
    print("init-repo: set MLFLOW_TRACKING_USERNAME/_PASSWORD as masked CI/CD variables, "
          "and the variables at the top of .gitlab-ci.yml")  # fmt: skip
    return 0


def _job(args: argparse.Namespace, **fields: Any) -> Any:
    from onprem_mlops.pipeline import training

    return training.TrainJob(
        min_auc=args.min_auc, max_wape_ratio=args.max_wape_ratio, seed=args.seed, **fields
    )


def _train(args: argparse.Namespace) -> int:
    from onprem_mlops.pipeline import templates, training
    from onprem_mlops.smoke import tracking
    from onprem_mlops.smoke.deps import require

    template = templates.get(args.template)
    client = _client("train", args)
    if isinstance(client, int):
        return client
    loaded = _loaded("train", template, args.data)
    if isinstance(loaded, int):
        return loaded
    default_fit = training.MODEL_FIT if template.greater_is_better else training.FORECAST_FIT
    fit = replace(default_fit, epochs=args.epochs or default_fit.epochs)
    job = _job(args, max_seconds=args.max_seconds, device=args.device, fit=fit)
    data_params = {"data.path": args.data, "data.rows": loaded.rows,
                   "data.until": loaded.until.isoformat()}  # fmt: skip
    try:
        result = template.train(loaded.data, job, data_params)
    except DataError as err:
        return _fail("train", str(err), REFUSED)
    experiment = args.experiment or f"pipeline-{args.model}"
    try:
        logged = tracking.log_run(result, args.tracking_uri, experiment, f"pipeline-{args.model}")
        version = None
        if result.bar_met:
            version = str(require("mlflow").register_model(logged.model_uri, args.model).version)
            for key, value in {
                result.metric_name: repr(float(result.metric)),
                "template": result.template,
                "pipeline.data_until": loaded.until.isoformat(),
                "pipeline.data_rows": str(loaded.rows),
            }.items():
                client.set_model_version_tag(args.model, version, key, value)
    except tracking.client_errors() as err:
        return _fail("train", tracking.explain(err, args.tracking_uri))
    metric, baseline = result.metric_name, result.metrics[f"baseline_{result.metric_name}"]
    summary = {
        "step": "train",
        "model": args.model,
        "template": template.name,
        "version": version,
        "run_id": logged.run_id,
        "run_url": _run_url(args.tracking_uri, logged.experiment_id, logged.run_id),
        "metric": metric,
        "score": result.metric,
        "baseline": baseline,
        "bar": result.bar,
        "data_until": loaded.until.isoformat(),
        "rows": loaded.rows,
        "seconds": result.seconds,
    }
    if args.summary:
        _write_json(Path(args.summary), summary)
    print(f"train: run {summary['run_url']}")
    if version is None:
        side = "below" if template.greater_is_better else "above"
        return _fail(
            "train",
            f"refused: {metric} {result.metric:.4f} on the held-out data is {side} the bar "
            f"{result.bar:g}; the run is logged, no version registered",
            REFUSED,
        )
    print(
        f"train: {args.model} version {version}, {metric} {result.metric:.4f} "
        f"({template.baseline} {baseline:.4f}) on data until {loaded.until}"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from onprem_mlops.pipeline import evaluate, registry, templates
    from onprem_mlops.smoke import tracking

    if args.training:
        summary = _read_summary(args.training, "train")
        if isinstance(summary, str):
            return _fail("evaluate", summary)
        if summary.get("version") is None:
            return _fail("evaluate", f"{args.training}: the train step registered no version")
        args.model = args.model or summary["model"]
        args.version = args.version or str(summary["version"])
    if not args.model or not args.version:
        return _fail(
            "evaluate", "--model and --version required (or --training with the train summary)"
        )
    client = _client("evaluate", args)
    if isinstance(client, int):
        return client
    try:
        champion = registry.holder(client, args.model, args.alias)
        if champion == args.version:
            return _fail("evaluate", f"version {args.version} already is the {args.alias}")
        kinds = {
            v: client.get_model_version(args.model, v).tags.get("template", templates.DEFAULT)
            for v in filter(None, (args.version, champion))
        }
        if len(set(kinds.values())) > 1:
            return _fail("evaluate", f"the versions come from different templates: {kinds}")
        template = templates.get(kinds[args.version])
        loaded = _loaded("evaluate", template, args.data)
        if isinstance(loaded, int):
            return loaded
        result = evaluate.evaluate(
            client, model=args.model, challenger=args.version, champion=champion,
            template=template, data=loaded.data, job=_job(args),
            min_improvement=args.min_improvement,
        )  # fmt: skip
    except DataError as err:
        return _fail("evaluate", str(err), REFUSED)
    except tracking.client_errors() as err:
        return _fail("evaluate", tracking.explain(err, args.tracking_uri))
    if args.summary:
        _write_json(Path(args.summary), result.summary())
    if result.decision != evaluate.PROMOTE:
        return _fail("evaluate", f"reject: {result.reason}", REFUSED)
    print(f"evaluate: promote version {args.version}: {result.reason}")
    return 0


def _deploy_check(args: argparse.Namespace) -> int:
    from onprem_mlops.pipeline import deploy, registry
    from onprem_mlops.smoke import tracking

    if args.promotion:
        summary = _read_summary(args.promotion, "promote")
        if isinstance(summary, str):
            return _fail("deploy-check", summary)
        args.model = args.model or summary["model"]
        args.version = args.version or str(summary["version"])
        args.previous = args.previous or (summary.get("previous") or NONE)
    if not args.model or not args.version or not args.previous:
        return _fail(
            "deploy-check",
            "--model, --version and --previous required (or --promotion with the promote summary)",
        )
    client = _client("deploy-check", args)
    if isinstance(client, int):
        return client
    previous = None if args.previous == NONE else args.previous
    try:
        check = deploy.probe(args.model, args.version, previous)
    except (ValueError, *tracking.client_errors()) as err:
        return _fail("deploy-check", tracking.explain(err, args.tracking_uri))
    if not check.distinguishes:
        print(
            f"deploy-check: warning: versions {args.version} and {previous} answer the input "
            "example alike; the check cannot tell them apart",
            file=sys.stderr,
        )
    outcome = deploy.wait_until_served(args.endpoint, check, args.timeout, args.interval)
    summary = {"step": "deploy-check", "model": args.model, "version": args.version,
               "previous": previous, "endpoint": args.endpoint, "served": outcome.served,
               "seconds": outcome.seconds, "attempts": outcome.attempts, "last": outcome.last,
               "rolled_back_to": None}  # fmt: skip
    if outcome.served:
        if args.summary:
            _write_json(Path(args.summary), summary)
        print(
            f"deploy-check: {args.endpoint} serves version {args.version} "
            f"after {outcome.seconds:.1f} s"
        )
        return 0
    reason = (
        f"{args.endpoint} did not serve version {args.version} within {args.timeout:g} s "
        f"(last: {outcome.last})"
    )
    if previous is None or args.no_rollback:
        if args.summary:
            _write_json(Path(args.summary), summary)
        why = "--no-rollback" if args.no_rollback else "no earlier version to roll back to"
        return _fail("deploy-check", f"{reason}; the alias stays ({why})", REFUSED)
    try:
        registry.move_alias(
            client, model=args.model, alias=args.alias, version=previous, expected=args.version,
            reason=f"deploy-check: {reason}"[:500], lock_dir=Path(args.lock_dir),
            lock_timeout=args.lock_timeout,
        )  # fmt: skip
    except registry.Refused as err:
        return _fail("deploy-check", f"{reason}; no rollback: {err}", REFUSED)
    except tracking.client_errors() as err:
        return _fail(
            "deploy-check",
            f"{reason}; the rollback failed: {tracking.explain(err, args.tracking_uri)}",
        )
    summary["rolled_back_to"] = previous
    if args.summary:
        _write_json(Path(args.summary), summary)
    return _fail(
        "deploy-check", f"{reason}; the {args.alias} alias went back to version {previous}", REFUSED
    )


def _bar_arguments(parser: argparse.ArgumentParser) -> None:
    from onprem_mlops.pipeline import training

    parser.add_argument(
        "--min-auc", type=float, default=training.DEFAULT_MIN_AUC,
        help=f"predictive-maintenance bar (default {training.DEFAULT_MIN_AUC})",
    )  # fmt: skip
    parser.add_argument(
        "--max-wape-ratio", type=float, default=training.DEFAULT_MAX_WAPE_RATIO,
        help="stock-forecasting bar: WAPE at most this times seasonal naive's "
        f"(default {training.DEFAULT_MAX_WAPE_RATIO})",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)


def register_steps(steps: Any) -> None:
    from onprem_mlops.pipeline.examples import EXAMPLES

    example = steps.add_parser("example-data", help="write the example data drops (synthetic)")
    example.add_argument("--example", choices=EXAMPLES, default=EXAMPLES[0])
    example.add_argument("--out", required=True, help="directory for contract.yml and drops/")
    example.add_argument("--machines", type=int, default=300, help="predictive-maintenance")
    example.add_argument("--stores", type=int, default=6, help="stock-forecasting")
    example.add_argument("--items", type=int, default=20, help="stock-forecasting: per store")
    example.add_argument(
        "--history-weeks", type=int, help="weeks in 00-history.csv (default 10; forecasting 52)"
    )
    example.add_argument("--weekly-drops", type=int, default=3)
    example.set_defaults(func=_example_data)

    init = steps.add_parser(
        "init-repo", help="write the GitLab CI template and a data contract into a model repo"
    )
    init.add_argument("dir", metavar="DIR", help="the model repository's working tree")
    init.add_argument("--example", choices=EXAMPLES, default=EXAMPLES[0])
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(func=_init_repo)

    train = steps.add_parser("train", help="train on the data drops; register a version")
    train.add_argument("--data", required=True, help="a CSV drop or a directory of them")
    train.add_argument("--model", required=True, help="registered model name")
    train.add_argument("--experiment", help="MLflow experiment (default pipeline-MODEL)")
    train.add_argument("--template", choices=EXAMPLES, default=EXAMPLES[0])
    _bar_arguments(train)
    train.add_argument("--epochs", type=int, help="at most (default: the template's)")
    train.add_argument("--max-seconds", type=float, default=300.0)
    train.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    _tracking_arguments(train)
    train.set_defaults(func=_train)

    evaluation = steps.add_parser(
        "evaluate", help="the challenger against the champion and a baseline, same held-out data"
    )
    evaluation.add_argument("--data", required=True, help="a CSV drop or a directory of them")
    evaluation.add_argument("--training", help="the train step's summary (JSON)")
    evaluation.add_argument("--model", help="registered model name")
    evaluation.add_argument("--version", help="the challenger's version")
    _bar_arguments(evaluation)
    evaluation.add_argument(
        "--min-improvement",
        type=float,
        default=0.0,
        help="how much the challenger must beat the champion by (default 0: strictly better)",
    )
    _tracking_arguments(evaluation)
    _alias_argument(evaluation)
    evaluation.set_defaults(func=_evaluate)

    check = steps.add_parser(
        "deploy-check",
        help="wait until the endpoint serves the new version; else move the alias back",
    )
    check.add_argument("--endpoint", required=True, help="serving URL (its /invocations is asked)")
    check.add_argument("--promotion", help="the promote step's summary (JSON)")
    check.add_argument("--model", help="registered model name")
    check.add_argument("--version", help="the version that should be served")
    check.add_argument("--previous", help="the version to go back to ('none': no rollback)")
    check.add_argument("--timeout", type=float, default=180.0, metavar="SECONDS")
    check.add_argument("--interval", type=float, default=2.0, metavar="SECONDS")
    check.add_argument("--no-rollback", action="store_true", help="fail but leave the alias")
    _registry_arguments(check)
    check.set_defaults(func=_deploy_check)
