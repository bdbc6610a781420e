"""The assessment on the synthetic host trees, NVML faked at the pynvml function boundary."""

import json
import sys
from pathlib import Path

import pytest

from onprem_mlops.hwassess import SCHEMA_VERSION, assess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hwassess"
sys.path.insert(0, str(FIXTURES))
from fake_nvml import scenario  # noqa: E402

SCENARIOS = ["healthy-h100", "pcie-x8-degraded", "ecc-errors", "gpu-no-driver", "no-gpu"]


def run(name, **overrides):
    kwargs = scenario(FIXTURES / name)
    kwargs.update(overrides)
    return assess(**kwargs)


def ids(doc, severity=None):
    return {f["id"] for f in doc["findings"] if severity is None or f["severity"] == severity}


def by_id(doc, check_id):
    return [f for f in doc["findings"] if f["id"] == check_id]


@pytest.mark.parametrize("name", SCENARIOS)
def test_document_shape(name):
    doc = run(name)
    assert doc["schema_version"] == SCHEMA_VERSION
    for section in (
        "generated_at",
        "host",
        "cpu",
        "memory",
        "disks",
        "network",
        "os",
        "nvml",
        "gpus",
        "pci_nvidia_devices",
        "findings",
    ):
        assert section in doc, section
    assert "benchmarks" not in doc  # off by default
    assert json.loads(json.dumps(doc)) == doc  # plain JSON types only
    for f in doc["findings"]:
        assert set(f) == {"id", "severity", "message", "remedy"}
        assert f["severity"] in {"critical", "warning", "info"}
        assert f["message"] and f["remedy"]
    assert "assessment-probe-error" not in ids(doc)


def test_healthy_h100_inventory():
    doc = run("healthy-h100")
    cpu = doc["cpu"]
    assert (cpu["sockets"], cpu["physical_cores"], cpu["logical_cpus"]) == (2, 16, 32)
    assert {"avx2", "avx512f", "amx_tile", "amx_bf16"} <= set(cpu["instruction_sets"])
    assert doc["memory"]["total_bytes"] == 263842212 * 1024
    assert doc["memory"]["ecc"] == {
        "visible": True,
        "controllers": 2,
        "mode": "SECDED",
        "corrected_errors": 0,
        "uncorrected_errors": 0,
    }
    mounts = {m["mountpoint"]: m for m in doc["disks"]["mounts"]}
    assert set(mounts) == {"/", "/boot/efi", "/data"}  # no pseudo fs, no docker overlays
    assert mounts["/data"]["media"] == "nvme" and mounts["/data"]["disk"] == "nvme1n1"
    assert mounts["/"]["disk"] == "nvme0n1"  # partition resolved to its disk
    assert {d["name"]: d["media"] for d in doc["disks"]["block_devices"]} == {
        "nvme0n1": "nvme",
        "nvme1n1": "nvme",
        "sda": "hdd",
    }
    assert doc["disks"]["data_path"]["available_bytes"] == 7_100_000_000_000
    nics = {i["name"]: i for i in doc["network"]["interfaces"]}
    assert nics["ens1f0np0"]["speed_mbps"] == 25000 and nics["ens1f0np0"]["mtu"] == 9000
    assert nics["ens1f1np1"]["speed_mbps"] is None  # link down: no speed
    assert nics["docker0"]["physical"] is False and "lo" not in nics
    osd = doc["os"]
    assert osd["distribution"]["id"] == "ubuntu" and osd["distribution"]["version_id"] == "22.04"
    assert osd["kernel"] == "5.15.0-105-generic"
    assert (osd["boot_mode"], osd["secure_boot"]) == ("uefi", "disabled")
    assert osd["kernel_headers"] is True and osd["nouveau_loaded"] is False
    assert osd["iommu"]["enabled"] and osd["iommu"]["passthrough"]
    assert osd["virtualization"] == "none" and osd["container"]["detected"] is False
    runtimes = osd["container_runtimes"]
    assert runtimes["docker"] and runtimes["nvidia_container_toolkit"]


