"""The smoke job against a real ``mlflow server`` with basic auth (started by a fixture).

``onprem_mlops.smoke.local_server`` runs it on 127.0.0.1 with SQLite stores, proxied artifacts
under tmp_path and the basic-auth app (default permission NO_PERMISSIONS, an admin account).
HTTPS is the nginx role's job; here the client talks plain HTTP to the loopback address.
"""

from dataclasses import replace

import pytest

pytest.importorskip("torch", reason="PyTorch is not installed: pip install 'onprem-mlops[train]'")
mlflow = pytest.importorskip(
    "mlflow", reason="MLflow is not installed: pip install 'onprem-mlops[train]'"
)
pytest.importorskip("flask_wtf", reason="the basic-auth app needs mlflow[auth] (Flask-WTF)")

from mlflow.tracking import MlflowClient  # noqa: E402

from onprem_mlops.cli import main  # noqa: E402
from onprem_mlops.smoke import dataset, local_server, loop, tracking, train  # noqa: E402

PASSWORD = "smoke-Test-Passw0rd"


@pytest.fixture
def credentials(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", local_server.ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")


@pytest.fixture(scope="module")
def small_result():
    """A real but small training result; tests inject the metric they need."""
    job = train.MaintenanceJob(
        data=dataset.MaintenanceConfig(n_machines=40, n_days=150),
        fit=loop.FitConfig(epochs=2),
    )
    return train.run(job)


def test_without_credentials_exits_2_before_training(server, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    assert main(["smoke-train", "--tracking-uri", server]) == 2
    captured = capsys.readouterr()
    assert "MLflow rejected the credentials" in captured.err
    assert "MLFLOW_TRACKING_USERNAME" in captured.err
    assert "training" not in captured.err


def test_wrong_password_exits_2_without_echoing_it(server, credentials, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-Passw0rd")
    assert main(["smoke-train", "--tracking-uri", server]) == 2
    captured = capsys.readouterr()
    assert "MLflow rejected the credentials" in captured.err
    assert "not-the-Passw0rd" not in captured.out + captured.err


def test_smoke_train_logs_registers_and_crowns_the_first_version(server, credentials, capsys):
    assert main(["smoke-train", "--tracking-uri", server]) == 0
    out = capsys.readouterr().out
    assert "smoke-train predictive-maintenance: PASS" in out
    assert "registered: predictive-maintenance version 1" in out
    assert "champion:   moved to version 1" in out

    client = MlflowClient(server)
    version = client.get_model_version_by_alias("predictive-maintenance", "champion")
    assert version.version == "1"
    assert float(version.tags["roc_auc"]) >= 0.90
    run = client.get_run(version.run_id)
    assert run.data.metrics["roc_auc"] >= 0.90
    assert run.data.metrics["roc_auc"] == pytest.approx(float(version.tags["roc_auc"]))
    assert run.data.params["template"] == "predictive-maintenance"
    assert run.data.params["min_auc"] == "0.9"
    assert run.data.tags["bar_met"] == "true"
    assert client.get_experiment(run.info.experiment_id).name == "onprem-smoke"
    history = client.get_metric_history(run.info.run_id, "epoch_valid_score")
    assert len(history) == int(run.data.metrics["epochs"])

    info = mlflow.models.get_model_info(version.source)
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 35]
    assert info.saved_input_example_info is not None
    assert info.metadata["feature_names"] == dataset.feature_names()


def test_champion_moves_only_when_strictly_better(server, credentials, small_result):
    name = "promotion-check"

    def publish(metric):
        result = replace(small_result, metric=metric)
        return tracking.publish(result, server, "onprem-smoke-promotion", name)

    first = publish(0.93)
    assert (first.version, first.champion_moved, first.champion_before) == ("1", True, None)
    worse = publish(0.92)
    assert (worse.version, worse.champion_moved, worse.champion_before) == ("2", False, "1")
    assert worse.champion_metric_before == pytest.approx(0.93)
    equal = publish(0.93)
    assert (equal.version, equal.champion_moved) == ("3", False)
    better = publish(0.95)
    assert (better.version, better.champion_moved, better.champion_before) == ("4", True, "1")

    client = MlflowClient(server)
    assert client.get_model_version_by_alias(name, "champion").version == "4"
    assert client.get_model_version(name, "2").tags["roc_auc"] == "0.92"


def test_missed_bar_logs_the_run_but_registers_nothing(server, credentials, small_result):
    result = replace(small_result, metric=0.6)
    assert not result.bar_met
    published = tracking.publish(result, server, "onprem-smoke-missed", "missed-bar")
    assert published.version is None
    client = MlflowClient(server)
    assert client.get_run(published.run_id).data.tags["bar_met"] == "false"
    assert client.search_model_versions("name='missed-bar'") == []


def test_stock_forecasting_template(server, credentials, capsys):
    argv = ["smoke-train", "--tracking-uri", server, "--template", "stock-forecasting"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "registered: stock-forecasting version 1" in out
    client = MlflowClient(server)
    version = client.get_model_version_by_alias("stock-forecasting", "champion")
    run = client.get_run(version.run_id)
    assert run.data.metrics["wape"] <= 0.9 * run.data.metrics["seasonal_naive_wape"]
    assert version.tags["template"] == "stock-forecasting"
