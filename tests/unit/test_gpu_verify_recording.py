"""gpu-verify --record: record an assessment (here of a fixture tree and the fake NVML), write
it in the fixtures' layout, load it back with the fixtures' loader and compare."""

import copy
import json
import sys
from pathlib import Path

import pytest

from onprem_mlops.gpuverify import recording
from onprem_mlops.gpuverify.recorder_fs import RecordingHostFS
from onprem_mlops.gpuverify.recorder_nvml import NvmlRecorder
from onprem_mlops.hwassess import assess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hwassess"
sys.path.insert(0, str(FIXTURES))
from fake_nvml import FakeNVML, loader, scenario  # noqa: E402

SCENARIOS = ["healthy-h100", "pcie-x8-degraded", "ecc-errors", "gpu-no-driver", "no-gpu"]
HEALTHY_NVML = json.loads((FIXTURES / "healthy-h100" / "nvml.json").read_text())
IGNORE = frozenset({"generated_at", "duration_s"})


def record(source, dest, nvml_loader=None):
    """Assess the scenario ``source`` through the recorders, write the recording to ``dest``."""
    kwargs = scenario(source)
    fs = RecordingHostFS(kwargs["root"], kwargs["disk_usage"])
    nvml = NvmlRecorder()
    doc = assess(
        host_fs=fs,
        nvml_loader=nvml.loader(nvml_loader or kwargs["nvml_loader"]),
        data_path=kwargs["data_path"],
    )
    summary = recording.write_recording(
        dest,
        fs,
        nvml,
        data_path=kwargs["data_path"],
        machine={"gpus": [g.get("name") for g in doc["gpus"]]},
        description="recorded in a unit test",
        recorded_at="2026-12-03T10:00:00+00:00",
    )
    return doc, summary, nvml


def files_under(root):
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.mark.parametrize("name", SCENARIOS)
def test_recording_replays_the_same_assessment(tmp_path, name):
    plain = assess(**scenario(FIXTURES / name))
    recorded, summary, _ = record(FIXTURES / name, tmp_path / name)
    assert summary["status"] == "ok" and summary["notes"] == []
    # Recording changes nothing about the assessment itself.
    assert recording.differences(plain, recorded, ignore=IGNORE) == []

    replayed = assess(**scenario(tmp_path / name))
    for field in ("nvml", "gpus", "pci_nvidia_devices"):
        assert replayed[field] == recorded[field], field
    assert replayed["host"]["hostname"] == recording.REDACTED_HOSTNAME
    replayed["host"]["hostname"] = recorded["host"]["hostname"]
    assert recording.differences(recorded, replayed, ignore=IGNORE) == []


def test_recorded_nvml_json_equals_the_hand_written_one(tmp_path):
    _, summary, nvml = record(FIXTURES / "healthy-h100", tmp_path / "rec")
    spec = json.loads((tmp_path / "rec" / "nvml.json").read_text())
    assert spec == nvml.spec()
    assert spec["devices"] == HEALTHY_NVML["devices"]
    for key in ("import_error", "init_error", "driver_version", "cuda_driver_version"):
        assert spec[key] == HEALTHY_NVML[key], key
    assert "fail" not in spec and summary["nvml_functions_unmapped"] == []
    assert summary["nvml_devices"] == 1


def test_recording_holds_only_what_the_probes_touched(tmp_path):
    _, summary, _ = record(FIXTURES / "healthy-h100", tmp_path / "rec")
    original = files_under(FIXTURES / "healthy-h100" / "root")
    recorded = files_under(tmp_path / "rec" / "root")
    for rel, path in recorded.items():
        if path.is_symlink():
            assert path.readlink() == original[rel].readlink(), rel
        elif path.name == ".keep" or path.stat().st_size == 0:
            continue  # directories and files whose existence alone was checked
        elif rel == "proc/sys/kernel/hostname":
            assert path.read_text() == "redacted\n"
        else:
            assert path.read_bytes() == original[rel].read_bytes(), rel
    # The host bridge is not NVIDIA (vendor read), so its device id was never read.
    assert "sys/bus/pci/devices/0000:00:00.0/vendor" in recorded
    assert "sys/bus/pci/devices/0000:00:00.0/device" not in recorded
    # Only the existence of the kernel headers' build directory was checked.
    assert "lib/modules/5.15.0-105-generic/build/Makefile" not in recorded
    assert "lib/modules/5.15.0-105-generic/build/.keep" in recorded
    assert (tmp_path / "rec/root/usr/bin/docker").read_bytes() == b""
    assert len(recorded) < len(original)
    assert summary["root_files"] == len(recorded)
    assert summary["links"] == 4 and summary["unreadable"] == [] and summary["too_large"] == []


