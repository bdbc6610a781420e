"""gpu-verify's sections without a GPU: null GPU fields, the GPU benchmark against the
datasheet (a fake torch whose clock the benchmark reads), the smoke and exporter entries."""

import copy
import re
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from onprem_mlops.gpuverify import fields, sections
from onprem_mlops.hwassess import assess, bench, gpu_models

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "hwassess"
sys.path.insert(0, str(FIXTURES))
from fake_nvml import scenario  # noqa: E402
from fake_torch import FakeGpu, FakeTorch, smoke_result  # noqa: E402


def healthy():
    return assess(**scenario(FIXTURES / "healthy-h100"))


# --- gpu_fields_missing ---------------------------------------------------------------------


def _schema_gpu_fields():
    """Dotted field names of the gpus[] section of docs/assessment-schema.md."""
    text = (ROOT / "docs" / "assessment-schema.md").read_text()
    section = text.split("## gpus[]", 1)[1].split("\n## ", 1)[0]
    out, stack = [], []
    for span in re.findall(r"`([^`]+)`", section, flags=re.S):
        if not re.match(r"[a-z_]+(\[\])?(\s*\{|$)", span):
            continue  # examples such as `0000:3b:00.0` or `"9.0"`
        last = None
        for token in re.findall(r"[a-z_]+(?:\[\])?|[{},]", span):
            if token == "{":
                stack.append(last)
                last = None
            elif token == "}":
                if last:
                    out.append(".".join([*stack, last]))
                stack.pop()
                last = None
            elif token == ",":
                if last:
                    out.append(".".join([*stack, last]))
                last = None
            else:
                last = token.removesuffix("[]")
        if last:
            out.append(".".join([*stack, last]))
    return out


def test_gpu_field_list_matches_the_schema_document():
    documented = _schema_gpu_fields()
    assert "ecc.volatile.corrected" in documented and "known_model.memory_gib" in documented
    assert len(documented) == len(set(documented))
    assert set(fields.GPU_FIELDS) == set(documented)


def test_every_field_of_a_healthy_gpu_is_set_except_retired_pages():
    doc = healthy()
    # H100: row remapping instead of page retirement, so NVML says "not supported".
    assert fields.gpu_fields_missing(doc) == ["gpus[0].retired_pages"]


def test_null_fields_are_named_per_gpu_and_null_objects_once():
    doc = healthy()
    second = copy.deepcopy(doc["gpus"][0])
    second["index"] = 1
    second["temperature_c"] = None
    second["ecc"]["volatile"]["uncorrected"] = None
    second["mig"] = None
    del second["uuid"]
    doc["gpus"].append(second)
    assert fields.gpu_fields_missing(doc) == [
        "gpus[0].retired_pages",
        "gpus[1].uuid",
        "gpus[1].temperature_c",
        "gpus[1].ecc.volatile.uncorrected",
        "gpus[1].retired_pages",
        "gpus[1].mig",
    ]


def test_no_gpu_is_not_reported_as_complete():
    for name in ("no-gpu", "gpu-no-driver"):
        doc = assess(**scenario(FIXTURES / name))
        assert fields.gpu_fields_missing(doc) == ["gpus"], name


def test_an_unreachable_gpu_misses_everything_but_its_index_and_errors():
    doc = healthy()
    doc["gpus"] = [{"index": 0, "name": None, "errors": ["GPU is lost"]}]
    missing = fields.gpu_fields_missing(doc)
    assert "gpus[0].index" not in missing and "gpus[0].errors" not in missing
    assert "gpus[0].name" in missing and "gpus[0].pcie" in missing and "gpus[0].ecc" in missing
    assert len(missing) == 19  # every top-level field but index and errors


