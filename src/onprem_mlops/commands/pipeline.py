"""``onprem-mlops pipeline``: the model pipeline's steps, one sub-command each.

Exit status: 0 the step passed, 1 the step refused (its one-line reason on stderr), 2 the
inputs are unusable (a contract, data or profile file that cannot be read; named).
Each step writes its JSON summary to ``--summary`` for the next step.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from onprem_mlops.pipeline.schema import ContractError, load_contract
from onprem_mlops.pipeline.table import DataError, read_csv
from onprem_mlops.pipeline.validate import build_profile, load_reference, validate

NONE = "none"
REFUSED = 1
BAD_INPUT = 2


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a crashed step leaves the previous summary, never half a file.

    A symbolic link (/dev/stdout) or a path that is not a regular file (/dev/null, a pipe) is
    written through: replacing it would replace the link or the device.
    """
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if path.is_symlink() or (path.exists() and not path.is_file()):
        with path.open("w", encoding="utf-8") as handle:
            handle.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _profile_data(args: argparse.Namespace) -> int:
    try:
        contract = load_contract(Path(args.contract))
        profile = build_profile(contract, read_csv(Path(args.data)))
    except (ContractError, DataError) as err:
        print(f"onprem-mlops pipeline profile-data: {err}", file=sys.stderr)
        return BAD_INPUT
    _write_json(Path(args.out), profile)
    print(
        f"profile-data: {profile['rows']} rows, {len(profile['columns'])} column(s) "
        f"profiled -> {args.out}"
    )
    return 0


def _max_psi(report: dict[str, Any]) -> str:
    scored = [(c["psi"], n) for n, c in report["columns"].items() if c.get("psi") is not None]
    if not scored:
        return "drift not checked"
    value, name = max(scored)
    return f"max PSI {value:.3f} ({name})"


def _validate_data(args: argparse.Namespace) -> int:
    try:
        contract = load_contract(Path(args.contract))
        table = read_csv(Path(args.data))
        reference = load_reference(Path(args.reference), contract) if args.reference else None
    except (ContractError, DataError) as err:
        print(f"onprem-mlops pipeline validate-data: {err}", file=sys.stderr)
        return BAD_INPUT
    report = validate(contract, table, reference)
    if args.summary:
        _write_json(Path(args.summary), report)
    for warning in report["warnings"]:
        print(f"validate-data: warning: {warning}", file=sys.stderr)
    if not report["ok"]:
        more = len(report["problems"]) - 1
        tail = f" (and {more} more problem(s), see the summary)" if more else ""
        print(f"validate-data: refused: {report['reason']}{tail}", file=sys.stderr)
        return REFUSED
    print(
        f"validate-data: ok, {report['rows']} rows, {len(report['columns'])} column(s), "
        f"{_max_psi(report)}"
    )
    return 0


def _fail(step: str, message: str, status: int = BAD_INPUT) -> int:
    print(f"onprem-mlops pipeline {step}: {message}", file=sys.stderr)
    return status


def _from_evaluation(args: argparse.Namespace) -> str | None:
    """Fill --model/--version/--expected-champion from the evaluate summary; a problem or None."""
    path = Path(args.evaluation)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        return f"{path}: cannot read the evaluation summary ({err.strerror})"
    except json.JSONDecodeError as err:
        return f"{path}: not JSON ({err})"
    if not isinstance(summary, dict) or summary.get("step") != "evaluate":
        return f"{path}: not a summary written by onprem-mlops pipeline evaluate"
    for flag, key in (
        ("model", "model"),
        ("version", "challenger_version"),
        ("expected_champion", "champion_version"),
    ):
        value = summary.get(key)
        value = NONE if value is None and key == "champion_version" else value
        given = getattr(args, flag)
        if given is not None and str(given) != str(value):
            return f"--{flag.replace('_', '-')} {given} contradicts {path} ({key}: {value})"
        setattr(args, flag, str(value))
    args.decision = summary.get("decision")
    args.reason = args.reason or summary.get("reason") or "evaluation won"
    return None


def _client(step: str, args: argparse.Namespace) -> Any:
    """An MLflow client for --tracking-uri, or an exit status after saying why not."""
    from onprem_mlops.smoke import tracking
    from onprem_mlops.smoke.deps import MissingExtrasError, require

    problem = tracking.uri_problem(args.tracking_uri)
    if problem:
        return _fail(step, problem)
    warning = tracking.cleartext_warning(args.tracking_uri)
    if warning:
        print(f"onprem-mlops pipeline {step}: {warning}", file=sys.stderr)
    try:
        require("mlflow").set_tracking_uri(args.tracking_uri)
        return require("mlflow.tracking").MlflowClient(args.tracking_uri)
    except MissingExtrasError as err:
        return _fail(step, str(err))


def _mlflow_step(step: str, args: argparse.Namespace, move: Any) -> int:
    """Run ``move(client)`` against MLflow and report it; the shared part of promote/rollback."""
    from onprem_mlops.pipeline import registry
    from onprem_mlops.pipeline.lock import LockTimeout
    from onprem_mlops.smoke import tracking

    client = _client(step, args)
    if isinstance(client, int):
        return client
    try:
        moved = move(client)
    except (registry.Refused, LockTimeout) as err:
        return _fail(step, f"refused: {err}", REFUSED)
    except tracking.client_errors() as err:
        return _fail(step, tracking.explain(err, args.tracking_uri))
    summary = {
        "step": step,
        "model": moved.model,
        "alias": moved.alias,
        "version": moved.version,
        "previous": moved.previous,
        "reason": moved.reason,
    }
    if args.summary:
        _write_json(Path(args.summary), summary)
    print(
        f"{step}: the {moved.alias} alias of {moved.model} moved from version "
        f"{moved.previous or NONE} to {moved.version}"
    )
    return 0


