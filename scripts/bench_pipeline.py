#!/usr/bin/env python3
"""Time the model pipeline (issue 12) from a data drop to serving the new champion.

For each example (predictive maintenance, stock forecasting) the script writes the example data,
starts a throw-away loopback MLflow server with basic auth and the platform's serving supervisor
(serving/champion.py, polling the alias every --poll seconds; the platform's default is 30),
then lets the history and each weekly drop "arrive" and runs the steps as CI would, each a
separate ``onprem-mlops pipeline`` process: validate-data -> train -> evaluate -> promote ->
deploy-check. A rejected challenger ends its week after evaluate (the champion stays served).

Goal: data drop to serving the new champion under 180 s on 2 CPU cores.
Usage: python3 scripts/bench_pipeline.py [--poll 30] [--min-improvement-forecast 0.0]
Needs the ML extras (pip install 'onprem-mlops[train]'). Prints Markdown for
docs/benchmarks.md; exits 1 when a promoted week misses the goal or a step fails unexpectedly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from onprem_mlops.pipeline import lock  # noqa: E402
from onprem_mlops.smoke import local_server  # noqa: E402

GOAL_S = 180.0
PASSWORD = "bench-Pipeline-Passw0rd"
STEPS = ("validate-data", "train", "evaluate", "promote", "deploy-check")


def step(name: str, *argv: str, env: dict[str, str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "onprem_mlops", "pipeline", name, *argv],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
    return done.returncode, time.perf_counter() - started, (lines[-1] if lines else "")


def serving(model: str, port: int, workdir: Path, poll: float, env: dict[str, str]) -> Any:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "src" / "onprem_mlops" / "serving" / "champion.py")],
        env={**env, "SERVING_MODEL_NAME": model, "SERVING_PORT": str(port),
             "SERVING_CACHE_DIR": str(workdir / "cache"),
             "SERVING_STATE_FILE": str(workdir / "served.json"),
             "SERVING_POLL_SECONDS": f"{poll:g}"},
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def week(
    example: str, data: Path, contract: Path, work: Path, n: int, args: argparse.Namespace,
    env: dict[str, str], endpoint: str,
) -> dict[str, Any]:  # fmt: skip
    """One drop's run: the step times, the decision and the wall time to serving."""
    t = {s: 0.0 for s in STEPS}
    out: dict[str, Any] = {"times": t, "decision": "-", "detail": ""}
    started = time.perf_counter()
    reference = ["--reference", str(work / "reference.json")] if n else []
    drop = sorted(data.glob("*.csv"))[-1]
    rc, t["validate-data"], line = step(
        "validate-data", "--contract", str(contract), "--data", str(drop), *reference, env=env
    )
    if rc:
        return {**out, "decision": "invalid", "detail": line}
    train = ["--data", str(data), "--model", example, "--template", example]
    rc, t["train"], line = step("train", *train, "--summary", str(work / f"t{n}.json"), env=env)
    if rc:
        return {**out, "decision": "refused", "detail": line}
    improvement = args.min_improvement_forecast if example == "stock-forecasting" else 0.0
    rc, t["evaluate"], line = step(
        "evaluate", "--data", str(data), "--training", str(work / f"t{n}.json"),
        "--min-improvement", f"{improvement:g}", "--summary", str(work / f"e{n}.json"), env=env,
    )  # fmt: skip
    evaluation = json.loads((work / f"e{n}.json").read_text())
    out["decision"] = evaluation["decision"]
    margin = evaluation["margin"]
    out["detail"] = (
        f"{evaluation['metric']} {evaluation['challenger']:.4f}, baseline "
        f"{evaluation['baseline']:.4f}, margin " + ("-" if margin is None else f"{margin:+.4f}")
    )
    if rc:
        out["wall"] = time.perf_counter() - started
        return out
    rc, t["promote"], line = step(
        "promote", "--evaluation", str(work / f"e{n}.json"), "--summary", str(work / f"p{n}.json"),
        env=env,
    )  # fmt: skip
    if rc:
        raise SystemExit(f"promote failed: {line}")
    rc, t["deploy-check"], line = step(
        "deploy-check", "--endpoint", endpoint, "--promotion", str(work / f"p{n}.json"),
        "--interval", "1", "--timeout", str(max(120.0, 4 * args.poll)), env=env,
    )  # fmt: skip
    if rc:
        raise SystemExit(f"deploy-check failed: {line}")
    out["wall"] = time.perf_counter() - started
    if n == 0:  # the history is the reference the weekly drops' drift is measured against
        step("profile-data", "--contract", str(contract), "--data", str(drop),
             "--out", str(work / "reference.json"), env=env)  # fmt: skip
    return out


def bench(example: str, root: Path, url: str, args: argparse.Namespace) -> bool:
    env = {**os.environ, "MLFLOW_TRACKING_URI": url,
           "MLFLOW_TRACKING_USERNAME": local_server.ADMIN, "MLFLOW_TRACKING_PASSWORD": PASSWORD,
           lock.LOCK_DIR_ENV: str(root / "locks"),
           "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    work, data = root / example, root / example / "data"
    data.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "onprem_mlops", "pipeline", "example-data", "--example", example,
         "--out", str(work / "example")], env=env, check=True, capture_output=True,
    )  # fmt: skip
    port = local_server.free_port()
    supervisor = serving(example, port, work, args.poll, env)
    ok = True
    try:
        for n, drop in enumerate(sorted((work / "example" / "drops").glob("*.csv"))):
            shutil.copy(drop, data)  # the drop arrives on the data volume
            result = week(example, data, work / "example" / "contract.yml", work, n, args, env,
                          f"http://127.0.0.1:{port}")  # fmt: skip
            wall = result.get("wall")
            if result["decision"] == "promote":
                ok = ok and wall is not None and wall <= GOAL_S
            elif result["decision"] not in ("reject",):
                ok = False
            times = " | ".join(f"{result['times'][s]:.1f}" for s in STEPS)
            shown = "-" if wall is None else f"{wall:.1f}"
            print(f"| {example} | {drop.name} | {times} | {shown} | {result['decision']} "
                  f"| {result['detail']} |", flush=True)  # fmt: skip
    finally:
        os.killpg(supervisor.pid, signal.SIGTERM)
        supervisor.wait(30)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=float, default=30.0, help="serving's alias poll (s)")
    parser.add_argument("--min-improvement-forecast", type=float, default=0.0)
    parser.add_argument("--examples", default="predictive-maintenance,stock-forecasting")
    args = parser.parse_args()
    print(f"Serving polls the alias every {args.poll:g} s. Times in seconds.\n")
    print("| Example | Drop | " + " | ".join(STEPS) + " | Drop to served | Decision | Figures |")
    print("|---|---|" + "---|" * (len(STEPS) + 3))
    ok = True
    with (
        tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp,
        local_server.running(Path(tmp) / "mlflow", PASSWORD) as url,
    ):
        for example in args.examples.split(","):
            ok = bench(example, Path(tmp), url, args) and ok
    print(f"\nGoal: a promoted drop is served within {GOAL_S:g} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