def test_assessment_section_redacts_the_host_name_and_fails_without_nvml():
    kwargs = scenario(FIXTURES / "healthy-h100")
    from onprem_mlops.hwassess._fs import HostFS

    fs = HostFS(kwargs["root"], kwargs["disk_usage"])
    ok = sections.assessment(data_path="/data", nvml_loader=kwargs["nvml_loader"], host_fs=fs)
    assert ok["status"] == "ok" and ok["reason"] is None
    assert ok["document"]["host"]["hostname"] == "redacted"
    assert ok["gpu_fields_missing"] == ["gpus[0].retired_pages"]

    missing_lib = scenario(FIXTURES / "gpu-no-driver")["nvml_loader"]
    bad = sections.assessment(data_path="/data", nvml_loader=missing_lib, host_fs=fs)
    assert bad["status"] == "failed"
    assert bad["reason"].startswith("NVML library_missing")
    assert bad["gpu_fields_missing"] == ["gpus"]

    ecc = scenario(FIXTURES / "ecc-errors")
    ecc_fs = HostFS(ecc["root"], ecc["disk_usage"])
    sick = sections.assessment(data_path="/data", nvml_loader=ecc["nvml_loader"], host_fs=ecc_fs)
    assert sick["status"] == "failed" and "critical finding" in sick["reason"]


# --- the GPU benchmark and the datasheet ----------------------------------------------------


@pytest.fixture
def fake_gpus(monkeypatch):
    torch = FakeTorch(
        [
            FakeGpu("NVIDIA H100 PCIe", bf16_tflops=604.8, fp16_tflops=302.4, memory_gbs=1800),
            FakeGpu("Tesla T4", bf16_tflops=None, fp16_tflops=52.0, memory_gbs=256, h2d_gbs=12.5),
        ]
    )
    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=torch.clock))
    return torch


def test_gpu_benchmark_measures_every_figure(fake_gpus):
    result = bench.gpu_device(fake_gpus, 0)
    assert result["name"] == "NVIDIA H100 PCIe" and result["model"] == "h100-pcie"
    assert result["bf16_matmul_tflops"] == 604.8
    assert result["fp16_matmul_tflops"] == 302.4
    assert result["memory_bandwidth_gbs"] == 1800.0
    assert result["h2d_bandwidth_gbs"] == 25.0  # from pinned memory, not the 8 GB/s pageable
    assert fake_gpus.pinned_allocations == 1


def test_gpu_benchmark_synchronises_the_gpu_it_measures(fake_gpus):
    result = bench.gpu_device(fake_gpus, 1)
    assert set(fake_gpus.synchronized) == {("cuda", 1)}
    assert "bf16_matmul_tflops" not in result  # T4: no bf16 tensor cores
    assert result["fp16_matmul_tflops"] == 52.0 and result["h2d_bandwidth_gbs"] == 12.5


def test_datasheet_comparison_of_the_measured_figures(fake_gpus):
    result = bench.gpu_device(fake_gpus, 0)
    model = gpu_models.by_name("NVIDIA H100 PCIe")
    sheet = result["datasheet"]
    assert sheet["source"] == model.source
    assert sheet["bf16_matmul_tflops"] == {"peak": 756, "ratio": 0.8, "far_below": False}
    assert sheet["fp16_matmul_tflops"] == {"peak": 756, "ratio": 0.4, "far_below": True}
    assert sheet["memory_bandwidth_gbs"] == {"peak": 2000, "ratio": 0.9, "far_below": False}
    assert "h2d_bandwidth_gbs" not in sheet  # no link peaks in gpu_models

    rows = {row["figure"]: row for row in sections.comparison(result)}
    assert list(rows) == [
        "bf16_matmul_tflops",
        "fp16_matmul_tflops",
        "memory_bandwidth_gbs",
        "h2d_bandwidth_gbs",
    ]
    assert rows["fp16_matmul_tflops"] == {
        "figure": "fp16_matmul_tflops",
        "unit": "TFLOP/s",
        "measured": 302.4,
        "peak": 756,
        "ratio": 0.4,
        "far_below": True,
        "note": None,
    }
    assert rows["h2d_bandwidth_gbs"]["measured"] == 25.0
    assert rows["h2d_bandwidth_gbs"]["peak"] is None
    assert rows["h2d_bandwidth_gbs"]["note"] == sections.NO_LINK_PEAK


