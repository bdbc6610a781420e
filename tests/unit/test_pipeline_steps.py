"""``pipeline train``, ``evaluate``, ``promote`` and ``deploy-check`` on the example data drops.

Everything is real: a loopback ``mlflow server`` with basic auth, models trained with PyTorch
on the (synthetic) example drops, and for deploy-check the platform's serving supervisor
(serving/champion.py running ``mlflow models serve``) following the champion alias.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

mlflow = pytest.importorskip(
    "mlflow", reason="MLflow is not installed: pip install 'onprem-mlops[train]'"
)
pytest.importorskip("torch", reason="PyTorch is not installed")
pytest.importorskip("flask_wtf", reason="the basic-auth app needs mlflow[auth] (Flask-WTF)")

from mlflow.tracking import MlflowClient  # noqa: E402

from onprem_mlops.cli import main  # noqa: E402
from onprem_mlops.pipeline import evaluate, examples, lock, maintenance, retail  # noqa: E402
from onprem_mlops.smoke import local_server  # noqa: E402

PASSWORD = "pipeline-Steps-Passw0rd"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def drops(tmp_path_factory):
    out = tmp_path_factory.mktemp("example")
    # The documented example (3 weekly drops); the tests use the history and the first two.
    return examples.maintenance(out, machines=300, history_weeks=10, weekly_drops=3)


@pytest.fixture(scope="module")
def sales(tmp_path_factory):
    out = tmp_path_factory.mktemp("retail")
    return examples.retail(out, stores=4, items=15, history_weeks=52, weekly_drops=1)


@pytest.fixture(autouse=True)
def credentials(monkeypatch, server, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", local_server.ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv(lock.LOCK_DIR_ENV, str(tmp_path / "locks"))


def data_dir(tmp_path, drops, count):
    """A data directory holding the first ``count`` drops, as the data volume would."""
    target = tmp_path / f"data-{count}"
    target.mkdir()
    for drop in drops[:count]:
        shutil.copy(drop, target)
    return target


def step(*argv):
    return main(["pipeline", *map(str, argv)])


def summary(path):
    return json.loads(Path(path).read_text())


def champion(server, name):
    return MlflowClient(server).get_model_version_by_alias(name, "champion").version


def test_decide_names_the_rule_that_rejects():
    s = evaluate.Scores(challenger=0.93, champion=0.92, baseline=0.91, bar=0.85)
    assert evaluate.decide(s)[0] == "promote"
    low = evaluate.Scores(challenger=0.84, champion=None, baseline=0.80, bar=0.85)
    assert evaluate.decide(low) == ("reject", "roc_auc 0.8400 is below the bar 0.85")
    spreadsheet = evaluate.Scores(challenger=0.90, champion=None, baseline=0.90, bar=0.85)
    assert "does not beat the baseline 0.9000" in evaluate.decide(spreadsheet)[1]
    close = evaluate.Scores(0.925, 0.92, 0.90, 0.85, min_improvement=0.01)
    assert evaluate.decide(close) == (
        "reject",
        "roc_auc 0.9250 does not beat the champion's 0.9200 by more than 0.01",
    )


def test_decide_for_a_metric_where_lower_is_better():
    naive = {"greater_is_better": False, "baseline_name": "seasonal naive"}
    win = evaluate.Scores(0.22, 0.23, 0.31, bar=0.279, **naive)
    assert evaluate.decide(win, "wape") == (
        "promote", "wape 0.2200 < champion 0.2300, < baseline 0.3100",
    )  # fmt: skip
    above = evaluate.Scores(0.29, None, 0.31, bar=0.279, **naive)
    assert evaluate.decide(above, "wape") == ("reject", "wape 0.2900 is above the bar 0.279")
    worse = evaluate.Scores(0.225, 0.22, 0.31, bar=0.279, **naive)
    assert evaluate.decide(worse, "wape")[1] == "wape 0.2250 does not beat the champion's 0.2200"
    close = evaluate.Scores(0.218, 0.22, 0.31, bar=0.279, min_improvement=0.005, **naive)
    assert evaluate.decide(close, "wape")[0] == "reject"


def test_sales_samples_skip_unobserved_demand_and_split_by_date(tmp_path, sales):
    loaded = retail.load(sales[0])
    data = retail.samples(loaded)
    n_series = len(loaded.series)
    assert n_series == 60 and loaded.holiday.sum() >= 8  # Christmas, Easter, May Day, ...
    observed = ~(loaded.stockout | loaded.holiday[None, :])[:, retail.WARMUP_DAYS :]
    assert len(data.y) == int(observed.sum())  # no holiday or stock-out day is a target
    assert 0.005 < float(loaded.stockout.mean()) < 0.1
    days = loaded.units.shape[1]
    assert (data.split == "test").sum() <= n_series * retail.TEST_DAYS
    # The seasonal-naive forecast is the same weekday a week earlier; the model sees it too.
    assert (data.naive == data.x[:, data.feature_names.index("sales_lag_7")]).all()
    promoted = data.x[:, data.feature_names.index("promotion")] == 1
    assert data.y[promoted].mean() > 1.3 * data.y[~promoted].mean()
    assert days == 52 * 7


def test_a_bad_sales_cell_is_named_with_its_line(tmp_path, sales):
    broken = tmp_path / "broken.csv"
    lines = sales[1].read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 2)[0] + ",yes,4"
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(retail.DataError, match=r"broken.csv line 4: stockout must be 0 or 1"):
        retail.load(broken)
    assert step("train", "--template", "stock-forecasting", "--data", broken, "--model", "x") == 2


def test_windows_come_from_the_drops_and_machines_keep_their_split(tmp_path, drops):
    history = maintenance.windows(maintenance.load(drops[0]))
    grown = maintenance.windows(maintenance.load(data_dir(tmp_path, drops, 2)))
    assert len(grown.y) > len(history.y)
    assert set(history.split) == {"train", "valid", "test"}
    assert 0.05 < float(history.y.mean()) < 0.4  # failures are rare but present
    assert maintenance.split_of("M0007") == maintenance.split_of("M0007")


def test_a_missing_column_is_named_with_its_file(tmp_path, drops):
    broken = tmp_path / "broken.csv"
    lines = drops[1].read_text().splitlines()
    broken.write_text("\n".join(",".join(line.split(",")[:-1]) for line in lines) + "\n")
    assert step("train", "--data", broken, "--model", "x") == 2


def test_a_week_of_data_promotes_and_a_worse_model_never_does(server, drops, tmp_path, capsys):
    name = f"pm-{uuid.uuid4().hex[:8]}"
    history, grown = data_dir(tmp_path, drops, 1), data_dir(tmp_path, drops, 2)

    # Week 0: the first model; no champion yet, it must still beat the baseline and the bar.
    assert step("train", "--data", history, "--model", name, "--summary", tmp_path / "t1.json") == 0
    assert summary(tmp_path / "t1.json")["version"] == "1"
    assert (
        step("evaluate", "--data", history, "--training", tmp_path / "t1.json",
             "--summary", tmp_path / "e1.json") == 0
    )  # fmt: skip
    first = summary(tmp_path / "e1.json")
    assert first["decision"] == "promote" and first["champion_version"] is None
    assert first["challenger"] > first["baseline"]
    assert step("promote", "--evaluation", tmp_path / "e1.json") == 0
    assert champion(server, name) == "1"

    # A deliberately worse model (one epoch) on the same data: rejected, the champion stays.
    argv = ("train", "--data", grown, "--model", name, "--epochs", "1", "--min-auc", "0.5")
    assert step(*argv, "--summary", tmp_path / "bad.json") == 0
    assert (
        step("evaluate", "--data", grown, "--training", tmp_path / "bad.json",
             "--summary", tmp_path / "e-bad.json") == 1
    )  # fmt: skip
    bad = summary(tmp_path / "e-bad.json")
    assert bad["decision"] == "reject" and bad["challenger"] < bad["champion"]
    assert "reject: roc_auc" in capsys.readouterr().err
    assert step("promote", "--evaluation", tmp_path / "e-bad.json") == 1
    assert champion(server, name) == "1"
    tags = MlflowClient(server).get_model_version(name, "2").tags
    assert tags["pipeline.decision"] == "reject"

    # Week 1 arrives: retrained on more data, evaluated with the champion on the same machines.
    assert step("train", "--data", grown, "--model", name, "--summary", tmp_path / "t3.json") == 0
    status = step(
        "evaluate", "--data", grown, "--training", tmp_path / "t3.json",
        "--summary", tmp_path / "e3.json",
    )  # fmt: skip
    week = summary(tmp_path / "e3.json")
    assert week["champion_version"] == "1" and week["rows_test"] == bad["rows_test"]
    wins = week["challenger"] > max(week["champion"], week["baseline"])
    assert (status == 0) == wins and (week["decision"] == "promote") == wins, week
    run = MlflowClient(server).get_run(week["run_id"])
    assert run.data.metrics["eval_champion_roc_auc"] == pytest.approx(week["champion"])
    assert run.data.tags["pipeline.decision"] == week["decision"]


def test_a_model_below_the_bar_is_logged_but_not_registered(drops, capsys):
    name = f"pm-{uuid.uuid4().hex[:8]}"
    assert step("train", "--data", drops[0], "--model", name, "--min-auc", "0.999") == 1
    assert "is below the bar 0.999; the run is logged, no version registered" in (
        capsys.readouterr().err
    )


@pytest.fixture
def serving(server, tmp_path):
    """The platform's serving supervisor for one model, polling the alias every second."""
    name = f"pm-{uuid.uuid4().hex[:8]}"
    port = local_server.free_port()
    env = {
        **os.environ,
        "SERVING_MODEL_NAME": name,
        "SERVING_PORT": str(port),
        "SERVING_CACHE_DIR": str(tmp_path / "cache"),
        "SERVING_STATE_FILE": str(tmp_path / "served.json"),
        "SERVING_POLL_SECONDS": "1",
    }
    script = ROOT / "src" / "onprem_mlops" / "serving" / "champion.py"
    process = subprocess.Popen(
        [sys.executable, str(script)], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield name, f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


def test_deploy_check_follows_serving_and_rolls_back_when_it_does_not(
    serving, drops, tmp_path, server, capsys
):
    name, endpoint, process = serving
    # Other seeds: early stopping could otherwise restore the same best epoch twice, and
    # versions that answer alike cannot show which one is served.
    for seed, epochs in enumerate(("40", "3", "8")):
        assert step("train", "--data", drops[0], "--model", name, "--epochs", epochs,
                    "--min-auc", "0.5", "--seed", seed) == 0  # fmt: skip
    client = MlflowClient(server)
    client.set_registered_model_alias(name, "champion", "1")
    check = ("deploy-check", "--endpoint", endpoint, "--model", name, "--interval", "1")
    assert step(*check, "--version", "1", "--previous", "none", "--timeout", "120") == 0

    assert step("promote", "--model", name, "--version", "2", "--expected-champion", "1",
                "--summary", tmp_path / "p2.json") == 0  # fmt: skip
    assert step("deploy-check", "--endpoint", endpoint, "--promotion", tmp_path / "p2.json",
                "--interval", "1", "--timeout", "120") == 0  # fmt: skip
    capsys.readouterr()

    # Serving stops following the registry (the supervisor hangs; its scoring server, in a
    # session of its own, goes on answering with version 2): version 3 is never served.
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        assert step("promote", "--model", name, "--version", "3", "--expected-champion", "2",
                    "--summary", tmp_path / "p3.json") == 0  # fmt: skip
        assert step("deploy-check", "--endpoint", endpoint, "--promotion", tmp_path / "p3.json",
                    "--interval", "1", "--timeout", "4",
                    "--summary", tmp_path / "d3.json") == 1  # fmt: skip
    finally:
        os.killpg(process.pid, signal.SIGCONT)
    err = capsys.readouterr().err
    assert "did not serve version 3 within 4 s (last: the previous version's answers)" in err
    assert "the champion alias went back to version 2" in err
    assert champion(server, name) == "2"
    assert summary(tmp_path / "d3.json")["rolled_back_to"] == "2"
    assert client.get_model_version(name, "2").tags["pipeline.champion.previous"] == "3"


def test_forecasts_are_compared_with_seasonal_naive_and_the_champion(
    server, sales, tmp_path, capsys
):
    name = f"sf-{uuid.uuid4().hex[:8]}"
    history, grown = data_dir(tmp_path, sales, 1), data_dir(tmp_path, sales, 2)
    train = ("train", "--template", "stock-forecasting", "--model", name)
    assert step(*train, "--data", history, "--summary", tmp_path / "t1.json") == 0
    trained = summary(tmp_path / "t1.json")
    assert trained["metric"] == "wape" and trained["score"] <= 0.9 * trained["baseline"]
    assert step("evaluate", "--data", history, "--training", tmp_path / "t1.json",
                "--summary", tmp_path / "e1.json") == 0  # fmt: skip
    assert summary(tmp_path / "e1.json")["template"] == "stock-forecasting"
    assert step("promote", "--evaluation", tmp_path / "e1.json") == 0

    # A model stopped after one epoch on the new week: never the champion.
    assert step(*train, "--data", grown, "--epochs", "1", "--max-wape-ratio", "5",
                "--summary", tmp_path / "bad.json") == 0  # fmt: skip
    assert step("evaluate", "--data", grown, "--training", tmp_path / "bad.json",
                "--summary", tmp_path / "e-bad.json") == 1  # fmt: skip
    bad = summary(tmp_path / "e-bad.json")
    assert bad["decision"] == "reject" and bad["challenger"] > bad["champion"]
    assert step("promote", "--evaluation", tmp_path / "e-bad.json") == 1
    assert champion(server, name) == "1"

    # The new week, retrained: scored with the champion and seasonal naive on the same days.
    assert step(*train, "--data", grown, "--summary", tmp_path / "t3.json") == 0
    status = step("evaluate", "--data", grown, "--training", tmp_path / "t3.json",
                  "--summary", tmp_path / "e3.json")  # fmt: skip
    week = summary(tmp_path / "e3.json")
    assert week["rows_test"] == bad["rows_test"] and week["champion_version"] == "1"
    assert week["champion"] == pytest.approx(bad["champion"])
    wins = week["challenger"] < min(week["champion"], 0.9 * week["baseline"])
    assert (status == 0) == wins and (week["decision"] == "promote") == wins, week
    run = MlflowClient(server).get_run(week["run_id"])
    assert run.data.metrics["eval_baseline_wape"] == pytest.approx(week["baseline"])
    assert "reject: wape" in capsys.readouterr().err  # the one-epoch model's line


def test_a_champion_on_other_features_is_refused_by_name(server, drops, tmp_path, capsys):
    from onprem_mlops.smoke import tracking, train

    name = f"pm-{uuid.uuid4().hex[:8]}"
    smoke = train.run(train.MaintenanceJob(fit=train.loop.FitConfig(epochs=3), min_auc=0.5))
    tracking.publish(smoke, server, "smoke", name)  # the smoke job's model is the champion
    assert champion(server, name) == "1"
    assert step("train", "--data", drops[0], "--model", name, "--min-auc", "0.5",
                "--epochs", "3", "--summary", tmp_path / "t.json") == 0  # fmt: skip
    assert step("evaluate", "--data", drops[0], "--model", name, "--version", "2") == 1
    err = capsys.readouterr().err
    assert f"version 1 of {name} takes {len(smoke.feature_names)} other features" in err
    assert f"promote --model {name} --version NEW --expected-champion 1" in err
    assert champion(server, name) == "1"


def test_run_does_every_step_and_keeps_the_outcome(server, drops, serving, tmp_path, capsys):
    name, endpoint, _ = serving
    contract = drops[0].parent.parent / "contract.yml"
    data, state = tmp_path / "volume", tmp_path / "state"
    data.mkdir()
    run = ("run", "--data", data, "--contract", contract, "--model", name,
           "--reference", drops[0], "--endpoint", endpoint, "--deploy-timeout", "120",
           "--state-dir", state, "--keep", "2",
           "--min-improvement", "0.005")  # week 11: +0.015, week 12: -0.0015  # fmt: skip

    def last():
        return summary(state / name / "last.json")

    outcomes = []
    for drop in drops[:3]:  # history, week 11, week 12
        shutil.copy(drop, data)
        status = step(*run)
        outcomes.append((status, last()["outcome"], last()["ended_at"]))
    assert outcomes == [
        (0, "promoted", "deploy-check"),
        (0, "promoted", "deploy-check"),
        (0, "rejected", "evaluate"),
    ]
    assert "does not beat the champion's" in last()["reason"]
    assert champion(server, name) == "2"
    assert len(list((state / name / "runs").iterdir())) == 2  # --keep 2

    # A broken drop arrives: refused at validate-data, nothing trained, the champion stays.
    lines = drops[2].read_text().splitlines()
    broken = data / "99-broken.csv"
    broken.write_text("\n".join(",".join(x.split(",")[:-1]) for x in lines) + "\n")
    assert step(*run) == 1
    failed = last()
    assert (failed["outcome"], failed["ended_at"]) == ("failed", "validate-data")
    assert "failure" in failed["reason"] and failed["exit_status"] == 1
    assert champion(server, name) == "2"
    assert "pipeline run: " + name + ": failed at validate-data" in capsys.readouterr().out
