#!/usr/bin/env python3
"""Time the host assessment (issue 3) on this machine, with and without micro-benchmarks.

Budgets: at most 2 s per host without micro-benchmarks, at most 60 s with them.
Usage: python3 scripts/bench_assess.py [--runs 10] [--data-path /srv] [--bench-disk-mib 1024]
Prints a Markdown table for docs/benchmarks.md; exits 1 when a budget is exceeded. The last
rows time assess() on each synthetic host tree of tests/fixtures/hwassess (NVML faked by
fake_nvml.py), which is how the NVML path is timed on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from onprem_mlops.hwassess import assess  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "hwassess"
sys.path.insert(0, str(FIXTURES))
from fake_nvml import scenario  # noqa: E402

BUDGET_PLAIN_S = 2.0
BUDGET_BENCH_S = 60.0


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--data-path", default="/srv")
    parser.add_argument("--bench-disk-mib", type=int, default=1024)
    args = parser.parse_args()

    plain = [timed(lambda: assess(data_path=args.data_path)) for _ in range(args.runs)]
    # The whole command as a host runs it: interpreter start, imports, JSON output.
    cli = [
        timed(
            lambda: subprocess.run(
                [sys.executable, "-m", "onprem_mlops", "assess", "--data-path", args.data_path],
                check=True,
                capture_output=True,
                env={"PYTHONPATH": str(ROOT / "src")},
            )
        )
        for _ in range(args.runs)
    ]
    start = time.perf_counter()
    doc = assess(benchmarks=True, data_path=args.data_path, bench_disk_mib=args.bench_disk_mib)
    with_bench = time.perf_counter() - start

    print("| Measurement | Runs | Median s | Max s | Budget s |")
    print("|---|---|---|---|---|")
    print(
        f"| assess() in-process, no micro-benchmarks | {args.runs} | "
        f"{statistics.median(plain):.3f} | {max(plain):.3f} | {BUDGET_PLAIN_S:g} |"
    )
    print(
        f"| `onprem-mlops assess` command, no micro-benchmarks | {args.runs} | "
        f"{statistics.median(cli):.3f} | {max(cli):.3f} | {BUDGET_PLAIN_S:g} |"
    )
    print(
        f"| assess(benchmarks=True), disk file {args.bench_disk_mib} MiB | 1 | "
        f"{with_bench:.1f} | {with_bench:.1f} | {BUDGET_BENCH_S:g} |"
    )
    for tree in sorted(p.parent for p in FIXTURES.glob("*/scenario.json")):
        times = [timed(lambda tree=tree: assess(**scenario(tree))) for _ in range(args.runs)]
        print(
            f"| assess() on the synthetic tree {tree.name} (fake NVML) | {args.runs} | "
            f"{statistics.median(times):.3f} | {max(times):.3f} | {BUDGET_PLAIN_S:g} |"
        )
    print()
    print("Micro-benchmark results:")
    print("```json")
    print(json.dumps(doc["benchmarks"], indent=2))
    print("```")
    within = max(plain) <= BUDGET_PLAIN_S and max(cli) <= BUDGET_PLAIN_S
    return 0 if within and with_bench <= BUDGET_BENCH_S else 1


if __name__ == "__main__":
    sys.exit(main())
