"""The restore drill's MLflow state (onprem_mlops.ops.mlflow_state): what it captures through
the MLflow client, and that a restore that lost or changed anything is reported.

A file-backed MLflow (sqlite and a local artifact root, no server) stands in for the
platform's: the client calls are the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onprem_mlops.ops import mlflow_state

mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.create_experiment("drill", artifact_location=(tmp_path / "art").as_uri())
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_param("lr", "0.1")
        for step, loss in enumerate([0.9, 0.5, 0.2]):
            mlflow.log_metric("loss", loss, step=step)
        model_dir = tmp_path / "model"
        model_dir.mkdir()
        (model_dir / "MLmodel").write_text("flavors: {}\n")
        (model_dir / "weights.bin").write_bytes(bytes(range(256)) * 64)
        mlflow.log_artifacts(str(model_dir), "model")
    client.create_registered_model("pm")
    version = client.create_model_version("pm", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("pm", "champion", version.version)
    return uri


def test_capture_reads_runs_metrics_artifacts_models_and_aliases(tracking: str):
    state = mlflow_state.capture(tracking)
    (run,) = state["experiments"]["drill"]["runs"].values()
    assert run["params"] == {"lr": "0.1"}
    assert [value for _, value, _ in run["metrics"]["loss"]] == [0.9, 0.5, 0.2]
    assert set(run["artifacts"]) == {"model/MLmodel", "model/weights.bin"}
    model = state["registered_models"]["pm"]
    assert model["aliases"] == {"champion": "1"}
    # MLflow adds registered_model_meta (name and version) when it downloads a version.
    assert set(model["versions"]["1"]["files"]) >= {"MLmodel", "weights.bin"}
    assert model["versions"]["1"]["files"]["weights.bin"] == run["artifacts"]["model/weights.bin"]
    assert mlflow_state.summary(state) == {
        "experiments": 2, "runs": 1, "metric_values": 3, "run_artifacts": 2,
        "registered_models": 1, "model_versions": 1,
        "model_files": len(model["versions"]["1"]["files"]), "aliases": 1,
    }  # fmt: skip


def test_an_identical_state_compares_equal(tracking: str, tmp_path: Path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert mlflow_state.main(["capture", "--tracking-uri", tracking, "--out", str(a)]) == 0
    assert mlflow_state.main(["capture", "--tracking-uri", tracking, "--out", str(b)]) == 0
    capsys.readouterr()
    assert mlflow_state.main(["compare", str(a), str(b)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["equal"] is True


def test_lost_or_changed_data_is_reported(tracking: str, tmp_path: Path, capsys):
    source = mlflow_state.capture(tracking)
    restored = json.loads(json.dumps(source))
    (run_id,) = restored["experiments"]["drill"]["runs"]
    run = restored["experiments"]["drill"]["runs"][run_id]
    run["metrics"]["loss"].pop()
    run["artifacts"]["model/weights.bin"] = "0" * 64
    restored["registered_models"]["pm"]["aliases"] = {}
    found = mlflow_state.differences(source, restored)
    assert any(f"/runs/{run_id}/metrics/loss" in line for line in found)
    assert any("model/weights.bin" in line for line in found)
    assert any("/registered_models/pm/aliases/champion: missing after the restore" in line
               for line in found)  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps(source))
    (tmp_path / "r.json").write_text(json.dumps(restored))
    assert mlflow_state.main(["compare", str(tmp_path / "s.json"), str(tmp_path / "r.json")]) == 1
    assert '"equal": false' in capsys.readouterr().out