def test_disk_usage_and_scenario_files(tmp_path):
    record(FIXTURES / "healthy-h100", tmp_path / "rec")
    usage = json.loads((tmp_path / "rec" / "disk_usage.json").read_text())
    fixture_usage = json.loads((FIXTURES / "healthy-h100" / "disk_usage.json").read_text())
    assert usage == fixture_usage  # every mount's statvfs was asked for, /dev/shm's too
    meta = json.loads((tmp_path / "rec" / "scenario.json").read_text())
    assert meta["recorded"] is True
    assert meta["data_path"] == "/data"
    assert meta["description"] == "recorded in a unit test"
    assert meta["recorded_at"] == "2026-12-03T10:00:00+00:00"
    assert meta["machine"] == {"gpus": ["NVIDIA H100 PCIe"]}
    assert meta["redacted"] == [
        "/proc/sys/kernel/hostname: host name replaced by 'redacted'",
        "/proc/1/environ: only container= kept (PID 1's environment may hold secrets)",
    ]


def test_secrets_in_pid1_environment_are_not_recorded(tmp_path):
    root = tmp_path / "host"
    (root / "proc/1").mkdir(parents=True)
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/1/environ").write_bytes(b"PATH=/bin\0API_TOKEN=s3cret\0container=podman\0")
    (root / "proc/sys/kernel/hostname").write_text("build-17.corp.example\n")
    fs = RecordingHostFS(root, lambda path: (1, 1))
    nvml = NvmlRecorder()
    doc = assess(host_fs=fs, nvml_loader=nvml.loader(loader({"init_error": 9})))
    assert doc["os"]["container"] == {"detected": True, "type": "podman"}
    recording.write_recording(
        tmp_path / "rec", fs, nvml, data_path="/srv", machine={}, description="d", recorded_at="t"
    )
    assert (tmp_path / "rec/root/proc/1/environ").read_bytes() == b"container=podman\0"
    assert (tmp_path / "rec/root/proc/sys/kernel/hostname").read_text() == "redacted\n"
    everything = b"".join(p.read_bytes() for p in (tmp_path / "rec").rglob("*") if p.is_file())
    assert b"s3cret" not in everything and b"corp.example" not in everything
    replayed = assess(**scenario(tmp_path / "rec"))
    assert replayed["os"]["container"] == doc["os"]["container"]
    assert replayed["nvml"] == doc["nvml"] and replayed["nvml"]["status"] == "init_failed"


def test_missing_pynvml_is_recorded_as_an_import_error(tmp_path):
    _, summary, nvml = record(FIXTURES / "gpu-no-driver", tmp_path / "rec")
    spec = nvml.spec()
    assert spec["import_error"] == "No module named 'pynvml'"
    assert spec["devices"] == [] and summary["nvml_devices"] == 0


def test_device_errors_stay_with_their_device(tmp_path):
    spec = copy.deepcopy(HEALTHY_NVML)
    second = copy.deepcopy(spec["devices"][0])
    second.update(uuid="GPU-2", bus_id="00000000:5E:00.0", temperature=41)
    second["fail"] = {"nvmlDeviceGetPowerManagementLimit": 15, "nvmlDeviceGetEccMode": 999}
    spec["devices"].append(second)
    spec["error_messages"] = {"999": "Unknown Error"}
    original, _, nvml = record(FIXTURES / "healthy-h100", tmp_path / "rec", loader(spec))
    assert original["gpus"][1]["errors"] == [
        "nvmlDeviceGetPowerManagementLimit: GPU is lost",
        "nvmlDeviceGetEccMode: Unknown Error",
    ]
    recorded = nvml.spec()
    assert "fail" not in recorded  # not spread to every device
    assert "fail" not in recorded["devices"][0]
    assert recorded["devices"][1]["fail"] == second["fail"]
    assert recorded["error_messages"] == {"15": "GPU is lost", "999": "Unknown Error"}
    replayed = assess(**scenario(tmp_path / "rec"))
    assert replayed["gpus"] == original["gpus"]


