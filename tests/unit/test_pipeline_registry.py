"""``pipeline promote`` and ``pipeline rollback`` against a real ``mlflow server`` (loopback).

The race test runs two promotions in two processes that both evaluated against the same
champion; the read of the alias is slowed down so both read before either writes. With the
lock exactly one wins; the control test shows that without it both would "win".
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import threading
import uuid

import pytest

mlflow = pytest.importorskip(
    "mlflow", reason="MLflow is not installed: pip install 'onprem-mlops[train]'"
)
pytest.importorskip("flask_wtf", reason="the basic-auth app needs mlflow[auth] (Flask-WTF)")

from mlflow.tracking import MlflowClient  # noqa: E402

from onprem_mlops.cli import main  # noqa: E402
from onprem_mlops.pipeline import lock, registry  # noqa: E402
from onprem_mlops.smoke import local_server  # noqa: E402

PASSWORD = "pipeline-Test-Passw0rd"


@pytest.fixture(autouse=True)
def credentials(monkeypatch, server, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", local_server.ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv(lock.LOCK_DIR_ENV, str(tmp_path / "locks"))


@pytest.fixture
def model(server):
    """A registered model with versions 1-3; version 1 is the champion."""
    client = MlflowClient(server)
    name = f"pm-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    experiment = client.create_experiment(name)
    run = client.create_run(experiment)
    for _ in range(3):
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias(name, "champion", "1")
    return name


def champion(server, name):
    return MlflowClient(server).get_model_version_by_alias(name, "champion").version


def promote(name, version, expected, *extra):
    return main(
        [
            "pipeline",
            "promote",
            "--model",
            name,
            "--version",
            version,
            "--expected-champion",
            expected,
            *extra,
        ]
    )


def test_promote_moves_the_alias_and_records_why(server, model, tmp_path, capsys):
    summary = tmp_path / "promote.json"
    assert promote(model, "2", "1", "--reason", "AUC +0.012", "--summary", str(summary)) == 0
    assert capsys.readouterr().out == (
        f"promote: the champion alias of {model} moved from version 1 to 2\n"
    )
    assert champion(server, model) == "2"
    tags = MlflowClient(server).get_model_version(model, "2").tags
    assert tags["pipeline.champion.previous"] == "1"
    assert tags["pipeline.champion.reason"] == "AUC +0.012"
    saved = json.loads(summary.read_text())
    assert saved == {
        "step": "promote",
        "model": model,
        "alias": "champion",
        "version": "2",
        "previous": "1",
        "reason": "AUC +0.012",
    }


def test_a_champion_that_moved_since_the_evaluation_is_not_overwritten(server, model, capsys):
    assert promote(model, "3", "1") == 0
    assert promote(model, "2", "1") == 1
    err = capsys.readouterr().err
    assert "refused: the champion alias of " in err
    assert "is version 3, not 1 as when this pipeline evaluated" in err
    assert champion(server, model) == "3"


def test_a_first_champion_needs_expected_none(server, capsys):
    client = MlflowClient(server)
    name = f"first-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment(name))
    client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    assert promote(name, "1", "1") == 1
    assert "is version none, not 1" in capsys.readouterr().err
    assert promote(name, "1", "none") == 0
    assert champion(server, name) == "1"


def test_an_unknown_version_is_refused_without_change(server, model, capsys):
    assert promote(model, "9", "1") == 1
    assert f"refused: {model} has no version 9" in capsys.readouterr().err
    assert champion(server, model) == "1"
    assert (
        "pipeline.champion.previous" not in MlflowClient(server).get_model_version(model, "1").tags
    )


def test_a_rejected_evaluation_never_promotes(server, model, tmp_path, capsys):
    evaluation = tmp_path / "evaluate.json"
    evaluation.write_text(
        json.dumps(
            {
                "step": "evaluate",
                "model": model,
                "challenger_version": "2",
                "champion_version": "1",
                "decision": "reject",
                "reason": "roc_auc 0.931 < champion 0.948",
            }
        )
    )
    argv = ["pipeline", "promote", "--evaluation", str(evaluation)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "refused: the evaluation decided 'reject', the champion stays" in err
    assert "roc_auc 0.931 < champion 0.948" in err
    assert champion(server, model) == "1"
    assert main([*argv, "--version", "3"]) == 2
    assert "--version 3 contradicts" in capsys.readouterr().err


def test_a_winning_evaluation_promotes(server, model, tmp_path):
    evaluation = tmp_path / "evaluate.json"
    evaluation.write_text(
        json.dumps(
            {
                "step": "evaluate",
                "model": model,
                "challenger_version": "3",
                "champion_version": "1",
                "decision": "promote",
                "reason": "roc_auc 0.951 > champion 0.948",
            }
        )
    )
    assert main(["pipeline", "promote", "--evaluation", str(evaluation)]) == 0
    assert champion(server, model) == "3"
    tags = MlflowClient(server).get_model_version(model, "3").tags
    assert tags["pipeline.champion.reason"] == "roc_auc 0.951 > champion 0.948"


def test_rollback_only_from_the_version_the_deploy_check_saw(server, model, capsys):
    assert promote(model, "2", "1") == 0
    assert promote(model, "3", "2") == 0
    # A deploy check of version 2 that fails late must not undo the newer promotion of 3.
    assert main(["pipeline", "rollback", "1", "--model", model, "--from", "2"]) == 1
    assert "is version 3, not 2" in capsys.readouterr().err
    assert champion(server, model) == "3"
    assert main(["pipeline", "rollback", "2", "--model", model, "--from", "3"]) == 0
    assert champion(server, model) == "2"
    tags = MlflowClient(server).get_model_version(model, "2").tags
    assert tags["pipeline.champion.reason"] == "rollback from version 3"
    assert main(["pipeline", "rollback", "1", "--model", model]) == 0  # from whatever holds it
    assert champion(server, model) == "1"


def test_wrong_credentials_are_exit_2_and_not_echoed(model, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-Passw0rd")
    assert promote(model, "2", "1") == 2
    err = capsys.readouterr().err
    assert "MLflow rejected the credentials" in err
    assert "not-the-Passw0rd" not in err


def test_missing_arguments_are_named(capsys):
    assert main(["pipeline", "promote", "--model", "m"]) == 2
    assert "--version, --expected-champion required" in capsys.readouterr().err


def _slow_promote(name, version, results, barrier, use_lock):
    """In a child process: read the alias, wait for the other one to read too, then write.

    The barrier makes both processes read before either writes (the window two pipelines race
    in) however slowly they start. With the lock the second cannot read until the first is
    done: the barrier times out for the first and is broken for the second, and both go on.
    """
    original = MlflowClient.get_model_version_by_alias
    reads = []

    def slow(self, model, alias):
        found = original(self, model, alias)
        if not reads:  # the check before the move; the read-back after it stays fast
            reads.append(found.version)
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=3)
        return found

    MlflowClient.get_model_version_by_alias = slow
    if not use_lock:
        lock.held = lambda *_args, **_kwargs: contextlib.nullcontext()
    with contextlib.redirect_stderr(io.StringIO()):
        results.put((version, promote(name, version, "1")))


def race(name, use_lock):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_slow_promote, args=(name, v, results, barrier, use_lock))
        for v in "23"
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    return dict(results.get(timeout=5) for _ in workers)


def moved_from_1(server, model):
    """The versions a pipeline tagged as taking the alias over from version 1."""
    client = MlflowClient(server)
    return sorted(
        v
        for v in "23"
        if client.get_model_version(model, v).tags.get("pipeline.champion.previous") == "1"
    )


def test_two_concurrent_promotions_from_one_champion_one_wins(server, model):
    outcome = race(model, use_lock=True)
    assert sorted(outcome.values()) == [0, 1], outcome
    winner = next(v for v, status in outcome.items() if status == 0)
    assert champion(server, model) == winner
    assert moved_from_1(server, model) == [winner]  # the loser wrote nothing


def test_without_the_lock_both_would_move_the_alias(server, model):
    """The control: the race is real, so the test above can fail if the lock goes away.

    Without the lock both pipelines pass the re-check and both write. Which of them then
    notices at the read-back is timing (the read-back is a second, weaker line of defence).
    """
    race(model, use_lock=False)
    assert moved_from_1(server, model) == ["2", "3"]


def test_a_lock_held_too_long_is_a_refusal(server, model, tmp_path, capsys):
    path = lock.lock_path(tmp_path / "locks", model, "champion")
    with lock.held(path, timeout=1):
        assert promote(model, "2", "1", "--lock-timeout", "0.3") == 1
    assert (
        f"refused: another pipeline has held {path} for more than 0.3 s" in capsys.readouterr().err
    )
    assert champion(server, model) == "1"


def test_lock_names_are_file_names():
    assert registry.NONE == "none"
    assert (
        lock.lock_path(lock.default_lock_dir(), "a/b c", "champion").name == "a_b_c.champion.lock"
    )
