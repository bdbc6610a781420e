"""The distributed smoke job: rendezvous from Slurm's or torchrun's variables, and real runs.

The real runs start two processes on this machine that meet over TCP on 127.0.0.1 with the gloo
backend (the same code path as two Slurm nodes on CPUs; molecule/slurm runs it across
containers through srun). NCCL needs GPUs and is exercised on a GPU host only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from onprem_mlops.smoke import distributed
from onprem_mlops.smoke.local_server import free_port

RANKS = 2


@pytest.mark.parametrize(
    ("expression", "hosts"),
    [
        ("node1", ["node1"]),
        ("slurm-node[1-2]", ["slurm-node1", "slurm-node2"]),
        ("gpu[08-10],cpu-a", ["gpu08", "gpu09", "gpu10", "cpu-a"]),
        ("n[1,3-4]", ["n1", "n3", "n4"]),
        ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
    ],
)
def test_expand_hostlist(expression, hosts):
    assert distributed.expand_hostlist(expression) == hosts


def test_expand_hostlist_rejects_garbage():
    with pytest.raises(distributed.RendezvousError, match="cannot read the Slurm host list"):
        distributed.expand_hostlist("node[a-b]")


def test_rendezvous_from_slurm():
    rv = distributed.from_environment(
        {
            "SLURM_PROCID": "1",
            "SLURM_NTASKS": "2",
            "SLURM_LOCALID": "0",
            "SLURM_JOB_NODELIST": "slurm-node[1-2]",
            "SLURM_JOB_ID": "1234",
        }
    )
    assert (rv.rank, rv.world_size, rv.local_rank) == (1, 2, 0)
    assert rv.hosts == ("slurm-node1", "slurm-node2")
    assert rv.master_addr == "slurm-node1"
    assert rv.master_port == distributed.BASE_PORT + 234
    assert rv.init_method == "tcp://slurm-node1:29734"
    assert rv.launcher == "slurm"


def test_rendezvous_from_torchrun_variables_and_ipv6():
    rv = distributed.from_environment(
        {"RANK": "0", "WORLD_SIZE": "3", "MASTER_ADDR": "::1", "MASTER_PORT": "4000"}
    )
    assert (rv.rank, rv.world_size, rv.launcher) == (0, 3, "env")
    assert rv.init_method == "tcp://[::1]:4000"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "missing: RANK, WORLD_SIZE, MASTER_ADDR"),
        ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "a"}, "rank 2 does not fit"),
        ({"RANK": "x", "WORLD_SIZE": "2", "MASTER_ADDR": "a"}, "RANK must be"),
        (
            {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "a", "MASTER_PORT": "70000"},
            "MASTER_PORT must be a TCP port",
        ),
        ({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}, "SLURM_JOB_NODELIST is empty"),
    ],
)
def test_rendezvous_errors_name_the_variable(env, message):
    with pytest.raises(distributed.RendezvousError, match=message):
        distributed.from_environment(env)


def test_cli_without_a_launcher_exits_2(capsys, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("mlflow")
    from onprem_mlops.cli import main

    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    assert main(["smoke-train", "--distributed", "--tracking-uri", "http://127.0.0.1:9"]) == 2
    assert "--distributed needs Slurm's srun" in capsys.readouterr().err


def test_cli_refuses_distributed_stock_forecasting(capsys):
    from onprem_mlops.cli import main

    argv = ["smoke-train", "--distributed", "--template", "stock-forecasting"]
    assert main([*argv, "--tracking-uri", "http://127.0.0.1:9"]) == 2
    assert "predictive-maintenance template only" in capsys.readouterr().err


def _launch(argv: list[str], extra_env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """RANKS processes of ``python argv`` that meet at 127.0.0.1 on a free port."""
    port = str(free_port())
    procs = []
    for rank in range(RANKS):
        env = {
            **os.environ,
            "RANK": str(rank),
            "WORLD_SIZE": str(RANKS),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            **(extra_env or {}),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, *argv],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def _wait(procs: list[subprocess.Popen], timeout: float) -> list[tuple[int, str, str]]:
    out = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            out.append((proc.returncode, stdout, stderr))
    finally:
        for proc in procs:
            proc.kill()
    return out


SMALL_RUN = textwrap.dedent(
    """
    import json
    from onprem_mlops.smoke import dataset, distributed, loop, train

    group = distributed.Group(distributed.from_environment(), "gloo")
    group.join(timeout_s=120)
    job = train.MaintenanceJob(
        data=dataset.MaintenanceConfig(n_machines=60, n_days=200),
        fit=loop.FitConfig(epochs=4, patience=10),
    )
    result = train.run(job, group)
    group.leave()
    print(json.dumps({"metrics": result.metrics, "params": result.params,
                      "history": result.history, "stop": result.stop_reason}))
    """
)


def test_two_ranks_train_one_model():
    pytest.importorskip("torch")
    results = _wait(_launch(["-c", SMALL_RUN]), timeout=240)
    for rc, _, stderr in results:
        assert rc == 0, stderr[-2000:]
    rank0, rank1 = (json.loads(stdout) for _, stdout, _ in results)
    # One model: the same validation scores, test score and stop on every rank; the training
    # loss is each rank's own, over its share of the windows.
    scores = [[epoch["valid_score"] for epoch in r["history"]] for r in (rank0, rank1)]
    assert scores[0] == scores[1]
    assert rank0["history"] != rank1["history"]
    assert rank0["metrics"]["roc_auc"] == rank1["metrics"]["roc_auc"]
    assert len(rank0["history"]) == 4
    params, metrics = rank0["params"], rank0["metrics"]
    assert params["distributed.world_size"] == RANKS
    assert params["distributed.backend"] == "gloo"
    assert params["distributed.launcher"] == "env"
    assert set(metrics) >= {"rank0.train_s", "rank1.train_s"}
    assert all(metrics[f"rank{r}.train_s"] > 0 for r in range(RANKS))
    assert 0.0 <= metrics["roc_auc"] <= 1.0


LINGER_RUN = textwrap.dedent(
    """
    import json, time
    from onprem_mlops.smoke import distributed

    group = distributed.Group(distributed.from_environment(), "gloo")
    group.join(timeout_s=120)
    if group.rank == 1:  # rank 1 is slow to say that it has left
        last_word = group._last_word
        group._last_word = lambda store, linger: (time.sleep(1.5), last_word(store, linger))
    started = time.monotonic()
    group.leave()
    print(json.dumps({"rank": group.rank, "left_after_s": time.monotonic() - started}))
    """
)


def test_rank_0_keeps_the_store_until_every_rank_has_left():
    """Rank 0 hosts the rendezvous store: it ends only after the others destroyed the group,
    so no rank's process ends while a peer still holds gloo connections to it."""
    pytest.importorskip("torch")
    results = _wait(_launch(["-c", LINGER_RUN]), timeout=120)
    for rc, _, stderr in results:
        assert rc == 0, stderr[-2000:]
    left = {doc["rank"]: doc["left_after_s"] for doc in (json.loads(out) for _, out, _ in results)}
    assert left[0] >= 1.4, left  # waited for rank 1's word
    assert left[1] >= 1.4, left  # (its own sleep)


