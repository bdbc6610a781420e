#!/usr/bin/env python3
"""Time the smoke training job (issue 5): data generation, training and MLflow logging.

Budget: data generation + training within 60 s on 2 CPU cores, quality bar met.
Usage: python3 scripts/bench_smoke_train.py [--runs 3] [--threads 1,2] [--device auto]
       [--tracking-uri URI]   (default: a throw-away local mlflow server with basic auth)
Needs the ML extras (pip install 'onprem-mlops[train]'). Prints Markdown for
docs/benchmarks.md; exits 1 when the budget or a quality bar is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from onprem_mlops.smoke import local_server, stock_forecasting, tracking, train  # noqa: E402

BUDGET_S = 60.0
TEMPLATES: dict[str, Callable[[str, int], Any]] = {
    "predictive-maintenance": lambda device, threads: train.run(
        train.MaintenanceJob(device=device, threads=threads)
    ),
    "stock-forecasting": lambda device, threads: stock_forecasting.run(
        stock_forecasting.ForecastJob(device=device, threads=threads)
    ),
}


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {max(values):.1f}"


def bench(args: argparse.Namespace, uri: str) -> bool:
    ok = True
    print("| Template | Device | Threads | Runs | Data s | Train s | Data+train s | MLflow s "
          "| Epochs | Metric (bar) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, run in TEMPLATES.items():
        for threads in args.threads:
            rows: dict[str, list[float]] = {"data": [], "train": [], "total": [], "log": []}
            for _ in range(args.runs):
                result = run(args.device, threads)
                started = time.perf_counter()
                tracking.publish(result, uri, "onprem-smoke-bench", f"bench-{name}")
                rows["log"].append(time.perf_counter() - started)
                rows["data"].append(result.timings["data"])
                rows["train"].append(result.timings["train"])
                rows["total"].append(result.seconds)
                ok = ok and result.bar_met and result.seconds <= BUDGET_S
            relation = ">=" if result.greater_is_better else "<="
            print(
                f"| {name} | {result.device} | {threads} | {args.runs} | {cell(rows['data'])} | "
                f"{cell(rows['train'])} | {cell(rows['total'])} | {cell(rows['log'])} | "
                f"{result.metrics['epochs']:.0f} | {result.metric_name} {result.metric:.4f} "
                f"({relation} {result.bar:.4f}) |",
                flush=True,
            )
    print("\nCells: median / max seconds over the runs.\n")
    for name in TEMPLATES:
        command = [sys.executable, "-m", "onprem_mlops", "smoke-train", "--tracking-uri", uri,
                   "--template", name, "--experiment", "onprem-smoke-bench",
                   "--model-name", f"bench-{name}"]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        ok = ok and done.returncode == 0
        print(f"`onprem-mlops smoke-train --template {name}`: exit {done.returncode}, "
              f"{wall:.1f} s wall (interpreter, imports, training, logging)")  # fmt: skip
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="comma-separated CPU thread counts")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--tracking-uri", help="MLflow server (credentials from MLFLOW_* vars)")
    args = parser.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    os.environ["PYTHONPATH"] = str(ROOT / "src")
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"  # keep the table readable
    print(f"Load average before: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs\n")
    if args.tracking_uri:
        ok = bench(args, args.tracking_uri)
    else:
        password = os.urandom(12).hex() + "-Aa1"
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            with local_server.running(Path(tmp), password) as uri:
                print(f"Local mlflow server healthy after {time.perf_counter() - started:.1f} s\n")
                os.environ["MLFLOW_TRACKING_USERNAME"] = local_server.ADMIN
                os.environ["MLFLOW_TRACKING_PASSWORD"] = password
                ok = bench(args, uri)
    print(f"\nLoad average after: {os.getloadavg()[0]:.1f} (1 min)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
