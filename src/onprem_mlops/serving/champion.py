"""Serve the model version that holds a registry alias, and follow the alias when it moves.

Runs as the ``model-serving`` systemd service with the ML venv's Python (MLflow client,
PyTorch); standard library otherwise, so the role copies this file as it is. Configuration
comes from the environment (``MLFLOW_TRACKING_URI``/``_USERNAME``/``_PASSWORD`` and the
``SERVING_*`` variables below).

- No version holds the alias yet (or the registry is unreachable): a placeholder answers every
  request with 503 and a JSON message saying what is missing, and the alias is polled again.
  No crash loop.
- The alias resolves: that version is downloaded to the cache and ``mlflow models serve``
  (MLflow's scoring server) runs it on the same port.
- The alias moves: the new version is downloaded, then the server is swapped (a few seconds
  of 503 while the new one loads).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOG = logging.getLogger("model-serving")


@dataclass(frozen=True)
class Settings:
    model: str
    alias: str
    host: str
    port: int
    workers: int
    cache_dir: Path
    poll_seconds: float
    state_file: Path

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Settings:
        return cls(
            model=env["SERVING_MODEL_NAME"],
            alias=env.get("SERVING_MODEL_ALIAS", "champion"),
            host=env.get("SERVING_HOST", "127.0.0.1"),
            port=int(env.get("SERVING_PORT", "5001")),
            workers=int(env.get("SERVING_WORKERS", "1")),
            cache_dir=Path(env.get("SERVING_CACHE_DIR", "/var/lib/model-serving")),
            poll_seconds=float(env.get("SERVING_POLL_SECONDS", "30")),
            state_file=Path(env.get("SERVING_STATE_FILE", "/var/lib/model-serving/served.json")),
        )


@dataclass(frozen=True)
class Resolved:
    version: str | None
    problem: str = ""  # why there is no version (shown to callers)
    missing: bool = False  # the registry answered: no version holds the alias


def resolve(client: Any, settings: Settings) -> Resolved:
    """The version holding the alias, or the reason there is none."""
    try:
        version = client.get_model_version_by_alias(settings.model, settings.alias)
    except Exception as exc:  # MlflowException, connection errors: all mean "not now"
        text = str(exc)
        if "RESOURCE_DOES_NOT_EXIST" in text or "not found" in text.lower():
            return Resolved(
                None,
                f"no version of the registered model '{settings.model}' has the alias "
                f"'{settings.alias}' yet: train and register one (onprem-mlops smoke-train), "
                "it is served automatically within a poll interval",
                missing=True,
            )
        return Resolved(None, f"the model registry is not reachable: {text.splitlines()[0][:300]}")
    return Resolved(str(version.version))


def placeholder_handler(message: Callable[[], str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            body = json.dumps({"error_code": "MODEL_NOT_READY", "message": message()}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Retry-After", "30")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = _reply

        def log_message(self, format: str, *args: object) -> None:
            LOG.debug(format, *args)

    return Handler


class Placeholder:
    """503 with an explanation on every path, while there is nothing to serve."""

    def __init__(self, settings: Settings) -> None:
        self.message = ""
        handler = placeholder_handler(lambda: self.message)
        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer((settings.host, settings.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def download(settings: Settings, version: str) -> Path:
    """The version's files in the cache (downloaded once; a partial download is redone)."""
    import mlflow.artifacts

    target = settings.cache_dir / "models" / settings.model / version
    done = target / ".complete"
    if not done.exists():
        partial = target.with_name(f"{version}.partial")
        if partial.exists():
            subprocess.run(["rm", "-rf", str(partial)], check=True)
        partial.mkdir(parents=True)
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{settings.model}/{version}", dst_path=str(partial)
        )
        if target.exists():
            subprocess.run(["rm", "-rf", str(target)], check=True)
        partial.rename(target)
        done.touch()
    return target


def serve_command(settings: Settings, model_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "models", "serve",
        "--model-uri", str(model_dir), "--env-manager", "local",
        "--host", settings.host, "--port", str(settings.port),
        "--workers", str(settings.workers),
    ]  # fmt: skip


def healthy(settings: Settings) -> bool:
    try:
        url = f"http://{settings.host}:{settings.port}/ping"
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def write_state(settings: Settings, version: str | None, problem: str) -> None:
    state = {"model": settings.model, "alias": settings.alias, "version": version}
    if problem:
        state["problem"] = problem
    tmp = settings.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state) + "\n", encoding="utf-8")
    tmp.replace(settings.state_file)


class Supervisor:
    def __init__(self, settings: Settings, client: Any) -> None:
        self.settings = settings
        self.client = client
        self.child: subprocess.Popen[bytes] | None = None
        self.placeholder: Placeholder | None = None
        self.version: str | None = None
        self.stopping = False

    def _stop_child(self) -> None:
        if self.child and self.child.poll() is None:
            os.killpg(self.child.pid, signal.SIGTERM)
            try:
                self.child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.child.pid, signal.SIGKILL)
                self.child.wait()
        self.child = None

    def _wait_for(self, resolved: Resolved) -> None:
        if self.placeholder is None:
            self._stop_child()
            self.placeholder = Placeholder(self.settings)
        if self.placeholder.message != resolved.problem:
            LOG.warning("Not serving: %s", resolved.problem)
        self.placeholder.message = resolved.problem
        self.version = None
        write_state(self.settings, None, resolved.problem)

    def _switch_to(self, version: str) -> None:
        LOG.info(
            "Serving %s version %s (alias %s)", self.settings.model, version, self.settings.alias
        )
        model_dir = download(self.settings, version)  # while the old server still answers
        self._stop_child()
        if self.placeholder is not None:
            self.placeholder.stop()
            self.placeholder = None
        # MLflow starts uvicorn by name: the venv's bin/ must come first on PATH.
        venv_bin = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        self.child = subprocess.Popen(
            serve_command(self.settings, model_dir), start_new_session=True, env=env
        )
        self.version = version
        write_state(self.settings, version, "")

    def step(self) -> None:
        if self.child is not None and self.child.poll() is not None:
            raise SystemExit(f"the scoring server exited with {self.child.returncode}")
        resolved = resolve(self.client, self.settings)
        if resolved.version is not None:
            if resolved.version != self.version:
                try:
                    self._switch_to(resolved.version)
                except Exception as exc:  # download refused or failed: say so, retry later
                    problem = (
                        f"version {resolved.version} of '{self.settings.model}' cannot be "
                        f"loaded: {str(exc).splitlines()[0][:300]}"
                    )
                    if self.version is None:
                        self._wait_for(Resolved(None, problem))
                    else:
                        LOG.error("Keeping version %s: %s", self.version, problem)
        elif self.version is None or resolved.missing:
            self._wait_for(resolved)  # nothing served yet, or the alias was removed
        else:
            LOG.warning("Keeping version %s: %s", self.version, resolved.problem)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        try:
            while not self.stopping:
                self.step()
                deadline = time.monotonic() + self.settings.poll_seconds
                while not self.stopping and time.monotonic() < deadline:
                    if self.child is not None and self.child.poll() is not None:
                        break
                    time.sleep(0.5)
        finally:
            self._stop_child()
            if self.placeholder is not None:
                self.placeholder.stop()
        return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    settings = Settings.from_env(dict(os.environ))
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    from mlflow import MlflowClient

    return Supervisor(settings, MlflowClient()).run()


if __name__ == "__main__":
    sys.exit(main())
