"""gpu-verify's document and time budgets, on a fixture tree with a fake NVML and fake torch."""

import io
import json
import math
import sys
import threading
from pathlib import Path

import pytest

from onprem_mlops.gpuverify import budget
from onprem_mlops.gpuverify.main import Environment, build_parser, main, verify
from onprem_mlops.hwassess import assess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hwassess"
sys.path.insert(0, str(FIXTURES))
import fake_torch  # noqa: E402
from fake_nvml import scenario  # noqa: E402
from fake_torch import FakeGpu, FakeTorch, smoke_result  # noqa: E402

TOP_LEVEL = [
    "tool",
    "format_version",
    "started_at",
    "duration_s",
    "machine",
    "sections",
    "errors",
    "assessment",
    "smoke",
    "benchmarks",
    "exporter",
]
HOSTNAME = (FIXTURES / "healthy-h100" / "root/proc/sys/kernel/hostname").read_text().strip()


def bench_result(torch, index):
    return {
        "index": index,
        "name": torch.cuda.get_device_name(index),
        "model": "h100-pcie",
        "bf16_matmul_tflops": 600.0,
        "fp16_matmul_tflops": 600.0,
        "memory_bandwidth_gbs": 1800.0,
        "h2d_bandwidth_gbs": 25.0,
        "datasheet": {
            "source": "datasheet",
            "bf16_matmul_tflops": {"peak": 756, "ratio": 0.794, "far_below": False},
            "fp16_matmul_tflops": {"peak": 756, "ratio": 0.794, "far_below": False},
            "memory_bandwidth_gbs": {"peak": 2000, "ratio": 0.9, "far_below": False},
        },
    }


def environment(torch=None, **overrides):
    kwargs = scenario(FIXTURES / "healthy-h100")
    torch = torch if torch is not None else FakeTorch([FakeGpu("NVIDIA H100 PCIe")])
    env = Environment(
        importer=fake_torch.importer(torch),
        nvml_loader=kwargs["nvml_loader"],
        root=kwargs["root"],
        disk_usage=kwargs["disk_usage"],
        smoke_run=lambda job: smoke_result(),
        bench_device=bench_result,
        exporter_exists=lambda name: False,
        stderr=io.StringIO(),
    )
    for key, value in overrides.items():
        setattr(env, key, value)
    return env


def args(*argv):
    return build_parser().parse_args(["--data-path", "/data", *argv])


def test_document_shape_and_exit_status():
    env = environment()
    doc, code = verify(args(), env)
    assert code == 0, doc["errors"]
    assert list(doc) == TOP_LEVEL
    assert doc["tool"] == "scripts/gpu-verify.sh" and doc["format_version"] == 1
    assert doc["sections"] == {
        "assessment": "ok",
        "smoke": "ok",
        "benchmarks": "ok",
        "exporter": "skipped",
    }
    assert doc["errors"] == []
    assert doc["started_at"].endswith("+00:00") and doc["duration_s"] >= 0
    assert doc["assessment"]["gpu_fields_missing"] == ["gpus[0].retired_pages"]
    assert doc["assessment"]["document"]["schema_version"] == "1.2"
    assert doc["smoke"]["passed"] is True and doc["smoke"]["precision"] == "bf16-mixed"
    device = doc["benchmarks"]["devices"][0]
    assert device["h2d_bandwidth_gbs"] == 25.0 and len(device["comparison"]) == 4
    for name in ("assessment", "smoke", "benchmarks", "exporter"):
        assert "duration_s" in doc[name], name
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text) == doc
    assert HOSTNAME not in text  # the machine is described without its name
    machine = doc["machine"]
    assert machine["gpus"] == ["NVIDIA H100 PCIe"]
    assert machine["cuda_devices"] == ["NVIDIA H100 PCIe"]
    assert (machine["nvidia_driver"], machine["cuda_driver"]) == ("550.54.15", "12.4")
    assert (machine["torch"], machine["torch_cuda"]) == ("2.13.0+cu128", "12.8")
    assert machine["cpu_model"] == "Intel(R) Xeon(R) Gold 5415+"
    assert machine["os"].startswith("Ubuntu 22.04")
    progress = env.stderr.getvalue()
    assert "gpu-verify: smoke: ok in" in progress and "benchmarks: running" in progress


def test_a_section_over_its_budget_is_an_error_and_the_rest_still_runs():
    release = threading.Event()

    def stuck(job):
        release.wait(10)
        return smoke_result()

    env = environment(smoke_run=stuck)
    env.budgets_s["smoke"] = 0.3
    try:
        doc, code = verify(args(), env)
        assert "gpu-verify-smoke" in budget.abandoned()
    finally:
        release.set()
    assert code == 1
    assert doc["smoke"]["status"] == "error" and doc["smoke"]["timed_out"] is True
    assert 0.25 <= doc["smoke"]["duration_s"] < 3
    assert "smoke: smoke exceeded its time budget of 0.3 s and was abandoned" in doc["errors"]
    assert "still running when the document was printed: gpu-verify-smoke" in doc["errors"]
    assert doc["sections"]["benchmarks"] == "ok"  # later sections still ran
    assert doc["sections"]["exporter"] == "skipped"


def test_the_overall_budget_caps_every_section():
    release = threading.Event()

    def stuck(job):
        release.wait(10)

    env = environment(smoke_run=stuck)
    try:
        doc, code = verify(args("--time-budget", "0.5"), env)
    finally:
        release.set()
    assert code == 1
    assert doc["smoke"]["timed_out"] is True
    assert doc["benchmarks"]["reason"] == ("benchmarks was not started: its time budget is used up")
    assert doc["sections"]["exporter"] == "error"
    assert doc["duration_s"] < 5


