#!/usr/bin/env python3
"""Where a `make test` run spent its time: one row per Molecule scenario, one column per step.

    python3 scripts/suite-times.py [LOG_DIR] [--before OTHER_LOG_DIR]

LOG_DIR (default .cache/molecule-logs) holds what tests/molecule/scenarios.py writes for each
scenario: <scenario>.log and <scenario>.steps.json (the wall time of each Molecule step).
With --before, the totals of another run (its steps.json files, or for a run that had none,
the total of each scenario read from the `slowest durations` lines of its pytest output
given as a file) are shown next to this run's. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

STEPS = ("create", "prepare", "check", "converge", "idempotence", "side_effect", "verify")
DURATION = re.compile(r"^([\d.]+)s call .*test_molecule_scenario\[(\w+)\]", re.MULTILINE)


def load_steps(directory: Path) -> dict[str, dict]:
    runs = {}
    for path in sorted(directory.glob("*.steps.json")):
        runs[path.name.removesuffix(".steps.json")] = json.loads(path.read_text())
    return runs


def load_totals(source: Path) -> dict[str, float]:
    """Scenario -> total seconds, from steps.json files or a pytest --durations output."""
    if source.is_dir():
        return {name: run["total"] for name, run in load_steps(source).items()}
    return {name: float(seconds) for seconds, name in DURATION.findall(source.read_text())}


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log_dir", nargs="?", default=".cache/molecule-logs", type=Path)
    parser.add_argument("--before", type=Path, help="another run's log directory or pytest output")
    args = parser.parse_args()
    runs = load_steps(args.log_dir)
    if not runs:
        parser.error(f"no *.steps.json in {args.log_dir}")
    before = load_totals(args.before) if args.before else {}
    header = ["scenario", *(["before"] if before else []), "total", *STEPS]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, run in sorted(runs.items(), key=lambda item: -item[1]["total"]):
        by_step: dict[str, float] = {}
        for step in run["steps"]:
            if step.get("seconds") is not None:
                by_step[step["step"]] = by_step.get(step["step"], 0.0) + step["seconds"]
        cells = [name, *([minutes(before.get(name))] if before else []), minutes(run["total"])]
        cells += [minutes(by_step.get(step)) for step in STEPS]
        print("| " + " | ".join(cells) + " |")
    total = sum(run["total"] for run in runs.values())
    print(f"\nSum of the scenarios: {minutes(total)}", end="")
    if before:
        print(f" (before: {minutes(sum(before.values()))})", end="")
    print(" (two run at a time: the wall time of `make test` is about half, plus the rest)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