def test_comparison_of_an_unknown_model_and_a_missing_figure():
    rows = sections.comparison({"name": "NVIDIA Mystery", "fp16_matmul_tflops": 10.0})
    by = {row["figure"]: row for row in rows}
    assert by["fp16_matmul_tflops"]["note"].startswith("unknown model")
    assert by["fp16_matmul_tflops"]["ratio"] is None
    assert by["bf16_matmul_tflops"]["note"] == "not measured (bf16 unsupported)"


def test_benchmarks_section_flags_a_gpu_far_below_its_datasheet(fake_gpus):
    result = sections.benchmarks(fake_gpus, per_gpu_s=30)
    assert [d["status"] for d in result["devices"]] == ["ok", "ok"]
    assert result["status"] == "failed"
    assert "GPU 0: fp16_matmul_tflops 302.4 is 40% of 756" in result["reason"]
    t4 = result["devices"][1]
    assert t4["datasheet"]["fp16_matmul_tflops"]["ratio"] == 0.8  # 52 / 65


def test_benchmarks_section_abandons_a_hung_gpu(fake_gpus):
    release = threading.Event()
    fake_gpus.gpus[0].hang = release
    fake_gpus.gpus[0].fp16_tflops = 604.8
    try:
        result = sections.benchmarks(fake_gpus, per_gpu_s=0.3)
    finally:
        release.set()
    first, second = result["devices"]
    assert first["status"] == "error" and first["timed_out"] is True
    assert "exceeded its time budget of 0.3 s" in first["reason"]
    assert second["status"] == "ok" and second["fp16_matmul_tflops"] == 52.0
    assert result["status"] == "error" and result["reason"].startswith("GPU 0:")


def test_benchmarks_section_keeps_within_its_total_budget(fake_gpus):
    release = threading.Event()
    fake_gpus.gpus[0].hang = release
    fake_gpus.gpus.append(FakeGpu("NVIDIA H100 PCIe"))
    try:
        result = sections.benchmarks(fake_gpus, per_gpu_s=30, total_s=0.3)
    finally:
        release.set()
    assert [d["status"] for d in result["devices"]] == ["error", "error", "error"]
    assert result["devices"][0]["timed_out"] is True
    assert result["devices"][0]["duration_s"] < 2  # cut at the total, not at 30 s
    assert result["devices"][2]["reason"] == (
        "benchmark-gpu2 was not started: its time budget is used up"
    )


def test_benchmarks_section_without_devices_is_an_error():
    result = sections.benchmarks(FakeTorch([]), per_gpu_s=1)
    assert result == {
        "status": "error",
        "reason": "PyTorch reports no CUDA device",
        "devices": [],
    }


# --- smoke and exporter ---------------------------------------------------------------------


def _fake_run(metric, seen):
    def run(job):
        seen.append(job)
        return smoke_result(metric)

    return run


def test_smoke_section_runs_on_cuda_and_reports_the_verdict():
    seen = []
    result = sections.smoke(_fake_run(0.94761, seen))
    assert seen[0].device == "cuda"
    assert result["status"] == "ok" and result["passed"] is True and result["reason"] is None
    assert (result["metric_name"], result["metric"], result["bar"]) == ("roc_auc", 0.9476, 0.9)
    assert (result["precision"], result["device"]) == ("bf16-mixed", "NVIDIA H100 PCIe")
    assert result["epochs"] == 18 and result["data_s"] == 0.31 and result["train_s"] == 2.04
    assert 0 <= result["time_to_verdict_s"] < 5
    assert "not used" in result["mlflow"]


def test_smoke_section_below_the_bar_fails():
    result = sections.smoke(_fake_run(0.71, []))
    assert result["status"] == "failed" and result["passed"] is False
    assert result["reason"] == "roc_auc 0.7100 misses the bar 0.9"


def test_exporter_is_skipped_until_it_exists():
    skipped = sections.exporter()  # the real checkout: no exporter module today
    assert skipped["status"] == "skipped" and "has not landed" in skipped["reason"]
    found = sections.exporter(lambda name: name == "onprem_mlops.monitoring")
    assert found["status"] == "error" and found["module"] == "onprem_mlops.monitoring"
