"""``onprem-mlops smoke-train`` without a server: arguments, exit codes, summary."""

import pytest

from onprem_mlops.cli import main
from onprem_mlops.commands import smoke_train


@pytest.fixture(autouse=True)
def contained_environment(monkeypatch):
    """The command sets MLFLOW_HTTP_REQUEST_MAX_RETRIES when unset; keep that in the test."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")


def fails_with(capsys, argv, message):
    assert main(["smoke-train", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    return err


def test_help_lists_smoke_train(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "smoke-train" in capsys.readouterr().out


def test_tracking_uri_is_required(capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fails_with(capsys, [], "--tracking-uri is required")


def test_bad_arguments(capsys):
    fails_with(capsys, ["--tracking-uri", "ftp://x"], "must be an http(s):// URL")
    fails_with(capsys, ["--tracking-uri", "https://h", "--min-auc", "1.5"], "--min-auc")
    fails_with(capsys, ["--tracking-uri", "https://h", "--max-seconds", "0"], "--max-seconds")
    fails_with(capsys, ["--tracking-uri", "https://h", "--threads", "0"], "--threads")


def test_credentials_in_the_uri_are_refused_and_not_echoed(capsys):
    err = fails_with(capsys, ["--tracking-uri", "https://bob:hunter2@h"], "must not contain")
    assert "hunter2" not in err


def test_missing_extras_give_the_install_hint(capsys, monkeypatch):
    from onprem_mlops.smoke import deps

    def missing(*modules):
        raise deps.MissingExtrasError(f"torch is not available; {deps.EXTRAS_HINT}")

    monkeypatch.setattr(deps, "check_extras", missing)
    fails_with(capsys, ["--tracking-uri", "https://h"], "pip install 'onprem-mlops[train]'")


def test_redact_and_explain():
    pytest.importorskip("mlflow")
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    from onprem_mlops.smoke import tracking

    assert tracking.redact("https://u:p@h:5000/x") == "https://***@h:5000/x"
    unauthenticated = MlflowException("nope", error_code=databricks_pb2.UNAUTHENTICATED)
    assert "MLFLOW_TRACKING_USERNAME" in tracking.explain(unauthenticated, "https://h")
    denied = MlflowException("no", error_code=databricks_pb2.PERMISSION_DENIED)
    assert "HTTP 403" in tracking.explain(denied, "https://h")
    tls = OSError("SSLError(... CERTIFICATE_VERIFY_FAILED ...)")
    assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in tracking.explain(tls, "https://h")
    refused = OSError("Max retries exceeded ... Connection refused")
    assert "cannot reach MLflow" in tracking.explain(refused, "https://h")


class FakeResult:
    template = "predictive-maintenance"
    metric_name = "roc_auc"
    greater_is_better = True
    bar = 0.9
    timings = {"data": 0.5, "train": 10.0}  # noqa: RUF012
    seconds = 10.5
    device = "cpu (1 thread)"
    precision = "float32"

    def __init__(self, metric):
        self.metric = metric
        self.bar_met = metric >= self.bar


@pytest.mark.parametrize(("metric", "status"), [(0.95, 0), (0.80, 1)])
def test_exit_status_follows_the_bar(capsys, monkeypatch, metric, status):
    pytest.importorskip("mlflow")
    pytest.importorskip("torch")
    from onprem_mlops.smoke import tracking

    published = tracking.Publication("run1", "1", "models:/m-1")
    if metric >= 0.9:
        published.version, published.champion_before = "4", "3"
        published.champion_metric_before, published.champion_moved = 0.93, True
    monkeypatch.setattr(tracking, "check_connection", lambda uri, experiment: None)
    monkeypatch.setattr(tracking, "publish", lambda *args: published)
    monkeypatch.setattr(smoke_train, "_train", lambda args: FakeResult(metric))
    assert main(["smoke-train", "--tracking-uri", "https://mlflow.example"]) == status
    out = capsys.readouterr().out
    assert "run:        run1" in out
    if status == 0:
        assert "PASS" in out
        assert "registered: predictive-maintenance version 4" in out
        assert "moved from version 3 (roc_auc 0.9300) to version 4" in out
    else:
        assert "FAIL" in out
        assert "nothing (the bar was missed)" in out


def test_connection_error_is_exit_2(capsys, monkeypatch):
    pytest.importorskip("mlflow")
    pytest.importorskip("torch")
    from onprem_mlops.smoke import tracking

    def refuse(uri, experiment):
        raise tracking.TrackingError("cannot reach MLflow at https://h")

    monkeypatch.setattr(tracking, "check_connection", refuse)
    fails_with(capsys, ["--tracking-uri", "https://h"], "cannot reach MLflow")
