"""onprem.mlops.mlflow_user against an in-memory stand-in of MLflow's basic-auth REST API."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_collections.onprem.mlops.plugins.modules import mlflow_user as mu

ADMIN = ("admin", "Admin-Passw0rd-long")
SERVING = ("model-serving", "Serving-Passw0rd-long")
READ_MODEL = {"resource_type": "registered_model", "resource_id": "pm", "permission": "READ"}
READ_ALL = {"resource_type": "experiment", "resource_id": "*", "permission": "READ"}


class FakeMlflow:
    """Users, passwords and explicit grants; the default permission is NO_PERMISSIONS."""

    def __init__(self) -> None:
        self.users: dict[str, str] = {ADMIN[0]: ADMIN[1]}
        self.grants: dict[tuple[str, str, str], str] = {}
        self.calls: list[str] = []

    def __call__(self, method: str, path: str, auth, body: dict[str, Any] | None):
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        args = body if body is not None else query
        self.calls.append(f"{method} {url.path}")
        if self.users.get(auth[0]) != auth[1]:
            return 401, {"message": "bad credentials"}
        is_admin = auth[0] == ADMIN[0]
        route = (method, url.path.split("/mlflow/", 1)[1])
        if route == ("GET", "users/get"):
            if not is_admin and args["username"] != auth[0]:
                return 403, {}
            if args["username"] not in self.users:
                return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST"}
            return 200, {"user": {"username": args["username"]}}
        if not is_admin:
            return 403, {}
        if route == ("POST", "users/create"):
            self.users[args["username"]] = args["password"]
            return 200, {}
        if route == ("PATCH", "users/update-password"):
            self.users[args["username"]] = args["password"]
            return 200, {}
        if route == ("DELETE", "users/delete"):
            del self.users[args["username"]]
            return 200, {}
        key = (args["username"], args["resource_type"], args["resource_id"])
        if route == ("GET", "users/permissions/get"):
            wildcard = (args["username"], args["resource_type"], "*")
            return 200, {"permission": self.grants.get(key) or self.grants.get(wildcard)
                         or "NO_PERMISSIONS"}  # fmt: skip
        if route == ("POST", "users/permissions/grant"):
            if key in self.grants:
                return 400, {"error_code": "RESOURCE_ALREADY_EXISTS"}
            self.grants[key] = args["permission"]
            return 200, {}
        if route == ("POST", "users/permissions/revoke"):
            self.grants.pop(key, None)
            return 200, {}
        raise AssertionError(f"unexpected call {route}")


def test_a_new_account_is_created_with_its_permissions_then_nothing_changes():
    mlflow = FakeMlflow()
    outcome = mu.ensure_present(mlflow, ADMIN, SERVING, [READ_MODEL, READ_ALL], False)
    assert outcome.created and not outcome.password_set and outcome.changed
    assert outcome.granted == ["registered_model:pm:READ", "experiment:*:READ"]
    assert mlflow.users[SERVING[0]] == SERVING[1]
    mlflow.calls.clear()
    again = mu.ensure_present(mlflow, ADMIN, SERVING, [READ_MODEL, READ_ALL], False)
    assert not again.changed
    # One login and one read per permission: nothing is written.
    assert mlflow.calls == [
        "GET /api/2.0/mlflow/users/get",
        "GET /api/3.0/mlflow/users/permissions/get",
        "GET /api/3.0/mlflow/users/permissions/get",
    ]


def test_another_password_is_reset_to_the_given_one():
    mlflow = FakeMlflow()
    mlflow.users[SERVING[0]] = "rotated-away"
    outcome = mu.ensure_present(mlflow, ADMIN, SERVING, [], False)
    assert outcome.password_set and not outcome.created
    assert mlflow.users[SERVING[0]] == SERVING[1]


def test_higher_permissions_stay_and_a_lower_grant_is_replaced():
    mlflow = FakeMlflow()
    mlflow.users[SERVING[0]] = SERVING[1]
    mlflow.grants[(SERVING[0], "registered_model", "pm")] = "MANAGE"
    assert not mu.ensure_present(mlflow, ADMIN, SERVING, [READ_MODEL], False).changed
    mlflow.grants[(SERVING[0], "registered_model", "pm")] = "READ"
    edit = {**READ_MODEL, "permission": "EDIT"}
    outcome = mu.ensure_present(mlflow, ADMIN, SERVING, [edit], False)
    assert outcome.granted == ["registered_model:pm:EDIT"]
    assert mlflow.grants[(SERVING[0], "registered_model", "pm")] == "EDIT"


def test_check_mode_reports_and_writes_nothing():
    mlflow = FakeMlflow()
    outcome = mu.ensure_present(mlflow, ADMIN, SERVING, [READ_MODEL], True)
    assert outcome.created and outcome.granted == ["registered_model:pm:READ"]
    assert SERVING[0] not in mlflow.users and not mlflow.grants
    assert not [c for c in mlflow.calls if not c.startswith("GET")]


def test_absent_removes_the_account_once():
    mlflow = FakeMlflow()
    mlflow.users[SERVING[0]] = SERVING[1]
    assert mu.ensure_absent(mlflow, ADMIN, SERVING[0], False).removed
    assert SERVING[0] not in mlflow.users
    assert not mu.ensure_absent(mlflow, ADMIN, SERVING[0], False).changed


def test_a_wrong_admin_password_fails_naming_what_was_tried():
    mlflow = FakeMlflow()
    with pytest.raises(
        mu.MlflowError, match="looking up model-serving as admin: MLflow answered 401"
    ):
        mu.ensure_present(mlflow, ("admin", "wrong"), SERVING, [], False)
