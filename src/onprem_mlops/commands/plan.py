"""``onprem-mlops plan``: capacity plan and gap report from host assessments.

Exit status: 0 every planned host passes, 3 at least one host fails its gate, 2 bad input
(profiles, assignments or assessments), with a message naming the file and field.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from onprem_mlops.plan import gap, markdown
from onprem_mlops.plan.profiles import ProfileError, load_profiles

EXIT_GAP = 3


def load_assessments(locations: list[str]) -> dict[str, dict[str, Any]]:
    """Host name (file stem) -> assessment document, from files or directories of *.json."""
    docs: dict[str, dict[str, Any]] = {}
    for location in map(Path, locations):
        if not location.exists():
            raise ProfileError(
                f"{location}: no such assessment file or directory "
                "(run playbooks/phase1_assess.yml or onprem-mlops assess -o FILE)"
            )
        files = sorted(location.glob("*.json")) if location.is_dir() else [location]
        for path in files:
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ProfileError(f"{path}: not a readable JSON assessment: {exc}") from exc
            version = doc.get("schema_version") if isinstance(doc, dict) else None
            if not str(version).startswith("1."):
                raise ProfileError(f"{path}: schema_version: expected 1.x, got {version!r}")
            docs[path.stem] = doc
    return docs


def load_assignments(args: argparse.Namespace, hosts: list[str]) -> dict[str, list[str]]:
    assigned: dict[str, list[str]] = {}
    if args.assignments:
        path = Path(args.assignments)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ProfileError(f"{path}: cannot read assignments: {exc}") from exc
        if not isinstance(data, dict):
            raise ProfileError(f"{path}: must map host names to lists of profile names")
        assigned.update({str(h): v for h, v in data.items()})
    for item in args.assign:
        host, found, names = item.partition("=")
        if not found or not host or not names:
            raise ProfileError(f"--assign {item!r}: expected HOST=PROFILE[,PROFILE...]")
        assigned[host] = [n.strip() for n in names.split(",") if n.strip()]
    for host in hosts:
        if args.profile and not assigned.get(host):
            assigned[host] = list(args.profile)
    return assigned


def _list(args: argparse.Namespace) -> int:
    for name, profile in sorted(load_profiles(args.profiles_dir).items()):
        print(f"{name:<32} {profile.title}  [{profile.source}]")
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        if args.list_profiles:
            return _list(args)
        profiles = load_profiles(args.profiles_dir)
        assessments = load_assessments(args.assessments or ["reports/assessment"])
        assigned = gap.resolve(load_assignments(args, sorted(assessments)), profiles)
    except ProfileError as exc:
        print(f"onprem-mlops plan: {exc}", file=sys.stderr)
        return 2
    plan = gap.build(assessments, assigned)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "capacity-plan.json").write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    (out / "capacity-plan.md").write_text(markdown.render(plan), encoding="utf-8")
    for host, result in plan["hosts"].items():
        print(f"{host}: {result['status'].upper()}")
        for line in result["recommendations"]:
            print(f"  - {line}")
    print(f"gap report: {out / 'capacity-plan.md'} and capacity-plan.json")
    return EXIT_GAP if plan["summary"]["fail"] else 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="compare assessments with workload profiles and write the gap report",
        description="Capacity plan: each host's assessment against its workload profiles. "
        "Exit status 0: all pass; 3: a host fails; 2: bad input.",
    )
    parser.add_argument(
        "--assessments",
        action="append",
        default=[],
        metavar="PATH",
        help="assessment JSON file or directory of <host>.json "
        "(repeatable; default reports/assessment)",
    )
    parser.add_argument(
        "--assignments", metavar="FILE", help="YAML/JSON mapping of host to a list of profile names"
    )
    parser.add_argument(
        "--assign",
        action="append",
        default=[],
        metavar="HOST=P1[,P2]",
        help="assign profiles to one host (repeatable)",
    )
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="NAME",
        help="profile for every assessed host without an assignment",
    )
    parser.add_argument(
        "--profiles-dir",
        action="append",
        default=[],
        metavar="PATH",
        help="directory or file with your own profiles (repeatable)",
    )
    parser.add_argument(
        "--output-dir",
        default="reports/plan",
        help="where capacity-plan.md and .json go (default reports/plan)",
    )
    parser.add_argument("--list-profiles", action="store_true", help="list known profiles")
    parser.set_defaults(func=_run)
