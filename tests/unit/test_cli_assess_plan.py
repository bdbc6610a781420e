"""``onprem-mlops assess`` and ``onprem-mlops plan`` through the CLI entry point."""

import json
import sys
from pathlib import Path

import pytest

from onprem_mlops.cli import main
from onprem_mlops.hwassess import assess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hwassess"
sys.path.insert(0, str(FIXTURES))
from fake_nvml import scenario  # noqa: E402


def assess_json(capsys, *args):
    assert main(["assess", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_assess_prints_the_json_document(capsys):
    doc = assess_json(capsys)
    assert doc["schema_version"] == "1.2"
    assert doc["cpu"]["logical_cpus"] >= 1
    assert "benchmarks" not in doc


def test_assess_on_a_fixture_tree_with_report(capsys):
    root = FIXTURES / "gpu-no-driver" / "root"
    assert main(["assess", "--root", str(root), "--data-path", "/data", "--report"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Host gpu01")
    assert "PCI 0000:3b:00.0: H100 PCIe 80GB, driver nouveau" in out
    assert "[critical] os-nouveau-loaded" in out


def test_assess_writes_a_file(tmp_path, capsys):
    target = tmp_path / "me.json"
    assert main(["assess", "--root", str(FIXTURES / "no-gpu" / "root"), "-o", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(target.read_text())["host"]["hostname"] == "cpu01"


def test_assess_rejects_a_bad_benchmark_size(capsys):
    assert main(["assess", "--benchmarks", "--bench-disk-mib", "0"]) == 2
    assert "--bench-disk-mib must be at least 1, got 0" in capsys.readouterr().err


@pytest.fixture
def assessments(tmp_path):
    """Two fixture hosts as the playbook would store them: <host>.json."""
    directory = tmp_path / "assessment"
    directory.mkdir()
    for host, tree in (("gpu01", "healthy-h100"), ("cpu01", "no-gpu")):
        doc = assess(**scenario(FIXTURES / tree))
        (directory / f"{host}.json").write_text(json.dumps(doc))
    return directory


def test_plan_gap_exit_status_and_reports(assessments, tmp_path, capsys):
    assignments = tmp_path / "assign.yml"
    assignments.write_text("gpu01: [llm-7b-inference]\ncpu01: [llm-7b-inference]\n")
    out_dir = tmp_path / "plan"
    status = main(
        [
            "plan",
            "--assessments",
            str(assessments),
            "--assignments",
            str(assignments),
            "--output-dir",
            str(out_dir),
        ]
    )
    out = capsys.readouterr().out
    assert status == 3  # cpu01 has no GPU
    assert "cpu01: FAIL" in out and "gpu01: PASS" in out
    plan = json.loads((out_dir / "capacity-plan.json").read_text())
    assert plan["summary"]["failed_hosts"] == ["cpu01"]
    assert (out_dir / "capacity-plan.md").read_text().startswith("# Capacity plan")


def test_plan_passes_with_cli_assignment(assessments, tmp_path, capsys):
    status = main(
        [
            "plan",
            "--assessments",
            str(assessments / "gpu01.json"),
            "--assign",
            "gpu01=llm-7b-finetune,cv-finetuning",
            "--output-dir",
            str(tmp_path / "p"),
        ]
    )
    assert status == 0
    assert "gpu01: PASS" in capsys.readouterr().out


def test_plan_profile_for_all_hosts(assessments, tmp_path, capsys):
    status = main(
        [
            "plan",
            "--assessments",
            str(assessments),
            "--profile",
            "predictive-maintenance-tabular",
            "--output-dir",
            str(tmp_path / "p"),
        ]
    )
    assert status == 0
    plan = json.loads((tmp_path / "p" / "capacity-plan.json").read_text())
    assert set(plan["hosts"]) == {"gpu01", "cpu01"}
    assert all(h["status"] == "pass" for h in plan["hosts"].values())


def test_plan_unknown_profile(assessments, tmp_path, capsys):
    status = main(
        [
            "plan",
            "--assessments",
            str(assessments),
            "--assign",
            "gpu01=llm-70b",
            "--output-dir",
            str(tmp_path / "p"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "host gpu01: unknown workload profile 'llm-70b'" in err
    assert not (tmp_path / "p").exists()


def test_plan_malformed_admin_profile(assessments, tmp_path, capsys):
    extra = tmp_path / "profiles"
    extra.mkdir()
    (extra / "custom.yml").write_text(
        "profiles:\n  mine:\n    title: Mine\n    sizing_rule: x\n"
        "    gpu_memory_gb: {minimum: -4, recommended: 8}\n"
        "    system_ram_gb: {minimum: 8, recommended: 8}\n"
        "    cpu_cores: {minimum: 2, recommended: 2}\n"
        "    disk_gb: {minimum: 10, recommended: 10}\n"
        "    network_gbps: {minimum: 1, recommended: 1}\n"
    )
    status = main(
        [
            "plan",
            "--assessments",
            str(assessments),
            "--profiles-dir",
            str(extra),
            "--assign",
            "gpu01=mine",
            "--output-dir",
            str(tmp_path / "p"),
        ]
    )
    assert status == 2
    assert (
        f"{extra / 'custom.yml'}: profiles.mine.gpu_memory_gb.minimum: "
        "must be a number >= 0, got -4"
    ) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--assign", "gpu01"], "expected HOST=PROFILE"),
        (["--assessments", "/nonexistent/x"], "no such assessment file or directory"),
    ],
)
def test_plan_bad_arguments(assessments, tmp_path, capsys, args, message):
    argv = ["plan", "--output-dir", str(tmp_path / "p"), *args]
    if "--assessments" not in args:
        argv += ["--assessments", str(assessments)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_plan_rejects_non_assessment_json(tmp_path, capsys):
    bogus = tmp_path / "x.json"
    bogus.write_text('{"hello": 1}')
    assert main(["plan", "--assessments", str(bogus), "--output-dir", str(tmp_path)]) == 2
    assert "schema_version: expected 1.x" in capsys.readouterr().err


def test_list_profiles(capsys):
    assert main(["plan", "--list-profiles"]) == 0
    out = capsys.readouterr().out
    for name in (
        "llm-7b-finetune",
        "cv-finetuning",
        "retail-demand-forecasting",
        "predictive-maintenance-tabular",
    ):
        assert name in out
