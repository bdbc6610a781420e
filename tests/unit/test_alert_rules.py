"""The platform's alert rules (roles/monitoring_server/files/onprem-mlops.rules.yml): valid for
Prometheus, each one tested to fire and not to fire (tests/prometheus/*.test.yml, run with
promtool from Debian's prometheus package, which make test unpacks into .cache/promtool), and
each one with its runbook paragraph in docs/operations.md."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "roles" / "monitoring_server" / "files" / "onprem-mlops.rules.yml"
TESTS = sorted((ROOT / "tests" / "prometheus").glob("*.test.yml"))
OPERATIONS = ROOT / "docs" / "operations.md"


def promtool() -> str:
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    unpacked = ROOT / ".cache" / "promtool" / "usr" / "bin" / "promtool"
    path = found or (str(unpacked) if unpacked.exists() else None)
    assert path, "promtool is missing: run `make promtool` (scripts/ensure-promtool.sh)"
    return path


def alerts() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_prometheus_accepts_the_rules():
    result = subprocess.run([promtool(), "check", "rules", str(RULES)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_every_rule_test_passes():
    result = subprocess.run([promtool(), "test", "rules", *map(str, TESTS)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert result.stdout.count("SUCCESS") == len(TESTS)


def rule_tests() -> list[dict]:
    return [case for path in TESTS for group in yaml.safe_load(path.read_text())["tests"]
            for case in group["alert_rule_test"]]  # fmt: skip


@pytest.mark.parametrize("name", sorted(alerts()))
def test_every_alert_is_tested_both_ways_and_has_a_runbook(name):
    cases = [c for c in rule_tests() if c["alertname"] == name]
    assert any(c.get("exp_alerts") for c in cases), f"{name}: no test where it fires"
    assert any(c.get("exp_alerts") == [] for c in cases), f"{name}: no test where it stays quiet"
    rule = alerts()[name]
    assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"
    assert rule["labels"]["severity"] in ("critical", "warning")
    section = re.search(rf"^### {name}\n(.+?)(?=^##|\Z)", OPERATIONS.read_text(), re.M | re.S)
    assert section, f"docs/operations.md has no '### {name}' runbook"
    assert len(section.group(1).split()) >= 40, f"{name}: the runbook says too little"
