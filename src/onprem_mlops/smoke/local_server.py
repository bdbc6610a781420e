"""A throw-away local ``mlflow server`` with basic auth, for tests and benchmarks.

Loopback only, SQLite stores and proxied artifacts in one directory, default permission
NO_PERMISSIONS and one admin account: the same authentication path as the platform, without
nginx/TLS. Not for production (the Ansible roles set up PostgreSQL, nginx and TLS).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ADMIN = "admin"


class ServerError(RuntimeError):
    """The server exited or did not become healthy; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _auth_config(root: Path, password: str) -> Path:
    path = root / "basic_auth.ini"
    path.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{root / 'auth.db'}\n"
        f"admin_username = {ADMIN}\n"
        f"admin_password = {password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Cache credential checks: without it every request pays a PBKDF2 hash.
        "auth_cache_ttl_seconds = 60\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # uvicorn and its workers share the group
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@contextlib.contextmanager
def running(root: Path, password: str, start_timeout_s: float = 300.0) -> Iterator[str]:
    """Start the server with its state under ``root``; yield its URL; stop its process group."""
    root.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(_auth_config(root, password))
    env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = os.urandom(16).hex()
    # No background job runner: seven extra processes that slow the start and are not used.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
        "--app-name", "basic-auth",
    ]  # fmt: skip
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + start_timeout_s
        while not healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                state = (
                    f"exited with {process.returncode}"
                    if process.poll() is not None
                    else (f"not healthy after {start_timeout_s:.0f} s")
                )
                tail = log_path.read_text(errors="replace")[-3000:]
                raise ServerError(f"mlflow server {state}; {log_path}:\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(process)
