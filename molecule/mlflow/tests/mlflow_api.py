"""Talking to the scenario's MLflow from inside the container, as admin or as nobody."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import Credentials, HttpResponse, container_http

URL = "http://127.0.0.1:5000"
API = f"{URL}/api/2.0/mlflow"


def admin(host) -> Credentials:
    credentials = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials"
    name = host.backend.get_hostname()
    return Credentials("admin", (credentials / name / "mlflow-admin.password").read_text().strip())


def call(host, method: str, path: str, auth=None, body=None) -> HttpResponse:
    return container_http(host, method, f"{API}/{path}", auth=auth, body=body)


def wait_healthy(host, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if container_http(host, "GET", f"{URL}/health", timeout=5).status == 200:
            return
        time.sleep(2)
    raise AssertionError(f"MLflow not healthy within {timeout_s} s")
