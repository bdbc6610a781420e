"""The model pipeline's systemd units on the platform: drops arrive, the service runs.

The history drop is there before converge; the tests start the service for it, then let the
weekly drops arrive, which the path unit turns into runs. In order: a promotion, a second
promotion, a rejection, a refused drop (the unit fails, last.json says why), and nothing of
the MLflow password in the journal.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

UNIT = "onprem-model-pipeline-pm-pipeline"
DATA = "/srv/mlops/raw/pm-pipeline"
EXAMPLE = "/srv/mlops/raw/pm-example/drops"
LAST = "/var/lib/onprem-mlops/pipeline/pm-pipeline/last.json"
API = "https://localhost/api/2.0/mlflow"


def password() -> str:
    path = (
        Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
        / ".cache/platform/credentials/onprem-molecule-model_serving/mlflow-admin.password"
    )
    return path.read_text().strip()


def last(host) -> dict:
    out = host.run(f"cat {LAST}")
    return json.loads(out.stdout) if out.rc == 0 else {}


def champion(host) -> str | None:
    from conftest import container_http

    answer = container_http(
        host, "GET", f"{API}/registered-models/alias?name=pm-pipeline&alias=champion",
        auth=("admin", password()), cafile="/etc/ssl/certs/ca-certificates.crt",
    )  # fmt: skip
    return answer.json()["model_version"]["version"] if answer.status == 200 else None


def arrive(host, source: str, name: str | None = None) -> dict:
    """Copy a drop into the data directory; wait for the run the path unit starts."""
    before = last(host).get("started")
    target = f"{DATA}/{name or Path(source).name}"
    assert host.run(f"install -m 0640 -g mlops-data {source} {target}").rc == 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        now = last(host)
        active = host.run(f"systemctl is-active {UNIT}.service").stdout.strip()
        if now.get("started") != before and active != "activating":
            return now
        time.sleep(2)
    journal = host.run(f"journalctl -u {UNIT} -n 30 --no-pager").stdout
    raise AssertionError(f"no run after {name or source} arrived:\n{journal}")


def test_units_are_installed_and_the_timer_is_scheduled(host):
    assert host.service(f"{UNIT}.timer").is_enabled
    assert host.service(f"{UNIT}.path").is_enabled
    shown = host.run(f"systemctl show -p NextElapseUSecRealtime --value {UNIT}.timer").stdout
    assert shown.strip() and shown.strip() != "n/a", shown
    secret = host.file("/etc/onprem-mlops/pipeline/pm-pipeline/mlflow-password")
    assert (secret.mode, secret.user) == (0o600, "mlops-pipeline")
    unit = host.file(f"/etc/systemd/system/{UNIT}.service").content_string
    assert "User=mlops-pipeline" in unit and password() not in unit


def test_the_first_run_promotes_the_first_model(host):
    started = host.run(f"systemctl start {UNIT}.service")
    assert started.rc == 0, host.run(f"journalctl -u {UNIT} -n 40 --no-pager").stdout
    result = last(host)
    assert (result["outcome"], result["ended_at"]) == ("promoted", "promote"), result
    assert champion(host) == "1"


def test_a_new_drop_starts_a_run_that_promotes(host):
    result = arrive(host, f"{EXAMPLE}/01-week11.csv")
    assert result["outcome"] == "promoted", result
    assert champion(host) == "2"


def test_a_worse_challenger_is_rejected_and_the_service_succeeds(host):
    result = arrive(host, f"{EXAMPLE}/02-week12.csv")
    assert (result["outcome"], result["ended_at"]) == ("rejected", "evaluate"), result
    assert "does not beat the champion" in result["reason"]
    assert champion(host) == "2"
    assert host.run(f"systemctl is-failed {UNIT}.service").stdout.strip() != "failed"


def test_a_broken_drop_fails_the_unit_and_says_why(host):
    broken = "/tmp/broken.csv"
    host.run(f"cut -d, -f1-8 {EXAMPLE}/02-week12.csv > {broken}")  # no failure column
    result = arrive(host, broken, "99-broken.csv")
    try:
        assert (result["outcome"], result["ended_at"]) == ("failed", "validate-data"), result
        assert "failure" in result["reason"]
        assert host.run(f"systemctl is-failed {UNIT}.service").stdout.strip() == "failed"
        journal = host.run(f"journalctl -u {UNIT} --no-pager").stdout
        assert "failed at validate-data" in journal
        assert champion(host) == "2"
    finally:
        host.run(f"rm -f {DATA}/99-broken.csv; systemctl reset-failed {UNIT}.service")


def test_rollout_status_shows_the_failed_scheduled_run(tmp_path):
    """`onprem-mlops rollout status --pipelines` on the scenario's inventory: the real
    playbooks/pipeline_status.yml reads last.json of the refused drop's run from the host."""
    import subprocess

    result = subprocess.run(
        [Path(sys.executable).parent / "onprem-mlops", "rollout", "status", "--pipelines",
         "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--reports-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if " pm-pipeline " in x)
    assert "FAILED" in line and "at validate-data:" in line and "failure" in line, line


def test_the_password_is_not_in_the_journal_or_the_runs(host):
    secret = password()
    assert secret not in host.run(f"journalctl -u {UNIT} --no-pager").stdout
    runs = host.run("grep -rl -F -e %s /var/lib/onprem-mlops/pipeline || true", secret)
    assert runs.stdout.strip() == ""


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({"model_pipeline_schedule": "every monday"},
         r"model_pipeline_schedule 'every monday' is not a systemd calendar expression"),
        ({"model_pipeline_mlflow_password": "CHANGE_ME"},
         r"model_pipeline_mlflow_password is empty or a placeholder"),
        ({"model_pipeline_venv": "/opt/nowhere"},
         r"/opt/nowhere/bin/onprem-mlops has no 'pipeline run'"),
    ],
    ids=["schedule", "password", "venv"],
)  # fmt: skip
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    from conftest import assert_fails_before_change

    assert_fails_before_change(converge_with(extra_vars), expected)
