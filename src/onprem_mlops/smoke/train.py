"""The predictive-maintenance template: sensor windows -> failure within N days (ROC-AUC bar)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onprem_mlops.smoke import dataset, loop, metrics, model, runtime
from onprem_mlops.smoke.deps import require
from onprem_mlops.smoke.result import TrainResult

if TYPE_CHECKING:
    from onprem_mlops.smoke.distributed import Group

TEMPLATE = "predictive-maintenance"
METRIC = "roc_auc"
DEFAULT_MIN_AUC = 0.90


@dataclass(frozen=True)
class MaintenanceJob:
    seed: int = 0
    min_auc: float = DEFAULT_MIN_AUC
    max_seconds: float = 60.0
    device: str = "auto"
    threads: int | None = None  # CPU threads; None: runtime.DEFAULT_CPU_THREADS
    data: dataset.MaintenanceConfig = field(default_factory=dataset.MaintenanceConfig)
    fit: loop.FitConfig = field(default_factory=loop.FitConfig)


def _data_parallel(net: Any, rt: runtime.Runtime) -> Any:
    torch = require("torch")
    devices = [torch.cuda.current_device()] if rt.device == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(net, device_ids=devices)


def _distributed_figures(group: Group, train_s: float) -> tuple[dict[str, Any], dict[str, float]]:
    """Parameters and per-rank metrics of a data-parallel run (a collective: every rank calls)."""
    seconds = group.gather(train_s)
    hosts = group.gather(socket.gethostname())
    params = {
        "distributed.world_size": group.size,
        "distributed.backend": group.backend,
        "distributed.launcher": group.rendezvous.launcher,
        "distributed.hosts": ",".join(sorted(set(hosts))),
    }
    return params, {f"rank{rank}.train_s": float(s) for rank, s in enumerate(seconds)}


def run(job: MaintenanceJob | None = None, group: Group | None = None) -> TrainResult:
    """Generate the data, train, evaluate on held-out machines; nothing is logged here.

    With ``group`` every rank of a joined process group calls this: each generates the same
    data (one seed), trains on its share of the training windows with DistributedDataParallel
    and evaluates the same model; the result is the same on every rank.
    """
    job = job or MaintenanceJob()
    torch = require("torch")
    started = time.perf_counter()
    deadline = started + job.max_seconds
    data = dataset.generate(job.data)
    data_s = time.perf_counter() - started

    rt = runtime.select(job.device, job.threads)
    with runtime.deterministic(rt, job.seed):
        x_train, y_train = data.part("train")
        x_valid, y_valid = data.part("valid")
        x_test, y_test = data.part("test")
        mean, std = loop.standardisation(x_train)
        to = lambda a: loop.to_device((a - mean) / std, rt)  # noqa: E731
        valid, test = to(x_valid), to(x_test)
        net = model.build_mlp(len(data.feature_names), job.fit.hidden, job.fit.dropout).to(
            rt.device
        )
        outcome = loop.fit(
            net if group is None else _data_parallel(net, rt),
            (to(x_train), loop.to_device(y_train, rt)),
            torch.nn.BCEWithLogitsLoss(),
            lambda _: metrics.roc_auc(y_valid, loop.predict(net, valid, rt)),
            config=job.fit,
            runtime=rt,
            greater_is_better=True,
            deadline=deadline,
            peers=group,
        )
        test_auc = metrics.roc_auc(y_test, loop.predict(net, test, rt))
        exported = model.export(net, mean, std, sigmoid=True)
    train_s = time.perf_counter() - started - data_s
    extra_params, extra_metrics = _distributed_figures(group, train_s) if group else ({}, {})

    return TrainResult(
        template=TEMPLATE,
        metric_name=METRIC,
        metric=test_auc,
        greater_is_better=True,
        bar=job.min_auc,
        model=exported,
        input_example=x_test[:5].copy(),
        feature_names=data.feature_names,
        device=rt.device_name,
        precision=rt.precision,
        params={
            "template": TEMPLATE,
            "seed": job.seed,
            "min_auc": job.min_auc,
            "max_seconds": job.max_seconds,
            "device": rt.device,
            "precision": rt.precision,
            "threads": rt.threads,
            **job.data.params(),
            **job.fit.params(),
            **extra_params,
        },
        metrics={
            METRIC: test_auc,
            "valid_roc_auc": outcome.best_score,
            "best_epoch": float(outcome.best_epoch),
            "epochs": float(len(outcome.history)),
            "positive_rate": data.positive_rate(),
            "windows_train": float(len(y_train)),
            "windows_test": float(len(y_test)),
            **extra_metrics,
        },
        history=outcome.history,
        timings={"data": data_s, "train": train_s},
        stop_reason=outcome.stop_reason,
    )
