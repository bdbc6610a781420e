"""``deploy-check``: the serving endpoint answers with the new version within a time limit.

The endpoint does not say which version it serves, so the check asks it: the version's own
input example (logged with the model) is sent to ``/invocations`` until the answers equal the
predictions of that version loaded from the registry. When they do not within the limit, the
caller rolls the alias back (only if it still points at the new version).

Requests carry MLFLOW_TRACKING_USERNAME/_PASSWORD as basic auth (the platform's gate checks the
caller's MLflow permission on the served model) and trust MLFLOW_TRACKING_SERVER_CERT_PATH.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from onprem_mlops.smoke.deps import require

RTOL = 1e-4
ATOL = 1e-6


@dataclass(frozen=True)
class Probe:
    rows: Any  # float32 (n, features)
    expected: Any  # float64 (n,) the new version's answers
    previous: Any | None  # the previous version's answers, when there is one

    @property
    def distinguishes(self) -> bool:
        """The new version's answers differ from the previous one's (else the check is blind)."""
        return self.previous is None or not _same(self.previous, self.expected)


def _same(a: Any, b: Any) -> bool:
    np = require("numpy")
    return bool(a.shape == b.shape and np.allclose(a, b, rtol=RTOL, atol=ATOL))


def probe(model: str, version: str, previous: str | None) -> Probe:
    """The input example of ``version`` and the answers of ``version`` and ``previous``."""
    pyfunc = require("mlflow.pyfunc")
    np = require("numpy")
    loaded = pyfunc.load_model(f"models:/{model}/{version}")
    rows = loaded.input_example
    if rows is None:
        raise ValueError(f"{model} version {version} was logged without an input example")
    rows = np.asarray(rows, dtype=np.float32)

    def answers(m: Any) -> Any:
        return np.asarray(m.predict(rows), dtype=np.float64).ravel()

    before = answers(pyfunc.load_model(f"models:/{model}/{previous}")) if previous else None
    return Probe(rows, answers(loaded), before)


def _request(endpoint: str, rows: Any, timeout: float) -> urllib.request.Request:
    body = json.dumps({"inputs": rows.tolist()}).encode()
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/invocations",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request


def _context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"))


def ask(endpoint: str, rows: Any, timeout: float = 10.0) -> tuple[Any | None, str]:
    """The endpoint's answers for ``rows`` (None and why when it gave none)."""
    np = require("numpy")
    try:
        with urllib.request.urlopen(
            _request(endpoint, rows, timeout), timeout=timeout, context=_context()
        ) as response:
            data = json.loads(response.read())
    except urllib.error.HTTPError as err:
        return None, f"HTTP {err.code} {err.reason}"
    except (OSError, ValueError) as err:
        return None, f"no answer ({err})"
    predictions = data.get("predictions") if isinstance(data, dict) else None
    if predictions is None:
        return None, "an answer without predictions"
    return np.asarray(predictions, dtype=np.float64).ravel(), "ok"


@dataclass(frozen=True)
class Outcome:
    served: bool
    seconds: float
    attempts: int
    last: str  # what the endpoint last answered: "ok", "the previous version", an error


def wait_until_served(endpoint: str, check: Probe, limit: float, interval: float = 2.0) -> Outcome:
    """Ask every ``interval`` seconds until the answers are the new version's, or ``limit``."""
    started = time.monotonic()
    attempts = 0
    last = "not asked"
    while True:
        attempts += 1
        answers, status = ask(endpoint, check.rows, timeout=min(10.0, max(limit, 1.0)))
        if answers is not None and _same(answers, check.expected):
            return Outcome(True, time.monotonic() - started, attempts, "ok")
        if answers is None:
            last = status
        elif check.previous is not None and _same(answers, check.previous):
            last = "the previous version's answers"
        else:
            last = "answers of neither the new nor the previous version"
        elapsed = time.monotonic() - started
        if elapsed + interval > limit:
            return Outcome(False, elapsed, attempts, last)
        time.sleep(interval)
