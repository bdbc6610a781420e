"""``onprem-mlops pipeline``: the model pipeline's steps, one sub-command each.

Exit status: 0 the step passed, 1 the step refused (its one-line reason on stderr), 2 the
inputs are unusable (a contract, data or profile file that cannot be read; named).
Each step writes its JSON summary to ``--summary`` for the next step.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from onprem_mlops.pipeline.schema import ContractError, load_contract
from onprem_mlops.pipeline.table import DataError, read_csv
from onprem_mlops.pipeline.validate import build_profile, load_reference, validate

REFUSED = 1
BAD_INPUT = 2


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a crashed step leaves the previous summary, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
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


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pipeline", help="model pipeline steps (validate-data, profile-data)"
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
