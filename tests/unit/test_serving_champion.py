"""The champion supervisor: alias resolution, the 503 placeholder, following the alias."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from onprem_mlops.serving import champion


class FakeVersion:
    def __init__(self, version: str) -> None:
        self.version = version


class FakeClient:
    def __init__(self) -> None:
        self.alias: str | None = None
        self.error: Exception | None = None

    def get_model_version_by_alias(self, name: str, alias: str) -> FakeVersion:
        if self.error:
            raise self.error
        if self.alias is None:
            raise RuntimeError(
                f"RESOURCE_DOES_NOT_EXIST: Registered model alias {alias} not found."
            )
        return FakeVersion(self.alias)


def settings(tmp_path: Path, port: int = 0) -> champion.Settings:
    return champion.Settings(
        model="pm", alias="champion", host="127.0.0.1", port=port, workers=1,
        cache_dir=tmp_path, poll_seconds=5, state_file=tmp_path / "served.json",
    )  # fmt: skip


def test_settings_from_environment(tmp_path):
    env = {"SERVING_MODEL_NAME": "pm", "SERVING_PORT": "5009", "SERVING_CACHE_DIR": str(tmp_path)}
    s = champion.Settings.from_env(env)
    assert (s.model, s.alias, s.port, s.cache_dir) == ("pm", "champion", 5009, tmp_path)


def test_resolve_missing_alias_is_explained(tmp_path):
    resolved = champion.resolve(FakeClient(), settings(tmp_path))
    assert resolved.version is None and resolved.missing
    assert (
        "no version of the registered model 'pm' has the alias 'champion' yet" in resolved.problem
    )


def test_resolve_unreachable_registry_is_not_missing(tmp_path):
    client = FakeClient()
    client.error = ConnectionError("Connection refused\nmore")
    resolved = champion.resolve(client, settings(tmp_path))
    assert resolved.version is None and not resolved.missing
    assert resolved.problem == "the model registry is not reachable: Connection refused"


def test_resolve_found(tmp_path):
    client = FakeClient()
    client.alias = "3"
    assert champion.resolve(client, settings(tmp_path)).version == "3"


def test_placeholder_answers_503_with_the_message(tmp_path):
    placeholder = champion.Placeholder(settings(tmp_path))
    placeholder.message = "nothing to serve yet"
    port = placeholder.server.server_address[1]
    try:
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/invocations", data=b"{}", timeout=5)
        assert caught.value.code == 503
        body = json.loads(caught.value.read())
        assert body == {"error_code": "MODEL_NOT_READY", "message": "nothing to serve yet"}
    finally:
        placeholder.stop()


class RecordingSupervisor(champion.Supervisor):
    """Records switches instead of downloading and starting MLflow's scoring server."""

    def __init__(self, s, client) -> None:
        super().__init__(s, client)
        self.events: list[str] = []

    def _wait_for(self, resolved) -> None:
        self.events.append(f"wait:{resolved.missing}")
        self.version = None

    def _switch_to(self, version: str) -> None:
        self.events.append(f"serve:{version}")
        self.version = version


def test_supervisor_follows_the_alias(tmp_path):
    client = FakeClient()
    sup = RecordingSupervisor(settings(tmp_path), client)
    sup.step()  # no champion yet
    client.alias = "1"
    sup.step()
    sup.step()  # unchanged: nothing happens
    client.alias = "2"
    sup.step()
    client.error = ConnectionError("down")
    sup.step()  # registry down: keep serving version 2
    client.error = None
    client.alias = None
    sup.step()  # alias removed: stop serving
    assert sup.events == ["wait:True", "serve:1", "serve:2", "wait:True"]


def test_state_file_is_written_atomically(tmp_path):
    s = settings(tmp_path)
    champion.write_state(s, "4", "")
    assert json.loads(s.state_file.read_text()) == {
        "model": "pm",
        "alias": "champion",
        "version": "4",
    }
    assert not s.state_file.with_suffix(".tmp").exists()


def test_serve_command_uses_mlflows_scoring_server(tmp_path):
    command = champion.serve_command(settings(tmp_path, port=5001), tmp_path / "m")
    assert command[1:5] == ["-m", "mlflow", "models", "serve"]
    assert command[7:9] == ["--env-manager", "local"]
    assert "--port" in command and "5001" in command


class FailingDownload(RecordingSupervisor):
    def _switch_to(self, version: str) -> None:
        if version == "2":
            raise RuntimeError("403 Client Error: Forbidden\ndetails")
        super()._switch_to(version)

    def _wait_for(self, resolved) -> None:
        self.events.append(f"wait:{resolved.problem}")
        self.version = None


def test_version_that_cannot_be_loaded_is_reported_not_fatal(tmp_path):
    client = FakeClient()
    client.alias = "2"
    sup = FailingDownload(settings(tmp_path), client)
    sup.step()  # nothing served yet: the placeholder explains why
    assert sup.events == ["wait:version 2 of 'pm' cannot be loaded: 403 Client Error: Forbidden"]
    client.alias = "1"
    sup.step()
    client.alias = "2"
    sup.step()  # keeps serving 1
    assert sup.version == "1"
