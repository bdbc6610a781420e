#!/usr/bin/env python3
"""Time one round of the GPU collector (hwassess/gpu_exporter.py) on a synthetic 8-GPU host.

A round is what the service does every 15 s before writing the file: PCI probe (sysfs), NVML
probe, kernel log poll and rendering. The host is synthetic: a sysfs tree with 8 H100 SXM
devices in a temporary directory, NVML is tests/fixtures/hwassess/fake_nvml.py with
H100-like values (no driver, so no driver latency), the kernel log a file with a few Xid lines.
Usage: python3 scripts/bench_gpu_exporter.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "hwassess"))

from fake_nvml import FakeNVML  # noqa: E402

from onprem_mlops.hwassess import gpu_exporter  # noqa: E402

GPUS = 8
BUSES = ["18", "2a", "3a", "5d", "9a", "ab", "ba", "db"]  # a typical 8-GPU HGX board
KMSG = (
    "4,1893,86400123456,-;NVRM: Xid (PCI:0000:3a:00): 13, pid=4242, name=train.py, "
    "Graphics Exception: ESR 0x50e730=0x102000e\n"
    "4,1894,86400223456,-;NVRM: Xid (PCI:0000:9a:00): 31, pid=4242, name=train.py, MMU Fault\n"
)


def h100_sxm(index: int) -> dict[str, Any]:
    return {
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": f"GPU-00000000-0000-4000-8000-{index:012d}",
        "bus_id": f"00000000:{BUSES[index].upper()}:00.0",
        "memory_total": 85520809984,
        "memory_used": 61203283968,
        "compute_capability": [9, 0],
        "pcie": {"curr_gen": 5, "max_gen": 5, "curr_width": 16, "max_width": 16},
        "power_limit": 700000,
        "power_default_limit": 700000,
        "power_enforced_limit": 700000,
        "temperature": 61 + index,
        "utilization": {"gpu": 97, "memory": 58},
        "power_usage": 611000 + 1000 * index,
        "clocks": {"graphics": 1980, "sm": 1980, "memory": 2619},
        "ecc_mode": [1, 1],
        "ecc_errors": {
            "volatile": {"corrected": 0, "uncorrected": 0},
            "aggregate": {"corrected": 2, "uncorrected": 0},
        },
        "retired_pages": None,
        "retired_pages_pending": None,
        "remapped_rows": [0, 0, 0, 0],
        "clocks_event_reasons": 0,
        "persistence_mode": 1,
        "mig_mode": [0, 0],
    }


def sysfs_tree(root: Path) -> None:
    for bus in BUSES:
        device = root / "sys" / "bus" / "pci" / "devices" / f"0000:{bus}:00.0"
        device.mkdir(parents=True)
        for name, text in {
            "vendor": "0x10de",
            "device": "0x2330",
            "subsystem_device": "0x16c1",
            "class": "0x030200",
            "numa_node": "0" if bus < "80" else "1",
            "current_link_speed": "32.0 GT/s PCIe",
            "max_link_speed": "32.0 GT/s PCIe",
            "current_link_width": "16",
            "max_link_width": "16",
        }.items():
            (device / name).write_text(text + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    spec = {
        "import_error": None,
        "init_error": None,
        "driver_version": "550.54.15",
        "cuda_driver_version": 12040,
        "devices": [h100_sxm(i) for i in range(GPUS)],
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        sysfs_tree(root)
        kmsg = Path(tmp) / "kmsg"
        kmsg.write_text(KMSG)
        fake = FakeNVML(copy.deepcopy(spec))
        collector = gpu_exporter.Collector(str(root), str(kmsg), lambda: fake)
        start = time.perf_counter()
        text = collector.collect()  # the first round reads the kernel log from its start
        first = time.perf_counter() - start
        times = []
        for _ in range(args.rounds):
            fake.calls.clear()  # the fake records every call; keep it from growing
            start = time.perf_counter()
            text = collector.collect()
            times.append(time.perf_counter() - start)
        collector.close()
    times.sort()
    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(f"synthetic host: {GPUS} GPUs (fake NVML, no driver latency), {args.rounds} rounds")
    print(f"first round: {first * 1000:.2f} ms")
    print(f"round: median {statistics.median(times) * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms")
    print(f"output: {len(text.encode())} bytes, {series} series")
    return 0


if __name__ == "__main__":
    sys.exit(main())
