"""Run the sections under their time budgets and print one JSON document.

Exit status: 0 every section ok (the exporter may be skipped), 1 a section failed or erred,
2 usage error, 3 no usable CUDA device (PyTorch missing or sees no GPU; the assessment and
the recording still run, so the document shows why).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from onprem_mlops.gpuverify import FORMAT_VERSION, machine, recording, sections
from onprem_mlops.gpuverify.budget import Deadline, Outcome, abandoned, run_with_budget
from onprem_mlops.gpuverify.recorder_fs import RecordingHostFS
from onprem_mlops.gpuverify.recorder_nvml import NvmlRecorder
from onprem_mlops.hwassess import gpu_nvml
from onprem_mlops.hwassess._fs import DiskUsage, HostFS
from onprem_mlops.hwassess.collect import DEFAULT_DATA_PATH

SECTIONS = ("assessment", "smoke", "benchmarks", "exporter")
# Seconds per section; the benchmarks get BENCH_BASE_S plus BENCH_PER_GPU_S per GPU, at most
# BENCH_MAX_S. The sum stays under the 8 minutes the script promises, with setup included.
BUDGETS_S = {"assessment": 60.0, "smoke": 150.0, "exporter": 10.0, "recording": 45.0}
BENCH_BASE_S, BENCH_PER_GPU_S, BENCH_MAX_S = 10.0, 40.0, 170.0
BENCH_MARGIN_S = 2.0  # the GPUs' own budgets end this much before the section's
DEFAULT_TOTAL_S = 440.0
TOOL = "scripts/gpu-verify.sh"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_CUDA = 0, 1, 2, 3


@dataclass
class Environment:
    """What the run touches; tests replace it with fixture trees and fakes."""

    importer: Callable[[str], Any] = importlib.import_module
    nvml_loader: Callable[[], Any] = gpu_nvml.import_pynvml
    root: str = "/"
    disk_usage: DiskUsage | None = None
    smoke_run: Callable[[Any], Any] | None = None  # default: onprem_mlops.smoke.train.run
    bench_device: Callable[[Any, int], dict[str, Any]] | None = None  # default: bench.gpu_device
    exporter_exists: Callable[[str], bool] | None = None
    budgets_s: dict[str, float] = field(default_factory=lambda: dict(BUDGETS_S))
    bench_per_gpu_s: float = BENCH_PER_GPU_S
    stderr: TextIO = field(default_factory=lambda: sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpu-verify",
        description="Verify this machine's NVIDIA GPUs: assessment through NVML, GPU "
        "micro-benchmarks against the datasheet, the smoke training on CUDA. Prints one JSON "
        "document on standard output, progress on standard error.",
    )
    parser.add_argument(
        "--record",
        metavar="DIR",
        help="also write a recording of this machine as an assessment fixture into DIR "
        "(new or empty), e.g. tests/fixtures/hwassess/<name>",
    )
    parser.add_argument(
        "--data-path",
        default=DEFAULT_DATA_PATH,
        help=f"the assessment's data path (default {DEFAULT_DATA_PATH})",
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=DEFAULT_TOTAL_S,
        metavar="SECONDS",
        help=f"overall budget for all sections (default {DEFAULT_TOTAL_S:g})",
    )
    return parser


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _log(env: Environment, message: str) -> None:
    print(f"gpu-verify: {message}", file=env.stderr, flush=True)


def preflight(importer: Callable[[str], Any]) -> tuple[Any, str | None]:
    """(torch or None, why CUDA cannot be used or None)."""
    try:
        torch = importer("torch")
    except Exception as exc:
        return None, f"PyTorch is not importable ({type(exc).__name__}: {exc})"
    try:
        available = bool(torch.cuda.is_available())
    except Exception as exc:
        return torch, f"torch.cuda.is_available() failed: {exc}"
    if not available:
        built = getattr(getattr(torch, "version", None), "cuda", None)
        build = f"built for CUDA {built}" if built else "a CPU-only build"
        return torch, (
            f"no CUDA device: PyTorch {getattr(torch, '__version__', '?')} ({build}) sees no "
            "GPU; check the driver (nvidia-smi) and CUDA_VISIBLE_DEVICES"
        )
    return torch, None


def _entry(outcome: Outcome) -> dict[str, Any]:
    """A section's part of the document from its budgeted outcome."""
    if outcome.ok:
        value = outcome.value if isinstance(outcome.value, dict) else {"value": outcome.value}
        return {"status": value.get("status", "ok"), **value, "duration_s": outcome.duration_s}
    entry: dict[str, Any] = {"status": "error", "reason": outcome.error}
    if outcome.timed_out:
        entry["timed_out"] = True
    if outcome.trace:
        entry["trace"] = outcome.trace
    entry["duration_s"] = outcome.duration_s
    return entry