def test_healthy_h100_gpu():
    doc = run("healthy-h100")
    assert doc["nvml"] == {
        "status": "ok",
        "error": None,
        "driver_version": "550.54.15",
        "cuda_driver_version": "12.4",
        "device_count": 1,
    }
    (gpu,) = doc["gpus"]
    assert gpu["name"] == "NVIDIA H100 PCIe"  # bytes from old pynvml decoded
    assert gpu["pci_bus_id"] == "0000:3b:00.0"
    assert gpu["memory_total_bytes"] == 85520809984
    assert gpu["compute_capability"] == "9.0"
    assert gpu["pcie"] == {
        "current_generation": 5,
        "max_generation": 5,
        "current_width": 16,
        "max_width": 16,
    }
    assert gpu["power"]["limit_w"] == 350.0
    assert gpu["ecc"]["enabled"] is True
    assert gpu["retired_pages"] is None  # Hopper: row remapping instead (NotSupported)
    assert gpu["remapped_rows"]["pending"] is False
    assert gpu["throttle_reasons"] == ["gpu_idle"]
    assert gpu["persistence_mode"] is True and gpu["mig"] == {"enabled": False, "pending": False}
    assert gpu["known_model"]["key"] == "h100-pcie"
    assert gpu["errors"] == []
    # The NVIDIA bridge-class device and the Intel host bridge are not GPUs.
    (pci,) = doc["pci_nvidia_devices"]
    assert pci["address"] == gpu["pci_bus_id"] and pci["driver"] == "nvidia"
    # Nothing to fix on a healthy host.
    assert ids(doc, "critical") == set() and ids(doc, "warning") == set()


def test_pcie_x8_is_a_warning_with_the_expected_width():
    doc = run("pcie-x8-degraded")
    (width,) = by_id(doc, "gpu-pcie-width-degraded")
    assert width["severity"] == "warning"
    assert "runs at PCIe x8, expected x16" in width["message"]
    assert "reseat" in width["remedy"].lower() and "BIOS" in width["remedy"]
    # A link idling at Gen1 is normal power saving: information only.
    (gen,) = by_id(doc, "gpu-pcie-gen-below-max")
    assert gen["severity"] == "info" and "Gen1" in gen["message"]


def test_ecc_errors_are_critical():
    doc = run("ecc-errors")
    gpu = doc["gpus"][0]
    assert gpu["ecc"]["volatile"] == {"corrected": 3, "uncorrected": 2}
    assert gpu["remapped_rows"] == {
        "corrected": 3,
        "uncorrected": 2,
        "pending": True,
        "failure": False,
    }
    assert gpu["throttle_reasons"] == ["gpu_idle", "hw_thermal_slowdown"]
    assert ids(doc, "critical") == {"gpu-ecc-uncorrected"}
    assert {
        "gpu-remapped-rows-pending",
        "gpu-throttled",
        "gpu-temperature-high",
        "memory-ecc-corrected",
    } <= ids(doc, "warning")
    assert doc["findings"][0]["id"] == "gpu-ecc-uncorrected"  # sorted by severity
    assert "RMA" in doc["findings"][0]["remedy"]


def test_gpu_on_pci_without_driver():
    doc = run("gpu-no-driver")
    assert doc["nvml"]["status"] == "library_missing" and doc["gpus"] == []
    devices = {d["address"]: d for d in doc["pci_nvidia_devices"]}
    assert devices["0000:3b:00.0"]["driver"] == "nouveau"
    assert devices["0000:3b:00.0"]["known_model"]["memory_gib"] == 80  # sized from the PCI id
    assert devices["0000:86:00.0"]["driver"] is None
    assert devices["0000:86:00.0"]["known_model"] is None
    invisible = by_id(doc, "gpu-not-visible-to-nvml")
    assert len(invisible) == 2
    assert any(
        "0000:86:00.0" in f["message"] and "no driver bound" in f["message"] for f in invisible
    )
    assert any("bound to nouveau" in f["message"] for f in invisible)
    assert by_id(doc, "os-nouveau-loaded")[0]["severity"] == "critical"
    assert {"os-secure-boot-enabled", "os-kernel-headers-missing"} <= ids(doc, "warning")
    assert doc["os"]["secure_boot"] == "enabled"
    # The driver is not loaded: a missing pynvml is not the problem to report.
    assert "gpu-nvml-library-missing" not in ids(doc)


def test_no_gpu_host():
    doc = run("no-gpu")
    assert doc["gpus"] == [] and doc["pci_nvidia_devices"] == []
    assert doc["nvml"]["status"] == "init_failed"
    assert "Library Not Found" in doc["nvml"]["error"]
    assert ids(doc) >= {"gpu-none", "memory-ecc-not-visible", "network-no-fast-link"}
    assert not {i for i in ids(doc) if i.startswith("gpu-") and i != "gpu-none"}
    assert not {i for i in ids(doc) if i in {"os-nouveau-loaded", "os-kernel-headers-missing"}}
    assert doc["cpu"]["vendor"] == "AuthenticAMD" and doc["cpu"]["physical_cores"] == 16
    assert doc["memory"]["shm_bytes"] == 32831192 * 1024  # from the mount's size= option
    assert doc["os"]["boot_mode"] == "bios" and doc["os"]["secure_boot"] == "not_applicable"
    assert doc["disks"]["data_path"] == {
        "path": "/srv",
        "exists": True,
        "mountpoint": "/",
        "available_bytes": 401_000_000_000,
        "size_bytes": 472_000_000_000,
        "media": "ssd",
    }