def test_a_failing_section_reports_its_exception():
    def broken(job):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    doc, code = verify(args(), environment(smoke_run=broken))
    assert code == 1
    assert doc["smoke"]["status"] == "error"
    assert doc["smoke"]["reason"] == (
        "RuntimeError: CUDA error: an illegal memory access was encountered"
    )
    assert "Traceback" in doc["smoke"]["trace"]
    assert doc["errors"] == [f"smoke: {doc['smoke']['reason']}"]


def test_without_cuda_the_assessment_runs_and_the_exit_status_is_3():
    env = environment(torch=FakeTorch([]))
    doc, code = verify(args(), env)
    assert code == 3
    assert doc["errors"][0].startswith("preflight: no CUDA device: PyTorch 2.13.0+cu128")
    assert len(doc["errors"]) == 1  # said once, not again per section
    assert doc["sections"] == {
        "assessment": "ok",
        "smoke": "error",
        "benchmarks": "error",
        "exporter": "skipped",
    }
    assert "no CUDA device" in doc["smoke"]["reason"]
    assert doc["assessment"]["document"]["gpus"][0]["name"] == "NVIDIA H100 PCIe"
    assert "error: no CUDA device" in env.stderr.getvalue()


def test_without_torch_the_exit_status_is_3():
    env = environment()
    env.importer = fake_torch.importer(None)
    doc, code = verify(args("--sections", "smoke"), env)
    assert code == 3
    assert doc["errors"] == [
        "preflight: PyTorch is not importable (ImportError: No module named 'torch')"
    ]
    assert doc["sections"]["assessment"] == "skipped" and doc["machine"]["torch"] is None


def test_sections_can_be_selected():
    doc, code = verify(args("--sections", "assessment,exporter"), environment())
    assert code == 0
    assert doc["smoke"] == {"status": "skipped", "reason": "not selected (--sections)"}
    assert doc["sections"]["benchmarks"] == "skipped"


def test_nan_is_written_as_null():
    env = environment(smoke_run=lambda job: smoke_result(metric=math.nan))
    doc, code = verify(args("--sections", "smoke"), env)
    assert doc["smoke"]["metric"] is None
    assert doc["smoke"]["status"] == "failed" and code == 1
    json.dumps(doc, allow_nan=False)


def test_record_writes_a_fixture_the_loader_reads_back(tmp_path):
    dest = tmp_path / "recorded-h100"
    doc, code = verify(args("--record", str(dest)), environment())
    assert code == 0, doc["errors"]
    assert list(doc)[-1] == "recording" and doc["sections"]["recording"] == "ok"
    assert doc["recording"]["replay"]["gpus_equal"] is True
    assert doc["recording"]["replay"]["identical"] is True
    assert sorted(p.name for p in dest.iterdir()) == [
        "disk_usage.json",
        "nvml.json",
        "root",
        "scenario.json",
    ]
    meta = json.loads((dest / "scenario.json").read_text())
    assert meta["recorded"] is True
    assert meta["description"] == (
        f"Recorded by scripts/gpu-verify.sh --record on {doc['started_at'][:10]} (UTC) on "
        "1x NVIDIA H100 PCIe, Intel(R) Xeon(R) Gold 5415+, Ubuntu 22.04.4 LTS, "
        "NVIDIA driver 550.54.15"
    )
    replayed = assess(**scenario(dest))
    assert replayed["gpus"] == doc["assessment"]["document"]["gpus"]
    assert HOSTNAME not in json.dumps(meta)


def test_main_prints_one_json_document(capsys):
    code = main(["--data-path", "/data", "--sections", "assessment"], environment())
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out)["sections"]["assessment"] == "ok"
    assert out.count("\n{") == 0 and out.startswith("{") and out.endswith("}\n")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sections", "assessment,gpu"], "--sections: unknown gpu"),
        (["--record", "x", "--sections", "smoke"], "--record needs the assessment section"),
        (["--time-budget", "0"], "--time-budget must be positive"),
    ],
)
def test_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv, environment())
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_a_used_record_directory_is_refused_before_anything_runs(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("keep me")
    env = environment(smoke_run=lambda job: pytest.fail("must not run"))
    with pytest.raises(SystemExit) as exc:
        main(["--record", str(tmp_path)], env)
    assert exc.value.code == 2
    assert "exists and is not an empty directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]


# --- budget ------------------------------------------------------------------------------


def test_run_with_budget_outcomes():
    ok = budget.run_with_budget(lambda: {"status": "ok"}, 5, "quick")
    assert ok.ok and ok.value == {"status": "ok"} and not ok.timed_out

    def boom():
        raise ValueError("bad")

    failed = budget.run_with_budget(boom, 5, "boom")
    assert failed.error == "ValueError: bad" and "raise ValueError" in failed.trace

    release = threading.Event()
    try:
        late = budget.run_with_budget(lambda: release.wait(10), 0.2, "late")
    finally:
        release.set()
    assert (
        late.timed_out and late.error == "late exceeded its time budget of 0.2 s and was abandoned"
    )
    assert 0.15 <= late.duration_s < 3

    never = budget.run_with_budget(lambda: pytest.fail("must not run"), 0, "never")
    assert never.error == "never was not started: its time budget is used up"


def test_deadline_clips_budgets():
    now = [100.0]
    deadline = budget.Deadline(60, clock=lambda: now[0])
    assert deadline.clip(150) == 60 and deadline.clip(10) == 10
    now[0] += 55
    assert deadline.clip(150) == pytest.approx(5)
    now[0] += 10
    assert deadline.remaining() == 0 and deadline.clip(10) == 0
