"""Calls from inside the scenario's container: through nginx (TLS, the platform's CA) or to
the loopback services directly."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import Credentials, HttpResponse, container_http

BASE = "https://localhost"
API = f"{BASE}/api/2.0/mlflow"
SERVING = f"{BASE}/serving"
CA = "/etc/ssl/certs/ca-certificates.crt"
MODEL = "predictive-maintenance"


def secret(host, name: str) -> str:
    credentials = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials"
    return (credentials / host.backend.get_hostname() / name).read_text().strip()


def admin(host) -> Credentials:
    return Credentials("admin", secret(host, "mlflow-admin.password"))


def serving_account(host) -> Credentials:
    return Credentials("model-serving", secret(host, "mlflow-model-serving.password"))


def https(host, method: str, url: str, auth=None, body=None) -> HttpResponse:
    return container_http(host, method, url, auth=auth, body=body, cafile=CA, timeout=60)


def wait_for(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(2)
    raise AssertionError(f"{what} not reached within {timeout_s} s (last: {last!r})")
