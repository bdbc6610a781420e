"""MLflow side of the smoke job: log the run, register the model, move the champion alias.

Credentials and TLS come from MLflow's own environment variables (MLFLOW_TRACKING_USERNAME,
MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_SERVER_CERT_PATH,
MLFLOW_TRACKING_INSECURE_TLS); this module never reads or prints them.

The champion comparison reads the champion version's metric tag (falling back to its run's
metric) and moves the alias only when the new version is strictly better. Two jobs finishing at
the same moment can race between that read and the alias update; the registry has no
compare-and-set, so run smoke jobs for one model name one at a time.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlparse

from onprem_mlops import __version__
from onprem_mlops.smoke.deps import require
from onprem_mlops.smoke.result import TrainResult

DEFAULT_EXPERIMENT = "onprem-smoke"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
CHAMPION = "champion"
ARTIFACT_NAME = "model"


class TrackingError(RuntimeError):
    """MLflow could not be reached or refused a request; the message says what to do."""


@dataclass
class Publication:
    run_id: str
    experiment_id: str
    model_uri: str
    version: str | None = None  # registered version; None when the bar was missed
    champion_before: str | None = None
    champion_metric_before: float | None = None
    champion_moved: bool = False


def uri_problem(uri: str | None) -> str | None:
    """Why ``uri`` cannot be the MLflow tracking URI (None when it can); names --tracking-uri."""
    if not uri:
        return "--tracking-uri is required (or set MLFLOW_TRACKING_URI)"
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return (
            f"--tracking-uri must be an http(s):// URL of the MLflow server, got {parsed.scheme}:"
        )
    if parsed.username or parsed.password:
        return (
            "--tracking-uri must not contain credentials: "
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead"
        )
    return None


def cleartext_warning(uri: str) -> str | None:
    """A warning when credentials would travel unencrypted to another host."""
    parsed = urlparse(uri)
    if parsed.scheme == "http" and parsed.hostname not in LOOPBACK:
        return "warning: http:// sends credentials in clear text; use the platform's https:// URL"
    return None


def redact(uri: str) -> str:
    """``uri`` without user:password@ (never echo credentials embedded in a URI)."""
    return re.sub(r"//[^/@]*@", "//***@", uri)


def explain(exc: BaseException, tracking_uri: str) -> str:
    """A one-line, actionable message for an MLflow or network failure."""
    text = str(exc)
    status = None
    getter = getattr(exc, "get_http_status_code", None)
    if callable(getter):
        status = getter()
    code = getattr(exc, "error_code", "")
    where = redact(tracking_uri)
    if status == 401 or code == "UNAUTHENTICATED" or " 401 " in text:
        return (
            f"MLflow rejected the credentials (HTTP 401 from {where}): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD for an account on the server"
        )
    if status == 403 or code == "PERMISSION_DENIED" or " 403 " in text:
        return (
            f"MLflow denied the request (HTTP 403 from {where}): the account needs EDIT on the "
            "experiment and MANAGE on the registered model (ask the platform admin)"
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text:
        return (
            f"TLS verification of {where} failed: set MLFLOW_TRACKING_SERVER_CERT_PATH to the "
            "platform's CA certificate (PEM)"
        )
    if "Connection refused" in text or "Max retries exceeded" in text or "timed out" in text:
        return f"cannot reach MLflow at {where}: check the URI, the network and the server"
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"MLflow request to {where} failed: {first_line[:300]}"


def client_errors() -> tuple[type[BaseException], ...]:
    mlflow_exceptions = require("mlflow.exceptions")
    requests = require("requests")
    return (mlflow_exceptions.MlflowException, requests.exceptions.RequestException, OSError)


def check_connection(tracking_uri: str, experiment: str) -> None:
    """One cheap authenticated request, so bad credentials fail before training starts."""
    client = require("mlflow.tracking").MlflowClient(tracking_uri)
    try:
        client.get_experiment_by_name(experiment)
    except client_errors() as exc:
        raise TrackingError(explain(exc, tracking_uri)) from exc


def champion(client: Any, model_name: str, metric_name: str) -> tuple[str | None, float | None]:
    """The version holding the champion alias and its metric (None, None when there is none)."""
    mlflow_exceptions = require("mlflow.exceptions")
    try:
        aliases = client.get_registered_model(model_name).aliases or {}
    except mlflow_exceptions.MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None, None
        raise
    version = aliases.get(CHAMPION)
    if version is None:
        return None, None
    details = client.get_model_version(model_name, str(version))
    tagged = details.tags.get(metric_name)
    if tagged is not None:
        return str(version), float(tagged)
    run_id = details.run_id
    value = client.get_run(run_id).data.metrics.get(metric_name) if run_id else None
    return str(version), value


def promote(
    client: Any, model_name: str, version: str, result: TrainResult
) -> tuple[str | None, float | None, bool]:
    """Tag ``version`` with the metric; give it the champion alias only when strictly better.

    Returns the previous champion version, its metric and whether the alias moved. A champion
    without a comparable metric (set by hand, another template) is left alone.
    """
    before, before_metric = champion(client, model_name, result.metric_name)
    client.set_model_version_tag(
        model_name, version, result.metric_name, repr(float(result.metric))
    )
    client.set_model_version_tag(model_name, version, "template", result.template)
    moved = before is None or (before_metric is not None and result.better_than(before_metric))
    if moved:
        client.set_registered_model_alias(model_name, CHAMPION, version)
    return before, before_metric, moved


def _pip_requirements() -> list[str]:
    metadata = require("importlib.metadata")
    return [f"{name}=={metadata.version(name)}" for name in ("torch", "numpy")]


def log_run(
    result: TrainResult, tracking_uri: str, experiment: str, run_name: str | None = None
) -> Publication:
    """Log parameters, metrics, the per-epoch history and the model (signature + example)."""
    mlflow = require("mlflow")
    entities = require("mlflow.entities")
    models = require("mlflow.models")
    require("mlflow.pytorch")
    torch = require("torch")

    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    with torch.no_grad():
        output = result.model(torch.from_numpy(result.input_example))
    signature = models.infer_signature(result.input_example, output.numpy())
    tags = {
        "template": result.template,
        "device": result.device,
        "precision": result.precision,
        "quality_metric": result.metric_name,
        "quality_bar": repr(float(result.bar)),
        "bar_met": str(result.bar_met).lower(),
        "stop_reason": result.stop_reason,
        "host": socket.gethostname(),
        "onprem_mlops_version": __version__,
    }
    with mlflow.start_run(run_name=run_name or f"smoke-{result.template}", tags=tags) as run:
        mlflow.log_params(result.params)
        # The model first: metrics logged afterwards carry its id, which links them to the
        # model without MLflow fetching every metric's history back (one request per metric).
        info = mlflow.pytorch.log_model(
            result.model,
            name=ARTIFACT_NAME,
            signature=signature,
            input_example=result.input_example,
            pip_requirements=_pip_requirements(),
            serialization_format="pt2",  # torch.export: loading needs no pickle
            metadata={"feature_names": result.feature_names, "template": result.template},
        )
        timestamp = int(run.info.start_time)
        history = [
            entities.Metric(f"epoch_{key}", float(value), timestamp, step)
            for step, entry in enumerate(result.history, start=1)
            for key, value in entry.items()
        ]
        metrics = {**result.metrics, **{f"seconds_{k}": v for k, v in result.timings.items()}}
        final = [
            entities.Metric(k, float(v), timestamp, 0, model_id=info.model_id)
            for k, v in metrics.items()
        ]
        mlflow.tracking.MlflowClient(tracking_uri).log_batch(
            run.info.run_id, metrics=history + final
        )
        mlflow.log_dict({"feature_names": result.feature_names}, "feature_names.json")
    return Publication(
        run_id=run.info.run_id, experiment_id=experiment_id, model_uri=info.model_uri
    )


def publish(
    result: TrainResult, tracking_uri: str, experiment: str, model_name: str
) -> Publication:
    """Log the run; when the bar is met, register a version and maybe move the champion."""
    try:
        logged = log_run(result, tracking_uri, experiment)
        if not result.bar_met:
            return logged
        mlflow = require("mlflow")
        version = mlflow.register_model(logged.model_uri, model_name).version
        client = mlflow.tracking.MlflowClient(tracking_uri)
        before, before_metric, moved = promote(client, model_name, str(version), result)
    except client_errors() as exc:
        raise TrackingError(explain(exc, tracking_uri)) from exc
    return replace(
        logged,
        version=str(version),
        champion_before=before,
        champion_metric_before=before_metric,
        champion_moved=moved,
    )
