"""`onprem-mlops rollout` drives a real ansible-runner against the scenario's container.

The tests run in order and share one journal: refused before its predecessor, phase 0
passes, check mode, a failing gate, a changed inventory makes a pass stale, Ctrl-C, report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HOST = "onprem-molecule-rollout"
INVENTORY = f"""---
all:
  vars:
    ansible_connection: community.docker.docker
    ansible_user: root
    base_timezone: Etc/UTC
    # Needs a GPU with 16 GB and more: the container has none, so the capacity gate fails.
    plan_workload_profiles: [llm-7b-finetune]
  children:
    mlops_servers:
      hosts:
        {HOST}:
    gpu_nodes:
      hosts:
        {HOST}:
"""


# The CLI as an admin runs it: the project's ansible.cfg, not the one Molecule generates.
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "inventory").mkdir()
    (root / "inventory" / "hosts.yml").write_text(INVENTORY)
    return root


def rollout(site: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onprem_mlops", "rollout", *args,
         "-i", str(site / "inventory" / "hosts.yml"), "--reports-dir", str(site / "reports")],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env=ENV,
    )  # fmt: skip


def journal(site: Path) -> list[dict]:
    path = site / "reports" / "journal" / "inventory-hosts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def results(site: Path, phase: str) -> list[dict]:
    return [e for e in journal(site) if e["event"] == "result" and e["phase"] == phase]


def status_row(site: Path, phase: str) -> str:
    out = rollout(site, "status")
    assert out.returncode == 0, out.stderr
    return next(line for line in out.stdout.splitlines() if f" {phase} " in f"{line} ")


def test_a_phase_before_its_predecessor_is_refused(site):
    out = rollout(site, "run", "software")
    assert out.returncode == 1
    assert f"software on {HOST} refused: phase plan has not passed there" in out.stderr
    assert journal(site) == []  # refused: nothing run, nothing journaled


def test_phase0_passes_and_is_journaled(site):
    out = rollout(site, "run", "base")
    assert out.returncode == 0, out.stdout + out.stderr
    start, result = journal(site)
    assert start["event"] == "start" and start["hosts"] == [HOST]
    assert result["result"] == "done" and result["reason"] == ""
    assert result["recap"]["ok"] > 0 and result["recap"]["failed"] == 0
    assert result["changed_tasks"], "a first run of the base role changes something"
    assert result["inventory_hash"] and result["phase_hash"] and result["commit"]
    assert Path(result["artifacts"], "job_events").is_dir()  # ansible-runner's own record
    assert "done 20" in status_row(site, "base")


def test_check_mode_is_journaled_as_check_not_done(site):
    out = rollout(site, "run", "assess", "--check")
    assert out.returncode == 0, out.stdout + out.stderr
    (entry,) = results(site, "assess")
    assert entry["result"] == "check" and entry["check"] is True
    assert "check" in status_row(site, "assess")
    # Check mode passes no gate: the next phase is still refused.
    assert rollout(site, "run", "plan").returncode == 1


def test_a_failing_gate_is_journaled_as_failed(site):
    assert rollout(site, "run", "assess").returncode == 0
    assert (site / "reports" / "assessment" / f"{HOST}.json").is_file()
    out = rollout(site, "run", "plan", "-e", "plan_fail_on_gap=true")
    assert out.returncode == 1
    (entry,) = results(site, "plan")
    assert entry["result"] == "failed"
    assert "Capacity gate failed" in entry["reason"] and entry["recap"]["failed"] == 1
    assert "FAILED" in status_row(site, "plan")


def test_a_changed_inventory_makes_passed_gates_stale(site):
    inventory = site / "inventory" / "hosts.yml"
    before = inventory.read_text()
    inventory.write_text(before + "# the admin changed something\n")
    try:
        assert "stale" in status_row(site, "base")
    finally:
        inventory.write_text(before)
    assert "done" in status_row(site, "base")


def test_ctrl_c_leaves_a_parseable_journal(site):
    process = subprocess.Popen(
        [sys.executable, "-m", "onprem_mlops", "rollout", "run", "base", "--plain",
         "-i", str(site / "inventory" / "hosts.yml"), "--reports-dir", str(site / "reports")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env=ENV,
    )  # fmt: skip
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    for line in process.stdout:  # the playbook is under way once its tasks start
        if "base: Read which packages are installed" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 130, rest
    entries = journal(site)  # every line parses
    assert entries[-1]["result"] == "interrupted" and entries[-1]["phase"] == "base"
    assert "INTERRUPTED" in status_row(site, "base")
    left = subprocess.run(["pgrep", "-f", f"{site}/reports/runner"], capture_output=True)
    assert left.returncode == 1, "ansible-playbook still runs after the interruption"


def test_the_report_says_what_happened(site):
    out = rollout(site, "report", "--lang", "de")
    assert out.returncode == 0, out.stderr
    markdown = site / "reports" / "rollout" / "rollout-report.de.md"
    text = markdown.read_text(encoding="utf-8")
    assert HOST in text and "Capacity gate failed" in text
    assert (site / "reports" / "rollout" / "rollout-report.de.html").is_file()
