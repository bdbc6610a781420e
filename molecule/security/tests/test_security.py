"""Phase 7's outputs and the measurements the security goals are stated in (docs/security.md)."""

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import run_playbook

REPORTS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "reports" / "security"
CONTAINER = f"onprem-molecule-{os.environ['MOLECULE_SCENARIO_NAME']}"
ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])


def published_port(port: int) -> str:
    out = subprocess.run(
        ["docker", "port", CONTAINER, f"{port}/tcp"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[0].rsplit(":", 1)[1]


def test_the_final_acceptance_ran_and_passed():
    suite = ET.parse(REPORTS / "acceptance.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert int(suite.get("tests")) >= 10
    assert int(suite.get("failures")) == 0 and int(suite.get("errors")) == 0
    names = {case.get("name") for case in suite.iter("testcase")}
    assert any(name.startswith("test_sshd_runs_with_the_recorded_settings") for name in names)


def test_the_security_concept_describes_this_host():
    concept = (REPORTS / "security-concept.md").read_text()
    assert CONTAINER in concept
    assert "public keys only" in concept
    assert "sntrup761x25519-sha512" in concept
    assert "`vault_mlflow_admin_password`" in concept  # every vault variable, no value
    assert "kernel.modules_disabled not set" in concept  # an exception, with its reason
    assert "## 9. Sign-off" in concept
    assert "CHANGE-ME" not in concept


def test_ssh_audit_through_the_firewall_finds_nothing():
    """Including the DHEat rate test: the firewall throttles new connections per source."""
    ssh_audit = shutil.which("ssh-audit")
    assert ssh_audit, "ssh-audit is not installed (make venv: .venv-audit)"
    run = subprocess.run([ssh_audit, "-j", "-p", published_port(22), "127.0.0.1"],
                         capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    report = json.loads(run.stdout)
    problems = [
        (kind, a["algorithm"], a["notes"]) for kind in ("kex", "key", "enc", "mac")
        for a in report[kind] if a.get("notes", {}).get("fail") or a.get("notes", {}).get("warn")
    ]  # fmt: skip
    assert problems == [] and report.get("recommendations", {}) == {}, (problems, report)
    assert not [n for n in report.get("additional_notes", []) if "DHEat" in n], report[
        "additional_notes"
    ]
    assert run.returncode == 0


def test_sslyze_finds_the_endpoint_compliant_with_mozilla_intermediate(tmp_path):
    sslyze = shutil.which("sslyze")
    assert sslyze, "sslyze is not installed (make venv: .venv-audit)"
    out = tmp_path / "sslyze.json"
    target = f"127.0.0.1:{published_port(443)}"
    # The platform's internal CA, fetched to the control node by prepare.yml.
    ca = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ca" / f"{CONTAINER}-ca.crt"
    run = subprocess.run(
        [sslyze, "--mozilla_config=intermediate", f"--certinfo_ca_file={ca}", f"--json_out={out}",
         target],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(rf"{re.escape(target)}: OK - Compliant\.", run.stdout), run.stdout[-3000:]
    result = json.loads(out.read_text())["server_scan_results"][0]["scan_result"]
    accepted = {
        version for version in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1", "tls_1_2", "tls_1_3")
        if result[f"{version}_cipher_suites"]["result"]["accepted_cipher_suites"]
    }  # fmt: skip
    assert accepted == {"tls_1_2", "tls_1_3"}


@pytest.fixture(scope="module")
def measurements():
    """Lynis and OpenSCAP inside the container (installs the audit tools: runs last)."""
    run = run_playbook(
        ROOT / "playbooks" / "security_audit.yml", {"onprem_reports_dir": str(REPORTS.parent)}
    )
    assert run.returncode == 0, run.output[-3000:]
    summary = (REPORTS / CONTAINER / "summary.json").read_text()
    # Kept next to the scenario's log, for docs/security.md (the scenario's own directory goes).
    (ROOT / ".cache" / "molecule-logs").mkdir(parents=True, exist_ok=True)
    (ROOT / ".cache" / "molecule-logs" / "security-measurements.json").write_text(summary)
    return json.loads(summary)


def test_zz_lynis_hardening_index(measurements):
    # Fresh image + openssh-server: 60 (scripts/bench-security.sh); the reference collection: 71.
    assert measurements["lynis_hardening_index"] >= 85, measurements


def test_zz_openscap_anssi_intermediary_pass_rate(measurements):
    # Fresh image: about 71 % (scripts/bench-security.sh); goal: >= 90 % of the applicable rules.
    assert measurements["oscap_pass_rate"] >= 90, measurements
    assert measurements["oscap_pass"] >= 60, measurements
