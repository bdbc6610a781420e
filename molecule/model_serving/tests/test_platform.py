"""Platform acceptance after phases 3-5: services, exposure, authentication, the smoke run,
the registry alias and the serving endpoint, all through nginx with TLS."""

import json

import pytest
from platform_api import API, MODEL, SERVING, admin, https, serving_account

SERVICES = ["postgresql", "mlflow", "nginx", "model-serving"]


@pytest.mark.parametrize("name", SERVICES)
def test_service_running_and_enabled(host, name):
    service = host.service(name)
    assert service.is_running and service.is_enabled


def test_backup_timer_active(host):
    assert host.service("onprem-mlops-backup.timer").is_enabled


def test_only_nginx_and_sshd_listen_beyond_loopback(host):
    exposed = []
    for line in host.check_output("ss -Hltnp").splitlines():
        local = line.split()[3]
        address = local.rsplit(":", 1)[0].strip("[]")
        if address not in ("127.0.0.1", "::1") and not address.startswith("127."):
            exposed.append(line)
    assert exposed, "nginx should listen on 80/443"
    programs = {line.split()[3].rsplit(":", 1)[1]: line for line in exposed}
    assert set(programs) == {"22", "80", "443"}, exposed  # sshd since phase 7
    assert '"sshd"' in programs["22"]
    assert all('"nginx"' in programs[port] for port in ("80", "443")), exposed


def test_unauthenticated_api_and_serving_calls_get_401(host):
    assert https(host, "GET", f"{API}/experiments/search?max_results=1").status == 401
    response = https(host, "POST", f"{SERVING}/invocations", body={"inputs": [[0.0]]})
    assert response.status == 401
    assert response.headers.get("www-authenticate", "").startswith("Basic")
    wrong = https(host, "GET", f"{API}/experiments/search", auth=("admin", "wrong-password"))
    assert wrong.status == 401


def test_smoke_run_logged_above_the_bar(host):
    creds = admin(host)
    experiment = https(
        host, "GET", f"{API}/experiments/get-by-name?experiment_name=onprem-smoke", creds
    )
    assert experiment.status == 200, experiment.body
    exp_id = experiment.json()["experiment"]["experiment_id"]
    runs = https(host, "POST", f"{API}/runs/search", creds, {"experiment_ids": [exp_id]})
    assert runs.status == 200, runs.body
    found = runs.json().get("runs", [])
    assert found, "no smoke run"
    metrics = {m["key"]: m["value"] for m in found[0]["data"]["metrics"]}
    assert metrics["roc_auc"] >= 0.90, metrics


def test_registered_model_has_the_champion_alias(host):
    response = https(
        host, "GET", f"{API}/registered-models/alias?name={MODEL}&alias=champion", admin(host)
    )
    assert response.status == 200, response.body
    assert response.json()["model_version"]["name"] == MODEL


def served_version(host) -> str | None:
    state = json.loads(host.file("/var/lib/model-serving/served.json").content_string)
    return state.get("version")


def sample_request(host) -> dict:
    version = served_version(host)
    path = f"/var/lib/model-serving/models/{MODEL}/{version}/serving_input_example.json"
    return json.loads(host.file(path).content_string)


def test_serving_answers_with_predictions_of_the_right_shape(host):
    request = sample_request(host)
    rows = len(request["inputs"])
    response = https(host, "POST", f"{SERVING}/invocations", serving_account(host), request)
    assert response.status == 200, response.body
    predictions = response.json()["predictions"]
    assert len(predictions) == rows
    flat = [p[0] if isinstance(p, list) else p for p in predictions]
    assert all(isinstance(p, float) for p in flat), predictions


def test_malformed_request_gets_4xx_with_a_message(host):
    response = https(host, "POST", f"{SERVING}/invocations", serving_account(host), {"nonsense": 1})
    assert 400 <= response.status < 500, response.body
    assert response.json().get("message"), response.body


def test_serving_reads_only_with_read_permission(host):
    """A user without READ on the model is refused by nginx's check against MLflow."""
    creds = admin(host)
    user = {"username": "no-model-access", "password": "NoModel-Passw0rd-123"}
    https(host, "POST", f"{API}/users/create", creds, user)
    response = https(
        host,
        "POST",
        f"{SERVING}/invocations",
        (user["username"], user["password"]),
        {"inputs": [[0.0]]},
    )
    assert response.status == 403, response.body
