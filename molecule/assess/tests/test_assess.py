"""Phase 1 against the container: the report must match what the container really has."""

import json
import os
import subprocess
from pathlib import Path

import pytest

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
PROJECT = SCENARIO.parents[1]
REPORTS = EPHEMERAL / "reports"
PSEUDO = {"tmpfs", "devtmpfs", "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "shm"}


@pytest.fixture(scope="module")
def report():
    files = sorted((REPORTS / "assessment").glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def test_cpu_matches_nproc(host, report):
    assert report["cpu"]["usable_cpus"] == int(host.check_output("nproc"))
    processors = host.check_output("grep -c ^processor /proc/cpuinfo")
    assert report["cpu"]["logical_cpus"] == int(processors)


def test_memory_matches_meminfo(host, report):
    kib = int(host.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo"))
    assert report["memory"]["total_bytes"] == kib * 1024


def test_mounts_match_df(host, report):
    lines = host.check_output("df -B1 --output=target,fstype,size,avail").splitlines()[1:]
    real = {}
    for line in lines:
        target, fstype, size, avail = line.split()
        if fstype not in PSEUDO and host.file(target).is_directory:
            real[target] = (int(size), int(avail))
    reported = {m["mountpoint"]: m for m in report["disks"]["mounts"]}
    assert set(reported) == set(real)
    assert "/" in real
    for target, (size, avail) in real.items():
        assert reported[target]["size_bytes"] == size
        # Free space moves while the test runs (logs, apt): within 1 GiB.
        assert abs(reported[target]["available_bytes"] - avail) < 1 << 30


def test_data_path(host, report):
    data = report["disks"]["data_path"]
    assert data["path"] == "/srv" and data["exists"] is True
    assert data["mountpoint"] == host.check_output("df --output=target /srv | tail -1").strip()


def test_os_and_container(host, report):
    osd = report["os"]
    assert osd["distribution"]["id"] == "debian" and osd["distribution"]["version_id"] == "12"
    assert osd["kernel"] == host.check_output("uname -r")
    assert osd["architecture"] == host.check_output("uname -m")
    assert report["host"]["hostname"] == host.check_output("hostname")
    assert osd["container"] == {"detected": True, "type": "docker"}
    loaded = host.run("grep -q '^nouveau ' /proc/modules").rc == 0
    assert osd["nouveau_loaded"] == loaded


def test_network_interfaces(host, report):
    names = set(host.check_output("ls /sys/class/net").split()) - {"lo"}
    reported = {i["name"]: i for i in report["network"]["interfaces"]}
    assert set(reported) == names
    for name, iface in reported.items():
        assert iface["mtu"] == int(host.check_output(f"cat /sys/class/net/{name}/mtu"))


def test_gpus_match_the_pci_bus(host, report):
    nvidia = host.run("grep -l 0x10de /sys/bus/pci/devices/*/vendor").stdout.split()
    displays = [
        v
        for v in nvidia
        if host.file(v.replace("/vendor", "/class")).content_string.startswith("0x03")
    ]
    assert len(report["pci_nvidia_devices"]) == len(displays)
    if not displays:
        assert report["gpus"] == []
        assert "gpu-none" in {f["id"] for f in report["findings"]}


def test_findings_and_benchmarks(host, report):
    ids = {f["id"] for f in report["findings"]}
    assert "os-container" in ids
    assert "assessment-probe-error" not in ids
    bench = report["benchmarks"]
    assert bench["disk"]["status"] == "ok" and bench["disk"]["size_mib"] == 64
    assert bench["memory"]["status"] == "ok"
    assert host.run("ls -A /srv").stdout.strip() == ""  # benchmark file removed


def test_fleet_reports(report):
    name = report["host"]["hostname"]
    markdown = (REPORTS / "assessment" / "fleet-report.md").read_text()
    html = (REPORTS / "assessment" / "fleet-report.html").read_text()
    assert "# Fleet assessment" in markdown and "`os-container`" in markdown
    assert html.startswith("<!DOCTYPE html>") and "<table>" in html
    assert "Debian GNU/Linux 12 (bookworm)" in markdown and "Debian GNU/Linux 12" in html
    assert name != ""


def run_phase2(extra):
    result = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(PROJECT / "playbooks" / "phase2_plan.yml"),
            "-e",
            json.dumps(extra),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, " ".join((result.stdout + result.stderr).split())


def plan():
    return json.loads((REPORTS / "plan" / "capacity-plan.json").read_text())


def test_phase2_reports_a_gap_and_continues():
    result, output = run_phase2({"plan_workload_profiles": ["llm-7b-inference"]})
    assert result.returncode == 0, output[-2000:]
    (host_result,) = plan()["hosts"].values()
    assert host_result["status"] == "fail"
    assert any("add an NVIDIA GPU with at least 24 GB" in r for r in host_result["recommendations"])
    assert (REPORTS / "plan" / "capacity-plan.md").read_text().startswith("# Capacity plan")


def test_phase2_gate_fails_the_play_when_asked():
    result, output = run_phase2(
        {"plan_workload_profiles": ["llm-7b-inference"], "plan_fail_on_gap": True}
    )
    assert result.returncode != 0
    assert "Capacity gate failed for" in output


def test_phase2_passes_with_a_profile_the_host_meets():
    result, output = run_phase2(
        {
            "plan_workload_profiles": ["molecule-tiny"],
            "plan_fail_on_gap": True,
            "plan_profile_dirs": [str(SCENARIO / "files" / "tiny-profile.yml")],
        }
    )
    assert result.returncode == 0, output[-2000:]
    assert plan()["summary"]["pass"] == 1


def test_phase2_unknown_profile_is_a_clear_error():
    result, output = run_phase2({"plan_workload_profiles": ["llm-70b"]})
    assert result.returncode != 0
    # The callback may double the quotes: match the words.
    assert "unknown workload profile" in output and "llm-70b" in output
    assert "known: cv-finetuning" in output