class _OldPynvml(FakeNVML):
    """An older nvidia-ml-py: throttle reasons under their old name, ctypes-style failures."""

    nvmlDeviceGetCurrentClocksEventReasons = None

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h):
        return h["clocks_event_reasons"]

    def nvmlDeviceGetMigMode(self, h):
        raise OSError("function nvmlDeviceGetMigMode not found in libnvidia-ml.so.1")


def test_an_older_pynvml_is_recorded_in_the_fakes_terms(tmp_path):
    original, summary, nvml = record(
        FIXTURES / "healthy-h100", tmp_path / "rec", lambda: _OldPynvml(HEALTHY_NVML)
    )
    assert original["gpus"][0]["throttle_reasons"] == ["gpu_idle"]
    device = nvml.spec()["devices"][0]
    assert device["clocks_event_reasons"] == 1
    assert device["fail"] == {"nvmlDeviceGetMigMode": 999}
    assert summary["nvml_functions_unmapped"] == []
    replayed = assess(**scenario(tmp_path / "rec"))
    assert replayed["gpus"] == original["gpus"]
    assert replayed["gpus"][0]["errors"] == [
        "nvmlDeviceGetMigMode: function nvmlDeviceGetMigMode not found in libnvidia-ml.so.1"
    ]


def test_replay_check_uses_the_checkouts_fake_nvml(tmp_path):
    original, _, _ = record(FIXTURES / "ecc-errors", tmp_path / "rec")
    original["host"]["hostname"] = recording.REDACTED_HOSTNAME  # as gpu-verify prints it
    result = recording.replay(tmp_path / "rec", original)
    assert result == {
        "checked": True,
        "gpus_equal": True,
        "identical": True,
        "differences": [],
        "differences_count": 0,
    }
    original["gpus"][0]["temperature_c"] = -1
    original["cpu"]["model"] = "changed"
    changed = recording.replay(tmp_path / "rec", original)
    assert changed["gpus_equal"] is False
    assert changed["differences"] == ["cpu.model", "gpus[0].temperature_c"]
    missing = recording.replay(tmp_path / "rec", original, fake_nvml=tmp_path / "nope.py")
    assert missing["checked"] is False


def test_differences_names_paths():
    a = {"x": 1, "l": [1, 2], "d": {"k": None}, "generated_at": "a"}
    b = {"x": 2, "l": [1], "d": {"k": None, "n": 0}, "generated_at": "b"}
    assert recording.differences(a, b, ignore=frozenset({"generated_at"})) == [
        "d.n",
        "l[1]",
        "x",
    ]
    assert recording.differences(a, a) == []


def test_a_recording_never_overwrites(tmp_path):
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "nvml.json").write_text("{}")
    with pytest.raises(FileExistsError):
        record(FIXTURES / "no-gpu", tmp_path / "rec")
    assert (tmp_path / "rec" / "nvml.json").read_text() == "{}"


def test_every_fixture_says_whether_it_was_recorded():
    metas = sorted(FIXTURES.glob("*/scenario.json"))
    assert len(metas) >= len(SCENARIOS)
    for path in metas:
        meta = json.loads(path.read_text())
        assert isinstance(meta.get("recorded"), bool), path
        if meta["recorded"]:
            assert meta["recorded_with"] == "scripts/gpu-verify.sh --record", path
            assert meta["recorded_at"] and meta["description"].startswith("Recorded by"), path
        else:
            assert "recorded_at" not in meta, path
    for name in SCENARIOS:  # the hand-written ones
        assert json.loads((FIXTURES / name / "scenario.json").read_text())["recorded"] is False
