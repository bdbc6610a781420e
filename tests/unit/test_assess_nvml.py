"""Missing or broken NVML: always a full report with a finding, never a traceback."""

import copy
import inspect
import json
import sys
from pathlib import Path

import pytest

from onprem_mlops.hwassess import assess, gpu_nvml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hwassess"
sys.path.insert(0, str(FIXTURES))
from fake_nvml import FakeNVML, loader, scenario  # noqa: E402

HEALTHY = json.loads((FIXTURES / "healthy-h100" / "nvml.json").read_text())


def run_with(spec, tree="healthy-h100"):
    kwargs = scenario(FIXTURES / tree)
    kwargs["nvml_loader"] = loader(spec)
    return assess(**kwargs)


def finding(doc, check_id):
    matches = [f for f in doc["findings"] if f["id"] == check_id]
    assert matches, [f["id"] for f in doc["findings"]]
    return matches[0]


def test_fake_matches_the_real_pynvml_api():
    """The fake must mock pynvml's real names and arity, or the tests prove nothing."""
    pynvml = pytest.importorskip("pynvml")
    for name, member in inspect.getmembers(FakeNVML, inspect.isfunction):
        if not name.startswith("nvml"):
            continue
        real = getattr(pynvml, name, None)
        assert real is not None, f"pynvml has no {name}"
        fake_params = list(inspect.signature(member).parameters)[1:]  # drop self
        real_params = [
            p
            for p in inspect.signature(real).parameters.values()
            if p.default is inspect.Parameter.empty
        ]
        assert len(fake_params) == len(real_params), name
    assert pynvml.NVML_ERROR_NOT_SUPPORTED == gpu_nvml.NOT_SUPPORTED


def test_library_missing_with_driver_loaded():
    doc = run_with({"import_error": "No module named 'pynvml'"})
    assert doc["nvml"]["status"] == "library_missing"
    f = finding(doc, "gpu-nvml-library-missing")
    assert f["severity"] == "warning" and "nvidia-ml-py" in f["remedy"]
    # The GPU on the bus is still reported, bound to the nvidia driver.
    invisible = finding(doc, "gpu-not-visible-to-nvml")
    assert "0000:3b:00.0" in invisible["message"]
    assert doc["cpu"]["physical_cores"] == 16  # the rest of the report is intact


def test_driver_library_mismatch_says_reboot():
    spec = dict(HEALTHY, init_error=18)
    doc = run_with(spec)
    assert doc["nvml"]["status"] == "init_failed"
    f = finding(doc, "gpu-nvml-error")
    assert f["severity"] == "critical"
    assert "mismatch" in f["message"] and "Reboot" in f["remedy"]


def test_loader_crashing_is_contained():
    def broken():
        raise OSError("libnvidia-ml.so.1: cannot open shared object file")

    kwargs = scenario(FIXTURES / "healthy-h100")
    kwargs["nvml_loader"] = broken
    doc = assess(**kwargs)
    assert doc["nvml"]["status"] == "library_missing"
    assert "cannot open shared object" in doc["nvml"]["error"]


def test_device_count_failure_yields_error_status_and_shutdown():
    spec = dict(HEALTHY, fail={"nvmlDeviceGetCount": 15})
    fake = FakeNVML(spec)
    status, gpus = gpu_nvml.probe(lambda: fake)
    assert status["status"] == "error" and "GPU is lost" in status["error"]
    assert gpus == []
    assert fake.calls[-1] == "nvmlShutdown"


def test_single_failing_query_is_recorded_not_raised():
    spec = dict(HEALTHY, fail={"nvmlDeviceGetTemperature": 15})
    doc = run_with(spec)
    gpu = doc["gpus"][0]
    assert gpu["temperature_c"] is None
    assert gpu["errors"] == ["nvmlDeviceGetTemperature: GPU is lost"]
    assert finding(doc, "gpu-query-errors")["severity"] == "warning"
    assert gpu["memory_total_bytes"] == 85520809984  # other queries still answered


def test_not_supported_is_silent():
    spec = copy.deepcopy(HEALTHY)
    spec["devices"][0].update(ecc_mode=None, ecc_errors=None, mig_mode=None, remapped_rows=None)
    doc = run_with(spec)
    gpu = doc["gpus"][0]
    assert gpu["ecc"]["supported"] is False and gpu["mig"] is None
    assert gpu["errors"] == []
    assert "gpu-ecc-disabled" not in {f["id"] for f in doc["findings"]}


def test_ecc_off_and_power_cap_and_row_remap_failure():
    spec = copy.deepcopy(HEALTHY)
    spec["devices"][0].update(
        ecc_mode=[0, 0],
        power_enforced_limit=200000,
        remapped_rows=[0, 1, 0, 1],
        persistence_mode=0,
        mig_mode=[0, 1],
    )
    doc = run_with(spec)
    got = {f["id"]: f["severity"] for f in doc["findings"]}
    assert got["gpu-ecc-disabled"] == "warning"
    assert got["gpu-power-limit-reduced"] == "warning"
    assert got["gpu-row-remap-failure"] == "critical"
    assert got["gpu-persistence-disabled"] == "info"
    assert got["gpu-mig-change-pending"] == "info"


def test_retired_pages_limit_on_older_gpus():
    spec = copy.deepcopy(HEALTHY)
    spec["devices"][0].update(
        name="Tesla V100-PCIE-32GB",
        remapped_rows=None,
        retired_pages={"single_bit": list(range(50)), "double_bit": list(range(10))},
        retired_pages_pending=1,
    )
    doc = run_with(spec)
    gpu = doc["gpus"][0]
    assert gpu["retired_pages"] == {"single_bit": 50, "double_bit": 10, "pending": True}
    assert gpu["known_model"]["key"] == "v100-pcie"
    got = {f["id"]: f["severity"] for f in doc["findings"]}
    assert got["gpu-retired-pages-limit"] == "critical"
    assert got["gpu-retired-pages-pending"] == "warning"


def test_handle_failure_keeps_other_gpus():
    spec = copy.deepcopy(HEALTHY)
    second = copy.deepcopy(spec["devices"][0])
    second["bus_id"] = "00000000:86:00.0"
    spec["devices"].append(second)
    fake = FakeNVML(spec)
    original = fake.nvmlDeviceGetHandleByIndex

    def handle(index):
        if index == 0:
            raise fake.NVMLError(15)
        return original(index)

    fake.nvmlDeviceGetHandleByIndex = handle
    status, gpus = gpu_nvml.probe(lambda: fake)
    assert status["status"] == "ok"
    assert gpus[0] == {"index": 0, "name": None, "errors": ["GPU is lost"]}
    assert gpus[1]["pci_bus_id"] == "0000:86:00.0"
