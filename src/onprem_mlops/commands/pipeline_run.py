"""``onprem-mlops pipeline run``: every step in order, for sites without a CI server.

validate-data (the newest drop) -> train -> evaluate -> promote -> deploy-check, in one
process (the imports are paid once), as a systemd timer or a person would run them. Each run
keeps its step summaries under ``STATE_DIR/MODEL/runs/<UTC time>/`` (the newest ``--keep``
runs) and writes ``STATE_DIR/MODEL/last.json``: the outcome, the step it ended at and why.

Exit status: 0 a new champion is served, or the challenger was rejected (both are answers);
1 the drop was refused, training missed the bar, or serving did not follow (the alias went
back); 2 unusable input. A failed run leaves the champion as it was.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import shutil
import sys
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

from onprem_mlops.commands.pipeline import _fail, _write_json

PROMOTED = "promoted"
REJECTED = "rejected"
FAILED = "failed"


class _Tee(io.TextIOBase):
    """Stderr that is also kept, for the one-line reason of a step that refused."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.lines = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.lines.write(text)
        return len(text)

    def last_line(self) -> str:
        lines = [x for x in self.lines.getvalue().splitlines() if x.strip()]
        return lines[-1] if lines else ""


def _step(name: str, argv: list[str]) -> tuple[int, str]:
    from onprem_mlops.cli import main

    print(f"pipeline run: {name}", flush=True)
    tee = _Tee(sys.stderr)
    with redirect_stderr(tee):
        status = main(["pipeline", name, *argv])
    return status, tee.last_line()


def _newest_drop(data: Path) -> Path | None:
    drops = sorted(p for p in data.glob("*.csv") if p.is_file()) if data.is_dir() else []
    return drops[-1] if drops else (data if data.is_file() else None)


def _prune(runs: Path, keep: int) -> None:
    for old in sorted(p for p in runs.iterdir() if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _steps(args: argparse.Namespace, out: Path) -> tuple[str, str, str, dict[str, Any]]:
    """Run the steps; (outcome, the step it ended at, reason, details)."""
    common = ["--tracking-uri", args.tracking_uri] if args.tracking_uri else []
    bars = ["--min-auc", str(args.min_auc), "--max-wape-ratio", str(args.max_wape_ratio),
            "--seed", str(args.seed)]  # fmt: skip
    drop = _newest_drop(Path(args.data))
    if drop is None:
        return FAILED, "validate-data", f"{args.data}: no *.csv data drop", {"status": 2}
    reference = ["--reference", args.reference] if args.reference else []
    plan: list[tuple[str, list[str]]] = [
        ("validate-data", ["--contract", args.contract, "--data", str(drop), *reference]),
        ("train", ["--template", args.template, "--data", args.data, "--model", args.model,
                   *bars, *common]),
        ("evaluate", ["--data", args.data, "--training", str(out / "train.json"),
                      "--min-improvement", str(args.min_improvement), *bars, *common]),
        ("promote", ["--evaluation", str(out / "evaluate.json"), *common]),
    ]  # fmt: skip
    if args.endpoint:
        plan.append(("deploy-check", ["--endpoint", args.endpoint, "--promotion",
                                      str(out / "promote.json"), "--timeout",
                                      str(args.deploy_timeout), *common]))  # fmt: skip
    details: dict[str, Any] = {"drop": str(drop)}
    for name, argv in plan:
        status, line = _step(name, [*argv, "--summary", str(out / f"{name}.json")])
        details["status"] = status
        if name == "evaluate" and (out / "evaluate.json").exists():
            evaluation = json.loads((out / "evaluate.json").read_text(encoding="utf-8"))
            details.update(version=evaluation["challenger_version"],
                           champion=evaluation["champion_version"])  # fmt: skip
            if status == 1 and evaluation.get("decision") == "reject":
                return REJECTED, name, evaluation["reason"], {**details, "status": 0}
        if status:
            return FAILED, name, line, details
    served = "" if args.endpoint else " (no --endpoint: serving not checked)"
    return (
        PROMOTED,
        plan[-1][0],
        f"version {details.get('version')} is the champion{served}",
        (details),
    )


def _run(args: argparse.Namespace) -> int:
    if args.keep < 1:
        return _fail("run", f"--keep must be at least 1, not {args.keep}")
    home = Path(args.state_dir) / args.model
    started = dt.datetime.now(dt.UTC)
    out = home / "runs" / started.strftime("%Y%m%dT%H%M%S.%fZ")  # sortable, unique
    out.mkdir(parents=True)
    outcome, step, reason, details = _steps(args, out)
    status = int(details.pop("status"))
    finished = dt.datetime.now(dt.UTC)
    last = {"step": "run", "model": args.model, "outcome": outcome, "ended_at": step,
            "reason": reason, "started": started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"), "exit_status": status,
            "summaries": str(out), **details}  # fmt: skip
    _write_json(out / "run.json", last)
    _write_json(home / "last.json", last)
    if args.summary:
        _write_json(Path(args.summary), last)
    _prune(home / "runs", args.keep)
    print(f"pipeline run: {args.model}: {outcome} at {step}: {reason}")
    return status


def register_run(steps: Any) -> None:
    from onprem_mlops.commands.pipeline import _tracking_arguments
    from onprem_mlops.commands.pipeline_model import _bar_arguments
    from onprem_mlops.pipeline.examples import EXAMPLES

    run = steps.add_parser("run", help="every step in order (for a timer); keeps the summaries")
    run.add_argument("--template", choices=EXAMPLES, default=EXAMPLES[0])
    run.add_argument("--data", required=True, help="the data directory (drops *.csv)")
    run.add_argument("--contract", required=True, help="data contract (YAML)")
    run.add_argument("--reference", help="the champion's training data (profile .json or .csv)")
    run.add_argument("--model", required=True, help="registered model name")
    run.add_argument("--endpoint", help="serving URL; without it deploy-check is skipped")
    run.add_argument("--min-improvement", type=float, default=0.0)
    run.add_argument("--deploy-timeout", type=float, default=180.0, metavar="SECONDS")
    run.add_argument(
        "--state-dir",
        default=str(Path.home() / ".local" / "state" / "onprem-mlops" / "pipeline"),
        help="where runs and last.json are kept (default ~/.local/state/onprem-mlops/pipeline)",
    )
    run.add_argument("--keep", type=int, default=20, help="runs kept (default 20)")
    _bar_arguments(run)
    _tracking_arguments(run)
    run.set_defaults(func=_run)
