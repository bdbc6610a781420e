"""``onprem-mlops assess``: assess this machine and print the JSON document."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from onprem_mlops import assess_text
from onprem_mlops.hwassess import assess
from onprem_mlops.hwassess.collect import DEFAULT_DATA_PATH


def _run(args: argparse.Namespace) -> int:
    if args.bench_disk_mib < 1:
        print(
            f"onprem-mlops assess: --bench-disk-mib must be at least 1, got {args.bench_disk_mib}",
            file=sys.stderr,
        )
        return 2
    document = assess(
        args.root,
        benchmarks=args.benchmarks,
        data_path=args.data_path,
        bench_disk_mib=args.bench_disk_mib,
    )
    text = assess_text.render(document) if args.report else json.dumps(document, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "assess",
        help="assess this machine's hardware and software (JSON, or --report)",
        description="Assess CPU, memory, disks, network, OS and NVIDIA GPUs of this machine. "
        "Prints the JSON document (docs/assessment-schema.md) or, with --report, a summary.",
    )
    parser.add_argument("--report", action="store_true", help="human-readable form instead of JSON")
    parser.add_argument(
        "--benchmarks", action="store_true", help="also run the micro-benchmarks (up to a minute)"
    )
    parser.add_argument(
        "--data-path",
        default=DEFAULT_DATA_PATH,
        help=f"where datasets and models will live (default {DEFAULT_DATA_PATH})",
    )
    parser.add_argument(
        "--bench-disk-mib",
        type=int,
        default=1024,
        help="size of the disk benchmark file in MiB (default 1024)",
    )
    parser.add_argument("--output", "-o", help="write to this file instead of standard output")
    parser.add_argument("--root", default="/", help=argparse.SUPPRESS)  # fixture host trees (tests)
    parser.set_defaults(func=_run)
