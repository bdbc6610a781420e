"""One training loop for every template: mini-batches, mixed precision, early stopping."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from onprem_mlops.smoke.deps import require
from onprem_mlops.smoke.runtime import Runtime


class Peers(Protocol):
    """The processes that train one model together (smoke.distributed.Group), or just this one."""

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    def broadcast(self, value: float, src: int = 0) -> float: ...

    def any(self, flag: bool) -> bool: ...


class Alone:
    """A single process: every rank's view is this process's."""

    rank = 0
    size = 1

    def broadcast(self, value: float, src: int = 0) -> float:
        return value

    def any(self, flag: bool) -> bool:
        return flag


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 40
    batch_size: int = 1024
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 6  # epochs without improvement on the validation set before stopping
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.1

    def params(self) -> dict[str, Any]:
        return {
            "train.epochs_max": self.epochs,
            "train.batch_size": self.batch_size,
            "train.learning_rate": self.learning_rate,
            "train.weight_decay": self.weight_decay,
            "train.patience": self.patience,
            "model.hidden": "x".join(map(str, self.hidden)),
            "model.dropout": self.dropout,
        }


@dataclass
class FitOutcome:
    model: Any  # the model with the best validation score loaded
    best_score: float
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    stop_reason: str = "epochs"


def predict(model: Any, x: Any, runtime: Runtime) -> Any:
    """Model outputs for ``x`` (a tensor on the runtime's device) as a float64 NumPy vector."""
    torch = require("torch")
    model.eval()
    with torch.no_grad(), runtime.autocast():
        out = model(x)
    return out.float().squeeze(-1).cpu().numpy().astype("float64")


def fit(
    model: Any,
    train: tuple[Any, Any],
    loss_fn: Any,
    score: Callable[[Any], float],
    *,
    config: FitConfig,
    runtime: Runtime,
    greater_is_better: bool,
    deadline: float,
    peers: Peers | None = None,
) -> FitOutcome:
    """Train ``model`` on ``train`` (tensors on the device) and keep its best validation state.

    ``score(model)`` evaluates on the validation set. Training stops after ``config.epochs``,
    after ``config.patience`` epochs without improvement, or when another epoch would end after
    ``deadline`` (a ``time.perf_counter()`` value).

    With ``peers`` (data-parallel training, ``model`` wrapped in DistributedDataParallel), every
    rank draws the same permutation, takes its own equal share of it and uses
    ``batch_size / peers.size`` rows per step, so a step sees the same global batch as on one
    process. Rank 0's validation score and any rank's time-budget stop count for all, so every
    rank runs the same number of epochs and keeps the same best state.
    """
    torch = require("torch")
    x, y = train
    peers = peers or Alone()
    share = len(x) // peers.size
    step = max(config.batch_size // peers.size, 1)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scaler = runtime.grad_scaler()
    generator = torch.Generator().manual_seed(int(torch.initial_seed()) % 2**63)
    sign = 1.0 if greater_is_better else -1.0
    outcome = FitOutcome(model=model, best_score=float("nan"), best_epoch=0)
    best_state: dict[str, Any] | None = None
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(x), generator=generator)
        order = order[peers.rank * share : (peers.rank + 1) * share].to(x.device)
        total = 0.0
        for begin in range(0, share, step):
            batch = order[begin : begin + step]
            optimizer.zero_grad(set_to_none=True)
            with runtime.autocast():
                loss = loss_fn(model(x[batch]).squeeze(-1).float(), y[batch])
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += float(loss.detach()) * len(batch)
        value = peers.broadcast(score(model))
        outcome.history.append({"train_loss": total / share, "valid_score": value})
        if best_state is None or sign * value > sign * outcome.best_score:
            outcome.best_score, outcome.best_epoch = value, epoch
            best_state = copy.deepcopy(model.state_dict())
        now = time.perf_counter()
        if epoch - outcome.best_epoch >= config.patience:
            outcome.stop_reason = "no improvement"
            break
        if peers.any(epoch < config.epochs and now + (now - started) > deadline):
            outcome.stop_reason = "time budget"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return outcome


def standardisation(x: Any) -> tuple[Any, Any]:
    """Per-column mean and standard deviation (never zero) of a NumPy matrix."""
    np = require("numpy")
    return x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)


def to_device(array: Any, runtime: Runtime) -> Any:
    torch = require("torch")
    return torch.as_tensor(array, dtype=torch.float32).to(runtime.device)