def _expected(value: str) -> str | None:
    return None if value == NONE else value


def _promote(args: argparse.Namespace) -> int:
    args.decision = "promote"
    if args.evaluation:
        problem = _from_evaluation(args)
        if problem:
            return _fail("promote", problem)
    missing = [f for f in ("model", "version", "expected_champion") if getattr(args, f) is None]
    if missing:
        flags = ", ".join(f"--{f.replace('_', '-')}" for f in missing)
        return _fail("promote", f"{flags} required (or --evaluation with the evaluate summary)")
    if args.decision != "promote":
        return _fail(
            "promote",
            f"refused: the evaluation decided {args.decision!r}, the champion stays "
            f"({args.reason})",
            REFUSED,
        )
    from onprem_mlops.pipeline import registry

    return _mlflow_step(
        "promote",
        args,
        lambda client: registry.move_alias(
            client,
            model=args.model,
            alias=args.alias,
            version=args.version,
            expected=_expected(args.expected_champion),
            reason=args.reason or "promoted",
            lock_dir=Path(args.lock_dir),
            lock_timeout=args.lock_timeout,
        ),
    )


def _rollback(args: argparse.Namespace) -> int:
    from onprem_mlops.pipeline import registry

    def move(client: Any) -> Any:
        expected = args.from_version
        if expected is None:
            expected = registry.holder(client, args.model, args.alias) or NONE
        return registry.move_alias(
            client,
            model=args.model,
            alias=args.alias,
            version=args.version,
            expected=_expected(expected),
            reason=args.reason or f"rollback from version {expected}",
            lock_dir=Path(args.lock_dir),
            lock_timeout=args.lock_timeout,
        )

    return _mlflow_step("rollback", args, move)


def _tracking_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI"),
        metavar="URI",
        help="MLflow server (default $MLFLOW_TRACKING_URI); credentials from "
        "MLFLOW_TRACKING_USERNAME/_PASSWORD",
    )
    parser.add_argument("--summary", help="write the step's summary (JSON) here")


def _alias_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alias", default="champion", help="the champion alias (default champion)")


def _registry_arguments(parser: argparse.ArgumentParser) -> None:
    from onprem_mlops.pipeline.lock import LOCK_DIR_ENV, default_lock_dir

    _tracking_arguments(parser)
    _alias_argument(parser)
    parser.add_argument("--reason", help="why, recorded as a tag on the new holder")
    parser.add_argument(
        "--lock-dir",
        default=str(default_lock_dir()),
        help=f"directory of the per-model lock files; shared by every pipeline that moves the "
        f"alias (default ${LOCK_DIR_ENV} or ~/.cache/onprem-mlops/locks)",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for another pipeline's lock (default 60)",
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pipeline",
        help="model pipeline steps (validate-data, train, evaluate, promote, deploy-check, ...)",
    )
    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True)

    profile = steps.add_parser(
        "profile-data", help="write the reference profile of the data a model is trained on"
    )
    profile.add_argument("--contract", required=True, help="data contract (YAML)")
    profile.add_argument("--data", required=True, help="the training data (CSV)")
    profile.add_argument("--out", required=True, help="where to write the profile (JSON)")
    profile.set_defaults(func=_profile_data)

    check = steps.add_parser(
        "validate-data",
        help="check a data drop against its contract and the champion's reference data",
    )
    check.add_argument("--contract", required=True, help="data contract (YAML)")
    check.add_argument("--data", required=True, help="the data drop (CSV)")
    check.add_argument(
        "--reference",
        help="the champion's training data: a profile (.json, from profile-data) or a CSV file;"
        " without it drift is not checked",
    )
    check.add_argument("--summary", help="write the report (JSON) here for the next step")
    check.set_defaults(func=_validate_data)

    promote = steps.add_parser(
        "promote",
        help="move the champion alias to the challenger, only if it still points at the "
        "version the challenger was evaluated against",
    )
    promote.add_argument("--evaluation", help="the evaluate step's summary (JSON)")
    promote.add_argument("--model", help="registered model name")
    promote.add_argument("--version", help="the challenger's version")
    promote.add_argument(
        "--expected-champion",
        metavar="VERSION",
        help="the champion the challenger beat ('none' when there was none)",
    )
    _registry_arguments(promote)
    promote.set_defaults(func=_promote)

    rollback = steps.add_parser(
        "rollback", help="point the champion alias back at an earlier version"
    )
    rollback.add_argument("version", metavar="VERSION", help="the version to serve again")
    rollback.add_argument("--model", required=True, help="registered model name")
    rollback.add_argument(
        "--from",
        dest="from_version",
        metavar="VERSION",
        help="roll back only if the alias still points at this version (the deploy check's "
        "guard against undoing a newer promotion)",
    )
    _registry_arguments(rollback)
    rollback.set_defaults(func=_rollback)

    from onprem_mlops.commands.pipeline_model import register_steps
    from onprem_mlops.commands.pipeline_run import register_run

    register_steps(steps)
    register_run(steps)
