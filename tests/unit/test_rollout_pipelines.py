"""Scheduled model pipelines in `onprem-mlops rollout status` (rollout/pipelines.py and
playbooks/pipeline_status.yml). The last.json documents here are synthetic, in the form
`onprem-mlops pipeline run` writes (tests/unit/test_pipeline_steps.py runs the real one)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from onprem_mlops.cli import main
from onprem_mlops.rollout.pipelines import read_reports, render


def last(model: str, outcome: str, step: str, reason: str, finished: str) -> dict:
    return {"step": "run", "model": model, "outcome": outcome, "ended_at": step,
            "reason": reason, "started": finished, "finished": finished,
            "exit_status": 0}  # fmt: skip


UNIT_OK = "ActiveState=inactive\nResult=success\nExecMainExitTimestamp=Mon 2026-11-30 03:04:00 UTC"
UNIT_FAILED = (
    "ActiveState=failed\nResult=timeout\nExecMainExitTimestamp=Mon 2026-11-30 04:00:00 UTC"
)


def write_report(directory: Path, host: str, runs: list[dict], units: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    report = {"host": host, "collected": "2026-12-01T08:00:00+00:00", "runs": runs, "units": units}
    (directory / f"{host}.json").write_text(json.dumps(report))


def test_outcomes_and_a_unit_that_failed_after_its_last_run(tmp_path):
    write_report(tmp_path, "gpu01", [
        last("predictive-maintenance", "promoted", "deploy-check", "version 3 is the champion",
             "2026-11-30T03:04:00+00:00"),
        last("stock-forecast", "rejected", "evaluate", "does not beat the champion",
             "2026-11-30T03:10:00+00:00"),
    ], [UNIT_OK, UNIT_FAILED])  # fmt: skip
    write_report(tmp_path, "gpu02", [
        last("demand", "failed", "validate-data", "column 'sales' is missing",
             "2026-11-30T03:00:00+00:00"),
    ], [UNIT_FAILED])  # fmt: skip
    states, problems = read_reports(tmp_path)
    assert problems == []
    assert [(s.host, s.model, s.failed) for s in states] == [
        ("gpu01", "predictive-maintenance", False),
        ("gpu01", "stock-forecast", True),  # the unit failed after the recorded rejection
        ("gpu02", "demand", True),
    ]
    assert "the service unit failed (Result=timeout" in states[1].reason
    assert "after the last recorded run (rejected)" in states[1].reason
    text = "\n".join(render(states))
    assert "Model pipelines (collected 2026-12-01 08:00 UTC or later):" in text
    assert "promoted  2026-11-30 03:04" in text
    assert "FAILED    2026-11-30 03:00" in text and "column 'sales' is missing" in text
    assert "2 pipeline(s) FAILED" in text


def test_no_reports_no_section_and_a_broken_report_is_named(tmp_path):
    assert render(read_reports(tmp_path / "none")[0]) == []
    tmp_path.joinpath("bad.json").write_text("{not json")
    states, problems = read_reports(tmp_path)
    assert states == [] and len(problems) == 1 and "bad.json: not a pipeline report" in problems[0]


INVENTORY = """---
all:
  children:
    gpu_nodes:
      hosts:
        gpu01:
          ansible_connection: local
          ansible_become: false
          ansible_python_interpreter: {python}
          model_pipeline_state_dir: {state}
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    (state / "pm").mkdir(parents=True)
    (state / "pm" / "last.json").write_text(json.dumps(last(
        "pm", "failed", "deploy-check", "serving did not answer as version 4 within 180 s; "
        "the alias is back on version 3", "2026-12-01T03:05:00+00:00",
    )))  # fmt: skip
    (tmp_path / "hosts.yml").write_text(INVENTORY.format(python=sys.executable, state=state))
    return tmp_path


def status(site: Path, *args: str) -> int:
    return main(["rollout", "status", "-i", str(site / "hosts.yml"),
                 "--reports-dir", str(site / "reports"), *args])  # fmt: skip


def test_status_collects_the_pipelines_with_the_real_playbook(site, capsys):
    assert status(site) == 0
    assert "Model pipelines" not in capsys.readouterr().out  # nothing collected yet
    assert status(site, "--pipelines") == 0
    out = capsys.readouterr().out
    assert "Model pipelines (collected" in out
    assert "gpu01            pm" in out and "FAILED" in out
    assert "at deploy-check: serving did not answer as version 4 within 180 s" in out
    report = json.loads((site / "reports" / "pipelines" / "gpu01.json").read_text())
    assert report["host"] == "gpu01" and report["runs"][0]["model"] == "pm"
    # Plain status shows what was collected, without contacting the host.
    (site / "state" / "pm" / "last.json").unlink()
    assert status(site) == 0
    assert "at deploy-check: serving did not answer" in capsys.readouterr().out