def finite(value: Any) -> Any:
    """NaN and infinities as null, so that the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def verify(args: argparse.Namespace, env: Environment) -> tuple[dict[str, Any], int]:
    """Run the selected sections; return (document, exit status)."""
    start = time.monotonic()
    deadline = Deadline(args.time_budget)
    selected = [s.strip() for s in args.sections.split(",") if s.strip()]
    doc: dict[str, Any] = {
        "tool": TOOL,
        "format_version": FORMAT_VERSION,
        "started_at": _now(),
        "duration_s": None,
        "machine": {},
        "sections": {},
        "errors": [],
    }
    errors: list[str] = doc["errors"]

    def run(name: str, fn: Callable[[], dict[str, Any]], budget_s: float) -> dict[str, Any]:
        _log(env, f"{name}: running (budget {deadline.clip(budget_s):.0f} s)")
        entry = _entry(run_with_budget(fn, deadline.clip(budget_s), name))
        _log(env, f"{name}: {entry['status']} in {entry['duration_s']} s")
        return entry

    def skip(reason: str, status: str = "skipped") -> dict[str, Any]:
        return {"status": status, "reason": reason}

    torch, no_cuda = preflight(env.importer)
    if no_cuda:
        _log(env, f"error: {no_cuda}")
        errors.append(f"preflight: {no_cuda}")

    fs_recorder: RecordingHostFS | None = None
    nvml_recorder: NvmlRecorder | None = None
    host_fs = HostFS(env.root, env.disk_usage)
    nvml_loader = env.nvml_loader
    if args.record:
        fs_recorder = RecordingHostFS(env.root, env.disk_usage)
        host_fs = fs_recorder
        nvml_recorder = NvmlRecorder()
        nvml_loader = nvml_recorder.loader(env.nvml_loader)

    def assessment() -> dict[str, Any]:
        return sections.assessment(
            data_path=args.data_path, nvml_loader=nvml_loader, host_fs=host_fs
        )

    def smoke() -> dict[str, Any]:
        return sections.smoke(env.smoke_run)

    bench_budget_s = _bench_budget(torch, env, no_cuda)

    def benchmarks() -> dict[str, Any]:
        kwargs = {"measure": env.bench_device} if env.bench_device else {}
        inner_s = deadline.clip(bench_budget_s) - BENCH_MARGIN_S  # return before the outer cut
        return sections.benchmarks(
            torch, per_gpu_s=env.bench_per_gpu_s, total_s=max(inner_s, 0.0), **kwargs
        )

    def exporter() -> dict[str, Any]:
        return (
            sections.exporter(env.exporter_exists) if env.exporter_exists else sections.exporter()
        )

    plan: dict[str, tuple[Callable[[], dict[str, Any]], float, bool]] = {
        "assessment": (assessment, env.budgets_s["assessment"], False),
        "smoke": (smoke, env.budgets_s["smoke"], True),
        "benchmarks": (benchmarks, bench_budget_s, True),
        "exporter": (exporter, env.budgets_s["exporter"], False),
    }
    for name, (fn, budget_s, needs_cuda) in plan.items():
        if name not in selected:
            doc[name] = skip("not selected (--sections)")
        elif needs_cuda and no_cuda:
            doc[name] = skip(no_cuda, status="error")
        else:
            doc[name] = run(name, fn, budget_s)
    assessed = doc["assessment"].get("document") if "document" in doc["assessment"] else None
    doc["machine"] = machine.describe(assessed, torch)

    if args.record:
        if assessed is None:
            doc["recording"] = skip("the assessment did not complete: nothing to record", "error")
        else:

            def record() -> dict[str, Any]:
                assert fs_recorder is not None and nvml_recorder is not None
                return _record(Path(args.record), fs_recorder, nvml_recorder, args, doc, assessed)

            doc["recording"] = run("recording", record, env.budgets_s["recording"])

    for name in (*SECTIONS, "recording"):
        if name in doc:
            status, reason = doc[name]["status"], doc[name].get("reason")
            doc["sections"][name] = status
            if status in ("error", "failed") and reason != no_cuda:  # preflight said it once
                errors.append(f"{name}: {reason}")
    hung = abandoned()
    if hung:
        errors.append(f"still running when the document was printed: {', '.join(hung)}")
    doc["duration_s"] = round(time.monotonic() - start, 2)
    failed = any(status in ("error", "failed") for status in doc["sections"].values())
    code = EXIT_NO_CUDA if no_cuda else (EXIT_FAILED if failed else EXIT_OK)
    return finite(doc), code


def _bench_budget(torch: Any, env: Environment, no_cuda: str | None) -> float:
    count = 0 if no_cuda or torch is None else int(torch.cuda.device_count())
    return min(BENCH_BASE_S + env.bench_per_gpu_s * max(count, 1), BENCH_MAX_S)


def _record(
    dest: Path,
    fs: RecordingHostFS,
    nvml: NvmlRecorder,
    args: argparse.Namespace,
    doc: dict[str, Any],
    assessed: dict[str, Any],
) -> dict[str, Any]:
    recorded_at = doc["started_at"]
    description = (
        f"Recorded by {TOOL} --record on {recorded_at[:10]} (UTC) on "
        f"{machine.summary(doc['machine'])}"
    )
    result = recording.write_recording(
        dest,
        fs,
        nvml,
        data_path=args.data_path,
        machine=doc["machine"],
        description=description,
        recorded_at=recorded_at,
    )
    result["replay"] = recording.replay(dest, assessed)
    if result["replay"].get("checked") and not result["replay"]["gpus_equal"]:
        result["status"] = "failed"
        result["reason"] = "the recording does not replay the same GPU fields"
    return result


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    env = env or Environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections.split(",") if s.strip() and s.strip() not in SECTIONS]
    if unknown:
        parser.error(
            f"--sections: unknown {', '.join(unknown)} (choose from {', '.join(SECTIONS)})"
        )
    if args.record and "assessment" not in args.sections.split(","):
        parser.error("--record needs the assessment section")
    record_dir = Path(args.record) if args.record else None
    if (
        record_dir
        and record_dir.exists()
        and (not record_dir.is_dir() or any(record_dir.iterdir()))
    ):
        parser.error(f"--record: {record_dir} exists and is not an empty directory")
    if args.time_budget <= 0:
        parser.error("--time-budget must be positive")
    doc, code = verify(args, env)
    sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()
    return code


def run_cli() -> None:
    code = main()
    if abandoned():  # a hung section: do not wait for its thread at interpreter exit
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