def test_unreachable_mlflow_stops_every_rank(tmp_path):
    """Rank 0 cannot reach MLflow: it says why and rank 1 leaves too instead of hanging."""
    pytest.importorskip("torch")
    pytest.importorskip("mlflow")
    argv = ["-m", "onprem_mlops", "smoke-train", "--distributed"]
    argv += ["--tracking-uri", f"http://127.0.0.1:{free_port()}"]
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    (rc0, _, err0), (rc1, _, err1) = _wait(_launch(argv, env), timeout=180)
    assert (rc0, rc1) == (2, 2), err0[-2000:] + err1[-2000:]
    assert "cannot reach MLflow" in err0
    assert "rank 0 cannot use MLflow" in err1
    assert "training" not in err0 + err1


def test_two_ranks_log_one_run_that_meets_the_bar(tmp_path):
    """The command end to end: two gloo ranks, one MLflow run from rank 0, the usual bar."""
    pytest.importorskip("torch")
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("flask_wtf")
    from onprem_mlops.smoke import local_server

    password = "dist-Test-Passw0rd"
    with local_server.running(tmp_path / "mlflow", password) as url:
        env = {
            "MLFLOW_TRACKING_USERNAME": local_server.ADMIN,
            "MLFLOW_TRACKING_PASSWORD": password,
        }
        argv = ["-m", "onprem_mlops", "smoke-train", "--distributed", "--tracking-uri", url]
        argv += ["--experiment", "dist", "--model-name", "dist-pm", "--max-seconds", "240"]
        results = _wait(_launch(argv, env), timeout=400)
        for rc, stdout, stderr in results:
            assert rc == 0, stdout + stderr[-3000:]
        assert "smoke-train predictive-maintenance: PASS" in results[0][1]
        assert results[1][1] == "", "only rank 0 reports and logs"

        os.environ.update(env)
        try:
            client = mlflow.tracking.MlflowClient(url)
            experiment = client.get_experiment_by_name("dist")
            runs = client.search_runs([experiment.experiment_id])
        finally:
            for name in env:
                os.environ.pop(name, None)
    assert len(runs) == 1, "one run for the whole job, not one per rank"
    run = runs[0].data
    assert run.params["distributed.world_size"] == str(RANKS)
    assert run.params["distributed.backend"] == "gloo"
    assert run.metrics["roc_auc"] >= 0.90
    assert {"rank0.train_s", "rank1.train_s"} <= set(run.metrics)
