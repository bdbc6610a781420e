"""``onprem-mlops smoke-train``: train a small model and log it to the platform's MLflow.

Exit status: 0 the quality bar is met (whether or not the champion alias moved), 1 the bar is
missed (the run is still logged, no version is registered), 2 bad input, missing ML extras or an
MLflow/connection error, with a message saying what to fix.

``--distributed``: one process per Slurm task (``srun``) or per RANK/WORLD_SIZE; they train
one model with torch.distributed and only rank 0 talks to MLflow. Every rank exits with rank 0's
status, so ``srun`` reports the job's real outcome.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

EXIT_BAR_MISSED = 1
EXIT_ERROR = 2
TEMPLATES = ("predictive-maintenance", "stock-forecasting")


def _fail(message: str) -> int:
    print(f"onprem-mlops smoke-train: {message}", file=sys.stderr)
    return EXIT_ERROR


def _check_args(args: argparse.Namespace) -> str | None:
    """An error message for unusable arguments, None when they are fine."""
    from onprem_mlops.smoke import tracking

    problem = tracking.uri_problem(args.tracking_uri)
    if problem:
        return problem
    if not 0.5 <= args.min_auc <= 1.0:
        return f"--min-auc must lie between 0.5 and 1, got {args.min_auc}"
    if not 0.0 < args.max_wape_ratio <= 2.0:
        return f"--max-wape-ratio must lie in (0, 2], got {args.max_wape_ratio}"
    if args.threads is not None and args.threads < 1:
        return f"--threads must be at least 1, got {args.threads}"
    if args.max_seconds <= 0:
        return f"--max-seconds must be positive, got {args.max_seconds}"
    if args.distributed and args.template != "predictive-maintenance":
        return "--distributed trains the predictive-maintenance template only"
    warning = tracking.cleartext_warning(args.tracking_uri)
    if warning:
        print(f"onprem-mlops smoke-train: {warning}", file=sys.stderr)
    return None


def _train(args: argparse.Namespace, group: Any = None) -> Any:
    if args.template == "stock-forecasting":
        from onprem_mlops.smoke import stock_forecasting

        return stock_forecasting.run(
            stock_forecasting.ForecastJob(
                seed=args.seed,
                max_wape_ratio=args.max_wape_ratio,
                max_seconds=args.max_seconds,
                device=args.device,
                threads=args.threads,
            )
        )
    from onprem_mlops.smoke import train

    return train.run(
        train.MaintenanceJob(
            seed=args.seed,
            min_auc=args.min_auc,
            max_seconds=args.max_seconds,
            device=args.device,
            threads=args.threads,
        ),
        group,
    )


def _summary(result: Any, published: Any, args: argparse.Namespace, log_s: float) -> None:
    relation = ">=" if result.greater_is_better else "<="
    name = result.metric_name
    timings = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
    print(f"smoke-train {result.template}: {'PASS' if result.bar_met else 'FAIL'}")
    print(f"  run:        {published.run_id} (experiment {args.experiment})")
    print(f"  {name + ':':<11} {result.metric:.4f} (bar {relation} {result.bar:.4f})")
    print(f"  seconds:    {result.seconds:.1f} ({timings}; MLflow logging {log_s:.1f} more)")
    print(f"  device:     {result.device}, {result.precision}")
    if published.version is None:
        print("  registered: nothing (the bar was missed)")
        return
    print(f"  registered: {args.model_name} version {published.version}")
    before = published.champion_before
    before_metric = published.champion_metric_before
    before_value = "n/a" if before_metric is None else f"{before_metric:.4f}"
    before_text = f"version {before} ({name} {before_value})"
    if published.champion_moved:
        origin = f" from {before_text}" if before else ""
        print(f"  champion:   moved{origin} to version {published.version}")
    elif before_metric is None:
        print(f"  champion:   unchanged: version {before} has no {name} to compare with")
    else:
        print(f"  champion:   unchanged: {before_text} is at least as good")


def _publish(args: argparse.Namespace, result: Any) -> int:
    """Log ``result`` (rank 0 or a single process); the exit status."""
    from onprem_mlops.smoke import tracking

    try:
        started = time.perf_counter()
        published = tracking.publish(result, args.tracking_uri, args.experiment, args.model_name)
    except tracking.TrackingError as exc:
        return _fail(str(exc))
    _summary(result, published, args, time.perf_counter() - started)
    return 0 if result.bar_met else EXIT_BAR_MISSED


def _run_distributed(args: argparse.Namespace) -> int:
    """Every rank: join, check MLflow on rank 0, train together, publish on rank 0."""
    from onprem_mlops.smoke import distributed, tracking
    from onprem_mlops.smoke.deps import require

    try:
        rendezvous = distributed.from_environment()
    except distributed.RendezvousError as exc:
        return _fail(str(exc))
    torch = require("torch")
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if cuda and torch.cuda.is_available():
        torch.cuda.set_device(rendezvous.local_rank % torch.cuda.device_count())
    group = distributed.Group(rendezvous, distributed.default_backend("cuda" if cuda else "cpu"))
    rank = f"rank {rendezvous.rank}/{rendezvous.world_size}"
    print(f"{rank}: joining {rendezvous.init_method} ({group.backend})", file=sys.stderr)
    try:
        group.join()
    except (RuntimeError, ValueError) as exc:
        return _fail(f"{rank}: cannot join the process group at {rendezvous.init_method}: {exc}")
    finished = False
    try:
        problem = ""
        if group.rank == 0:
            try:
                tracking.check_connection(args.tracking_uri, args.experiment)
            except tracking.TrackingError as exc:
                problem = str(exc)
        # Rank 0 tells the others whether to go on, so none waits in training for ever.
        if group.broadcast(0.0 if problem else 1.0) < 1.0:
            finished = True
            return _fail(problem or f"{rank}: rank 0 cannot use MLflow (see its message)")
        print(f"{rank}: training {args.template} (seed {args.seed}) ...", file=sys.stderr)
        try:
            result = _train(args, group)
        except ValueError as exc:
            return _fail(str(exc))
        status = _publish(args, result) if group.rank == 0 else 0
        status = int(group.broadcast(float(status)))
        finished = True
        return status
    finally:
        # After an exception the peers are inside another collective: leave without waiting.
        group.leave(wait=finished)


def _run(args: argparse.Namespace) -> int:
    problem = _check_args(args)
    if problem:
        return _fail(problem)
    from onprem_mlops.smoke import deps

    try:
        deps.check_extras("numpy", "torch", "mlflow")
    except deps.MissingExtrasError as exc:
        return _fail(str(exc))
    from onprem_mlops.smoke import tracking

    args.experiment = args.experiment or tracking.DEFAULT_EXPERIMENT
    args.model_name = args.model_name or args.template
    # MLflow retries a failing request 7 times with exponential back-off (minutes); a smoke
    # test should say quickly that the server is unreachable. An explicit setting wins.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    if args.distributed:
        return _run_distributed(args)
    try:
        tracking.check_connection(args.tracking_uri, args.experiment)
        print(f"training {args.template} (seed {args.seed}) ...", file=sys.stderr, flush=True)
        result = _train(args)
    except tracking.TrackingError as exc:
        return _fail(str(exc))
    except ValueError as exc:  # e.g. --device cuda without a GPU
        return _fail(str(exc))
    return _publish(args, result)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "smoke-train",
        help="train a small model, log it to MLflow, register it, move the champion alias",
        description="Smoke training job against the platform's MLflow. Credentials and TLS come "
        "from MLflow's environment variables (MLFLOW_TRACKING_USERNAME, "
        "MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_SERVER_CERT_PATH). Exit status 0: quality "
        "bar met; 1: bar missed; 2: bad input, missing extras or MLflow error.",
    )
    parser.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI"),
        metavar="URI",
        help="MLflow server, e.g. https://mlflow.example.internal (default $MLFLOW_TRACKING_URI)",
    )
    parser.add_argument(
        "--template",
        choices=TEMPLATES,
        default=TEMPLATES[0],
        help="what to train (default predictive-maintenance)",
    )
    parser.add_argument("--experiment", help="MLflow experiment (default onprem-smoke)")
    parser.add_argument("--model-name", help="registered model name (default: the template name)")
    parser.add_argument(
        "--min-auc",
        type=float,
        default=0.90,
        help="predictive-maintenance bar: test ROC-AUC at least this (default 0.90)",
    )
    parser.add_argument(
        "--max-wape-ratio",
        type=float,
        default=0.9,
        help="stock-forecasting bar: test WAPE at most this times seasonal-naive's (default 0.9)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="time budget for data and training; training stops early to keep it (default 60)",
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: CUDA with mixed precision when present, else CPU (default auto)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads for training (default 1: the models are tiny, see docs/benchmarks.md)",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="one process per srun task (or RANK/WORLD_SIZE/MASTER_ADDR): train together with "
        "torch.distributed (NCCL on GPUs, gloo on CPUs); rank 0 logs one MLflow run "
        "(predictive-maintenance only; docs/slurm.md)",
    )
    parser.set_defaults(func=_run)
