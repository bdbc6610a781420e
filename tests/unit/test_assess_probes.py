"""Single probes, parsers and benchmarks of the target-side assessment."""

import json
import time

import pytest

from onprem_mlops.hwassess import _fs, assess, bench, cgroup, collect, cpu, gpu_models, memory, pci
from onprem_mlops.hwassess import system as system_probe


def tree(tmp_path, files):
    for rel, content in files.items():
        path = tmp_path / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return _fs.HostFS(tmp_path, disk_usage=lambda p: (_ for _ in ()).throw(OSError(p)))


@pytest.mark.parametrize(
    ("text", "count"), [("0-3", 4), ("0-3,8,10-11", 7), ("5", 1), ("", None), ("x-y", None)]
)
def test_parse_cpu_list(text, count):
    assert _fs.parse_cpu_list(text) == count


@pytest.mark.parametrize(
    ("speed", "gen"),
    [
        ("2.5 GT/s PCIe", 1),
        ("8.0 GT/s PCIe", 3),
        ("16.0 GT/s", 4),
        ("32.0 GT/s PCIe", 5),
        ("Unknown", None),
        (None, None),
    ],
)
def test_link_generation(speed, gen):
    assert pci.link_generation(speed) == gen


def test_bus_ids_from_nvml_and_sysfs_compare_equal():
    assert pci.normalize_bus_id("00000000:3B:00.0") == "0000:3b:00.0"
    assert pci.normalize_bus_id("0000:3b:00.0") == "0000:3b:00.0"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("NVIDIA A10", "a10"),
        ("NVIDIA A100 80GB PCIe", "a100-pcie-80"),
        ("NVIDIA A100-SXM4-40GB", "a100-sxm-40"),
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 NVL", "h100-nvl"),
        ("NVIDIA L40S", "l40s"),
        ("NVIDIA L4", "l4"),
        ("Tesla T4", "t4"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("NVIDIA B200", None),
    ],
)
def test_gpu_model_names(name, key):
    model = gpu_models.by_name(name)
    assert (model.key if model else None) == key


def test_gpu_model_table_is_consistent():
    ids = [i for m in gpu_models.MODELS for i in m.pci_device_ids]
    assert len(ids) == len(set(ids))
    for m in gpu_models.MODELS:
        assert m.memory_gib > 0 and m.memory_bandwidth_gbs > 0 and m.fp16_tflops > 0
        assert m.source
        assert gpu_models.by_pci_id(m.pci_device_ids[0]).key == m.key


