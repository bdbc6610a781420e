"""The MLflow server: pinned venv, hardened unit on loopback, PostgreSQL, basic auth."""

import uuid

import pytest
from conftest import Credentials, container_http
from mlflow_api import API, admin, call

SERVICE_PROPERTIES = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "Restart": "on-failure",
    "User": "mlflow",
}


def test_service_running_and_enabled(host):
    service = host.service("mlflow")
    assert service.is_running
    assert service.is_enabled


@pytest.mark.parametrize(("name", "value"), SERVICE_PROPERTIES.items())
def test_unit_is_hardened(host, name, value):
    assert host.check_output(f"systemctl show -p {name} --value mlflow") == value


def test_listens_on_loopback_only(host):
    sockets = host.check_output("ss -Hltnp | grep -i mlflow || ss -Hltn 'sport = :5000'")
    assert "127.0.0.1:5000" in sockets
    assert "0.0.0.0:5000" not in sockets and "*:5000" not in sockets


def test_workers_from_configuration(host):
    assert "--workers 2" in host.check_output("systemctl show -p ExecStart --value mlflow")


@pytest.mark.parametrize("path", ["/etc/mlflow/mlflow.env", "/etc/mlflow/basic_auth.ini"])
def test_secret_files_readable_by_service_only(host, path):
    f = host.file(path)
    assert (f.user, f.group, f.mode) == ("root", "mlflow", 0o640)


def test_no_secret_on_command_lines(host):
    password = admin(host)[1]
    assert password not in host.check_output("ps -eo args")
    assert "postgresql+psycopg2://" not in host.check_output("ps -eo args")


def test_backend_is_postgresql(host):
    tables = host.check_output(
        "runuser -u postgres -- psql -d mlflow -tAc "
        "\"SELECT count(*) FROM information_schema.tables WHERE table_name = 'experiments'\""
    )
    assert tables == "1"


def test_installed_version_is_the_pin(host):
    version = host.check_output(
        "/opt/mlflow/venv/bin/python -c 'import mlflow; print(mlflow.__version__)'"
    )
    assert version == host.ansible.get_variables()["mlflow_version"]


def test_unauthenticated_and_wrong_password_rejected(host):
    assert call(host, "GET", "experiments/search?max_results=1").status == 401
    assert (
        call(host, "GET", "experiments/search?max_results=1", auth=("admin", "nope")).status == 401
    )


def test_admin_can_use_the_api(host):
    response = call(host, "GET", "experiments/search?max_results=5", auth=admin(host))
    assert response.status == 200, response.body


def test_default_permission_is_no_permissions(host):
    creds = admin(host)
    name = f"alice{uuid.uuid4().hex[:6]}"
    password = "alice-Passw0rd-" + uuid.uuid4().hex
    alice = Credentials(name, password)
    created = call(host, "POST", "users/create", creds, {"username": name, "password": password})
    assert created.status == 200, created.body
    experiment = call(host, "POST", "experiments/create", creds, {"name": f"private-{name}"})
    assert experiment.status == 200, experiment.body
    exp_id = experiment.json()["experiment_id"]
    denied = call(host, "GET", f"experiments/get?experiment_id={exp_id}", alice)
    assert denied.status == 403, denied.body
    own = call(host, "POST", "experiments/create", alice, {"name": f"own-{name}"})
    assert own.status == 200, own.body


def test_artifacts_are_proxied_to_the_data_volume(host):
    creds = admin(host)
    exp = call(host, "POST", "experiments/create", creds, {"name": f"art-{uuid.uuid4().hex[:8]}"})
    run = call(host, "POST", "runs/create", creds, {"experiment_id": exp.json()["experiment_id"]})
    info = run.json()["run"]["info"]
    assert info["artifact_uri"].startswith("mlflow-artifacts:/"), info["artifact_uri"]
    relative = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    url = f"{API.replace('/mlflow', '')}/mlflow-artifacts/artifacts/{relative}/hello.txt"
    put = container_http(host, "PUT", url, auth=creds, body="hello artifact")
    assert put.status == 200, put.body
    stored = host.file(f"/srv/mlops/artifacts/mlflow/{relative}/hello.txt")
    assert stored.exists and stored.content_string == "hello artifact"
    assert stored.user == "mlflow"
