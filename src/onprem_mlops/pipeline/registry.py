"""Move a registry alias safely: under the model's lock, and only from the expected version.

MLflow's registry has no compare-and-set for aliases. ``move_alias`` closes the race of two
pipelines that both evaluated against the same champion: it takes the lock, re-reads the alias
and refuses when it no longer points at the version the caller expects, then moves it and reads
it back. Each move is recorded as tags on the new holder (who it replaced and why).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onprem_mlops.pipeline import lock
from onprem_mlops.smoke.deps import require

NONE = "none"  # the expected holder when the alias is not set yet


class Refused(RuntimeError):
    """The move would be wrong (alias moved meanwhile, unknown version); nothing was changed."""


@dataclass(frozen=True)
class Move:
    model: str
    alias: str
    version: str
    previous: str | None
    reason: str


def holder(client: Any, model: str, alias: str) -> str | None:
    """The version the alias points at; None when the alias (or the model) does not exist."""
    exceptions = require("mlflow.exceptions")
    try:
        return str(client.get_model_version_by_alias(model, alias).version)
    except exceptions.MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def _ready_version(client: Any, model: str, version: str) -> None:
    exceptions = require("mlflow.exceptions")
    try:
        details = client.get_model_version(model, version)
    except exceptions.MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise Refused(f"{model} has no version {version}") from exc
        raise
    status = str(getattr(details, "status", "READY"))
    if status != "READY":
        raise Refused(f"{model} version {version} is {status}, not READY")


def move_alias(
    client: Any,
    *,
    model: str,
    alias: str,
    version: str,
    expected: str | None,
    reason: str,
    lock_dir: Path,
    lock_timeout: float = 60.0,
) -> Move:
    """Point ``alias`` at ``version`` if it still points at ``expected`` (None: unset)."""
    with lock.held(lock.lock_path(lock_dir, model, alias), lock_timeout):
        current = holder(client, model, alias)
        if current != expected:
            raise Refused(
                f"the {alias} alias of {model} is version {current or NONE}, not "
                f"{expected or NONE} as when this pipeline evaluated: another pipeline moved "
                "it; evaluate again against the new holder"
            )
        if current == version:
            raise Refused(f"the {alias} alias of {model} already points at version {version}")
        _ready_version(client, model, version)
        client.set_model_version_tag(model, version, f"pipeline.{alias}.previous", current or NONE)
        client.set_model_version_tag(model, version, f"pipeline.{alias}.reason", reason[:500])
        client.set_model_version_tag(
            model,
            version,
            f"pipeline.{alias}.since",
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        client.set_registered_model_alias(model, alias, version)
        after = holder(client, model, alias)
        if after != version:
            raise Refused(
                f"the {alias} alias of {model} reads version {after or NONE} right after it was "
                f"set to {version}: something outside this lock moves it"
            )
    return Move(model, alias, version, current, reason)
