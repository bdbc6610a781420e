"""The authorisation gate in front of the serving endpoint: every request is still checked
against the registry's permissions (a revoked permission or a changed password stops working
within 60 s), and neither the password nor the Authorization header reaches the disk."""

import base64
import json
import secrets
import time

import pytest
from conftest import container_http
from platform_api import API, MODEL, SERVING, admin, https

API_V3 = API.replace("/api/2.0/", "/api/3.0/")
# The role's bound: gate TTL (30 s) + MLflow's own credential cache (30 s).
LIMIT_S = 60


@pytest.fixture
def reader(host):
    """A fresh MLflow user with READ on the served model; removed afterwards."""
    creds = admin(host)
    user = {"username": f"gate-{secrets.token_hex(4)}", "password": secrets.token_urlsafe(18)}
    assert https(host, "POST", f"{API}/users/create", creds, user).status == 200
    grant = {
        "username": user["username"], "resource_type": "registered_model",
        "resource_id": MODEL, "permission": "READ",
    }  # fmt: skip
    assert https(host, "POST", f"{API_V3}/users/permissions/grant", creds, grant).status == 200
    yield user
    https(host, "DELETE", f"{API}/users/delete", creds, {"username": user["username"]})


@pytest.fixture(scope="module")
def example(host) -> str:
    """The served version's own input example (the right number of features)."""
    served = json.loads(host.file("/var/lib/model-serving/served.json").content_string)
    path = f"/var/lib/model-serving/models/{MODEL}/{served['version']}/serving_input_example.json"
    return host.file(path).content_string


def predict(host, user: dict[str, str], body: str) -> int:
    creds = (user["username"], user["password"])
    return https(host, "POST", f"{SERVING}/invocations", creds, json.loads(body)).status


def seconds_until(host, user: dict[str, str], body: str, status: int) -> float:
    started = time.monotonic()
    while time.monotonic() - started < LIMIT_S + 15:
        if predict(host, user, body) == status:
            return time.monotonic() - started
        time.sleep(2)
    raise AssertionError(f"still not {status} after {LIMIT_S + 15} s")


def gate_health(host) -> dict:
    response = container_http(host, "GET", "http://127.0.0.1:5002/health")
    assert response.status == 200, response.body
    return response.json()


def test_nginx_asks_the_gate_and_the_gate_caches(host, reader, example):
    before = gate_health(host)
    assert [predict(host, reader, example) for _ in range(5)] == [200] * 5
    after = gate_health(host)
    assert after["upstream_calls"] - before["upstream_calls"] == 1
    assert after["hits"] - before["hits"] >= 4


def test_a_revoked_permission_stops_working_within_the_limit(host, reader, example):
    assert predict(host, reader, example) == 200
    revoke = {
        "username": reader["username"], "resource_type": "registered_model", "resource_id": MODEL,
    }  # fmt: skip
    response = https(host, "POST", f"{API_V3}/users/permissions/revoke", admin(host), revoke)
    assert response.status == 200, response.body
    assert seconds_until(host, reader, example, 403) <= LIMIT_S


def test_a_changed_password_stops_working_within_the_limit(host, reader, example):
    assert predict(host, reader, example) == 200
    new = secrets.token_urlsafe(18)
    change = {"username": reader["username"], "password": new}
    assert https(host, "PATCH", f"{API}/users/update-password", admin(host), change).status == 200
    assert seconds_until(host, reader, example, 401) <= LIMIT_S
    assert predict(host, {**reader, "password": new}, example) == 200


def test_no_password_or_authorization_header_is_written_to_disk(host, reader, example):
    """After requests through nginx and the gate, the password, its header and the header's
    value appear in no file of the host (the account's MLflow hash is not the password)."""
    assert predict(host, reader, example) == 200
    header = base64.b64encode(f"{reader['username']}:{reader['password']}".encode()).decode()
    for needle in (reader["password"], header):
        found = host.run("grep -rlsF -D skip -e %s /var /tmp /etc /root /home /srv /run", needle)
        assert found.rc != 0 and found.stdout == "", found.stdout[:2000]
