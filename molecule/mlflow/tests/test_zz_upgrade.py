"""Raising the MLflow pin migrates the schema after a dump; no run, metric or model is lost.

Runs last (file name): it moves the container from the scenario's older pin to the current
default of the role.
"""

import uuid
from pathlib import Path

import yaml
from mlflow_api import admin, call

ROLE_DEFAULTS = Path(__file__).resolve().parents[3] / "roles" / "mlflow" / "defaults" / "main.yml"


def alembic_revision(host) -> str:
    return host.check_output(
        "runuser -u postgres -- psql -d mlflow -tAc 'SELECT version_num FROM alembic_version'"
    )


def test_pin_upgrade_keeps_runs_and_models(host, converge_with):
    old = host.ansible.get_variables()["mlflow_version"]
    new = yaml.safe_load(ROLE_DEFAULTS.read_text())["mlflow_version"]
    assert old != new, "the scenario must start from an older pin than the role's default"
    creds = admin(host)
    tag = uuid.uuid4().hex[:8]
    exp = call(host, "POST", "experiments/create", creds, {"name": f"upgrade-{tag}"}).json()
    run = call(host, "POST", "runs/create", creds, {"experiment_id": exp["experiment_id"]}).json()
    run_id = run["run"]["info"]["run_id"]
    metric = {"run_id": run_id, "key": "roc_auc", "value": 0.947, "timestamp": 1, "step": 0}
    assert call(host, "POST", "runs/log-metric", creds, metric).status == 200
    model = f"upgrade-model-{tag}"
    assert call(host, "POST", "registered-models/create", creds, {"name": model}).status == 200
    version = call(
        host, "POST", "model-versions/create", creds,
        {"name": model, "source": f"{run['run']['info']['artifact_uri']}/model", "run_id": run_id},
    )  # fmt: skip
    assert version.status == 200, version.body
    alias = {
        "name": model,
        "alias": "champion",
        "version": version.json()["model_version"]["version"],
    }
    assert call(host, "POST", "registered-models/alias", creds, alias).status == 200
    revision_before = alembic_revision(host)

    result = converge_with({"mlflow_version": new})

    assert result.returncode == 0, result.output[-3000:]
    assert result.recap["changed"] > 0
    installed = host.check_output(
        "/opt/mlflow/venv/bin/python -c 'import mlflow; print(mlflow.__version__)'"
    )
    assert installed == new
    assert host.file("/var/lib/mlflow/schema-version").content_string.strip() == new
    assert alembic_revision(host) != revision_before, "schema was not migrated"
    dumps = host.check_output(f"ls /var/backups/mlflow | grep -c -- '-{old}-to-{new}-'")
    assert dumps == "2", "expected a dump of both databases"

    got = call(host, "GET", f"runs/get?run_id={run_id}", creds)
    assert got.status == 200, got.body
    metrics = {m["key"]: m["value"] for m in got.json()["run"]["data"]["metrics"]}
    assert metrics == {"roc_auc": 0.947}
    champion = call(host, "GET", f"registered-models/alias?name={model}&alias=champion", creds)
    assert champion.status == 200, champion.body
    assert champion.json()["model_version"]["run_id"] == run_id


def test_upgrade_dumps_are_private(host):
    names = host.check_output("ls /var/backups/mlflow").split()
    assert names, "no dumps"
    for name in names:
        f = host.file(f"/var/backups/mlflow/{name}")
        assert (f.user, f.mode) == ("root", 0o600), name