def test_cgroup_v1_limits(tmp_path):
    fs = tree(
        tmp_path,
        {
            "/proc/self/cgroup": "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n",
            "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "8589934592\n",
            "/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us": "250000\n",
            "/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cgroup.memory_limit(fs) == 8 << 30
    assert cgroup.cpu_limit(fs) == 2.5


def test_cgroup_v1_unlimited(tmp_path):
    fs = tree(
        tmp_path,
        {
            "/proc/self/cgroup": "12:memory:/\n",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
        },
    )
    assert cgroup.memory_limit(fs) is None


def test_cgroup_v2_limits(tmp_path):
    fs = tree(
        tmp_path,
        {
            "/proc/self/cgroup": "0::/system.slice/job.service\n",
            "/sys/fs/cgroup/system.slice/job.service/memory.max": "17179869184\n",
            "/sys/fs/cgroup/system.slice/job.service/cpu.max": "400000 100000\n",
        },
    )
    assert cgroup.memory_limit(fs) == 16 << 30
    assert cgroup.cpu_limit(fs) == 4.0


def test_arm_cpu_flags(tmp_path):
    fs = tree(
        tmp_path,
        {
            "/proc/cpuinfo": "processor\t: 0\nFeatures\t: fp asimd sve\n"
            "CPU implementer\t: 0x41\n\nprocessor\t: 1\nFeatures\t: fp asimd sve\n"
        },
    )
    result = cpu.probe(fs)
    assert result["logical_cpus"] == 2
    assert result["instruction_sets"] == ["neon", "sve"]


def test_shm_size_option_units():
    assert memory._size_option("64m") == 64 << 20
    assert memory._size_option("8g") == 8 << 30
    assert memory._size_option("1024") == 1024
    assert memory._size_option("lots") is None


@pytest.mark.parametrize(
    ("data", "state"),
    [(bytes([6, 0, 0, 0, 1]), "enabled"), (bytes([6, 0, 0, 0, 0]), "disabled"), (None, "unknown")],
)
def test_secure_boot_states(tmp_path, data, state):
    files = {"/sys/firmware/efi/runtime": "1\n"}
    if data is not None:
        files[f"/sys/firmware/efi/efivars/SecureBoot-{system_probe.EFI_GLOBAL_GUID}"] = data
    assert system_probe._secure_boot(tree(tmp_path, files)) == state


def test_container_detection(tmp_path):
    assert (
        system_probe._container(tree(tmp_path, {"/proc/1/environ": "container=podman\0"}))
        == "podman"
    )
    assert (
        system_probe._container(tree(tmp_path / "k", {"/proc/1/cgroup": "0::/kubepods/x"}))
        == "kubernetes"
    )
    assert (
        system_probe._container(tree(tmp_path / "n", {"/proc/1/cgroup": "0::/init.scope"})) is None
    )


def test_a_crashing_probe_costs_only_its_section(monkeypatch, tmp_path):
    def boom(fs):
        raise RuntimeError("unexpected cpuinfo layout")

    monkeypatch.setattr(cpu, "probe", boom)
    doc = assess(str(tmp_path), nvml_loader=lambda: (_ for _ in ()).throw(ImportError("x")))
    assert "error" in doc["cpu"] and "RuntimeError" in doc["cpu"]["error"]
    errors = [f for f in doc["findings"] if f["id"] == "assessment-probe-error"]
    assert len(errors) == 1 and "cpu probe" in errors[0]["message"]
    assert isinstance(doc["memory"], dict) and "error" not in doc["memory"]


def test_empty_root_still_gives_a_document(tmp_path):
    doc = assess(str(tmp_path), nvml_loader=lambda: (_ for _ in ()).throw(ImportError("x")))
    assert doc["cpu"]["logical_cpus"] is None
    assert doc["disks"]["mounts"] == []
    assert "assessment-probe-error" not in {f["id"] for f in doc["findings"]}


def test_live_assessment_is_fast_and_serialisable():
    start = time.perf_counter()
    doc = assess()
    assert time.perf_counter() - start < 2.0
    assert doc["cpu"]["logical_cpus"] >= 1
    assert doc["memory"]["total_bytes"] > 0
    assert any(m["mountpoint"] == "/" for m in doc["disks"]["mounts"])
    json.dumps(doc)


def test_disk_and_memory_benchmarks(tmp_path):
    disk = bench.disk_sequential(str(tmp_path), 8)
    assert disk["status"] == "ok" and disk["write_mbps"] > 0 and disk["read_mbps"] > 0
    assert list(tmp_path.iterdir()) == []  # the test file is removed
    mem = bench.memory_bandwidth(16)
    assert mem["status"] == "ok" and mem["copy_gbs"] > 0


def test_benchmarks_skip_without_their_libraries(tmp_path):
    def no_module(name):
        raise ImportError(name)

    assert bench.cpu_matmul(no_module)["status"] == "skipped"
    assert bench.gpu(no_module) == {
        "status": "skipped",
        "reason": "PyTorch is not installed for this Python",
    }
    assert bench.disk_sequential(str(tmp_path / "missing"), 8)["status"] == "skipped"


def test_benchmarks_in_assessment_use_nearest_existing_dir(tmp_path):
    doc = collect.assess(benchmarks=True, data_path=str(tmp_path / "not" / "yet"), bench_disk_mib=4)
    assert doc["benchmarks"]["disk"]["path"] == str(tmp_path)
    assert doc["benchmarks"]["memory"]["status"] == "ok"


def test_datasheet_comparison_flags_far_below():
    model = gpu_models.by_name("NVIDIA H100 PCIe")
    result = bench.compare_with_datasheet(
        model, {"bf16_matmul_tflops": 300.0, "memory_bandwidth_gbs": 1800.0}
    )
    assert result["bf16_matmul_tflops"]["far_below"] is True  # 300 / 756
    assert result["memory_bandwidth_gbs"] == {"peak": 2000, "ratio": 0.9, "far_below": False}
    assert "fp16_matmul_tflops" not in result
    assert bench.compare_with_datasheet(None, {}) is None


def test_gpu_benchmark_finding():
    from onprem_mlops.hwassess import findings_gpu

    results = {
        "gpu": {
            "status": "ok",
            "devices": [
                {
                    "index": 0,
                    "name": "NVIDIA H100 PCIe",
                    "bf16_matmul_tflops": 300.0,
                    "datasheet": {
                        "bf16_matmul_tflops": {"peak": 756, "ratio": 0.397, "far_below": True}
                    },
                }
            ],
        },
        "disk": {"status": "ok", "write_mbps": 150.0, "read_mbps": 900.0},
    }
    got = {f["id"]: f for f in findings_gpu.bench_findings(results)}
    assert "40% of the datasheet peak 756" in got["bench-gpu-below-datasheet"]["message"]
    assert got["bench-disk-slow"]["severity"] == "warning"
