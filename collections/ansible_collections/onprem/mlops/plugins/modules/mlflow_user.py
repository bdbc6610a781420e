#!/usr/bin/python
# Copyright: onprem-mlops contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module onprem.mlops.mlflow_user."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mlflow_user
short_description: An MLflow basic-auth account with its password and permissions
version_added: "0.1.0"
description:
  - Makes an account of MLflow's basic-auth app exist with the given password and at least
    the given permissions, through MLflow's REST API with an admin account; or removes it.
  - "One module call for the whole account: on a run that changes nothing it logs in as the
    account (which proves the password) and reads each permission, instead of one
    M(ansible.builtin.uri) task per question."
  - A permission is granted when the account's effective permission on the resource (its own
    grant, a wildcard grant or the server's default) is below the wanted one; an explicit
    lower grant is replaced. Higher permissions are left alone.
author:
  - onprem-mlops contributors
options:
  tracking_uri:
    description: MLflow's base URL as seen from the host, e.g. C(http://127.0.0.1:5000).
    type: str
    required: true
  admin_username:
    description: An MLflow admin account.
    type: str
    required: true
  admin_password:
    description: Its password.
    type: str
    required: true
  username:
    description: The account.
    type: str
    required: true
  password:
    description: Its password; required with O(state=present).
    type: str
  permissions:
    description: Permissions the account must have at least.
    type: list
    elements: dict
    default: []
    suboptions:
      resource_type:
        description: MLflow's resource type.
        type: str
        required: true
        choices:
          - experiment
          - registered_model
          - scorer
          - gateway_secret
          - gateway_endpoint
          - gateway_model_definition
      resource_id:
        description: The resource's id or name; C(*) for all resources of the type.
        type: str
        required: true
      permission:
        description: The least permission wanted.
        type: str
        required: true
        choices: [READ, USE, EDIT, MANAGE]
  state:
    description: Whether the account exists.
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description: Seconds per HTTP request.
    type: int
    default: 30
notes:
  - Supports check mode. Needs MLflow 3.17 or later (permission API v3).
  - Use C(no_log) on the task: the passwords are module arguments.
"""

EXAMPLES = r"""
- name: The serving account, READ on the served model
  onprem.mlops.mlflow_user:
    tracking_uri: http://127.0.0.1:5000
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: model-serving
    password: "{{ vault_model_serving_password }}"
    permissions:
      - {resource_type: registered_model, resource_id: predictive-maintenance, permission: READ}
      - {resource_type: experiment, resource_id: "*", permission: READ}
  no_log: true
"""

RETURN = r"""
created:
  description: Whether the account was created.
  returned: always
  type: bool
password_set:
  description: Whether the password was reset to the given one (it did not log in).
  returned: always
  type: bool
granted:
  description: The permissions granted, as C(resource_type:resource_id:permission).
  returned: always
  type: list
  elements: str
removed:
  description: Whether the account was removed (O(state=absent)).
  returned: always
  type: bool
"""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from ansible.module_utils.basic import AnsibleModule

LEVELS = ("NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE")
API = "/api/2.0/mlflow"
API_V3 = "/api/3.0/mlflow"

# (method, path with query, (user, password), JSON body or None) -> (status, JSON answer)
Request = Callable[[str, str, "tuple[str, str]", "dict[str, Any] | None"], "tuple[int, Any]"]


class MlflowError(Exception):
    """MLflow answered something the module cannot work with."""


@dataclass
class Outcome:
    created: bool = False
    password_set: bool = False
    granted: list[str] = field(default_factory=list)
    removed: bool = False

    @property
    def changed(self) -> bool:
        return self.created or self.password_set or bool(self.granted) or self.removed


def _expect(status: int, answer: Any, allowed: tuple[int, ...], what: str) -> None:
    if status not in allowed:
        message = answer.get("message") if isinstance(answer, dict) else answer
        raise MlflowError(f"{what}: MLflow answered {status}: {str(message)[:300]}")


def ensure_present(
    request: Request,
    admin: tuple[str, str],
    user: tuple[str, str],
    permissions: list[dict[str, str]],
    check_mode: bool,
) -> Outcome:
    outcome = Outcome()
    query = urlencode({"username": user[0]})
    status, answer = request("GET", f"{API}/users/get?{query}", user, None)
    _expect(status, answer, (200, 401, 403), f"logging in as {user[0]}")
    if status != 200:  # no such account, or another password
        status, answer = request("GET", f"{API}/users/get?{query}", admin, None)
        _expect(status, answer, (200, 404), f"looking up {user[0]} as {admin[0]}")
        body = {"username": user[0], "password": user[1]}
        if status == 404:
            outcome.created = True
            if not check_mode:
                status, answer = request("POST", f"{API}/users/create", admin, body)
                _expect(status, answer, (200,), f"creating {user[0]}")
        else:
            outcome.password_set = True
            if not check_mode:
                status, answer = request("PATCH", f"{API}/users/update-password", admin, body)
                _expect(status, answer, (200,), f"setting the password of {user[0]}")
    for wanted in permissions:
        if _grant_if_lower(request, admin, user[0], wanted, outcome.created, check_mode):
            outcome.granted.append(
                f"{wanted['resource_type']}:{wanted['resource_id']}:{wanted['permission']}"
            )
    return outcome


def _grant_if_lower(
    request: Request,
    admin: tuple[str, str],
    username: str,
    wanted: dict[str, str],
    new_account: bool,
    check_mode: bool,
) -> bool:
    """Grant ``wanted`` when the effective permission is lower; True when it did (would)."""
    resource = {"resource_type": wanted["resource_type"], "resource_id": wanted["resource_id"]}
    if new_account and check_mode:
        return True  # the account does not exist yet: nothing to read
    query = urlencode({"username": username, **resource})
    status, answer = request("GET", f"{API_V3}/users/permissions/get?{query}", admin, None)
    _expect(status, answer, (200,), f"reading {username}'s permission on {resource}")
    current = answer.get("permission", "NO_PERMISSIONS") if isinstance(answer, dict) else ""
    if current in LEVELS and LEVELS.index(current) >= LEVELS.index(wanted["permission"]):
        return False
    if check_mode:
        return True
    grant = {"username": username, **resource, "permission": wanted["permission"]}
    status, answer = request("POST", f"{API_V3}/users/permissions/grant", admin, grant)
    if status == 400 and "ALREADY_EXISTS" in json.dumps(answer):  # an explicit lower grant
        revoke = {"username": username, **resource}
        status, answer = request("POST", f"{API_V3}/users/permissions/revoke", admin, revoke)
        _expect(status, answer, (200,), f"replacing {username}'s permission on {resource}")
        status, answer = request("POST", f"{API_V3}/users/permissions/grant", admin, grant)
    _expect(status, answer, (200,), f"granting {wanted['permission']} on {resource} to {username}")
    return True


def ensure_absent(
    request: Request, admin: tuple[str, str], username: str, check_mode: bool
) -> Outcome:
    outcome = Outcome()
    query = urlencode({"username": username})
    status, answer = request("GET", f"{API}/users/get?{query}", admin, None)
    _expect(status, answer, (200, 404), f"looking up {username}")
    if status == 200:
        outcome.removed = True
        if not check_mode:
            status, answer = request("DELETE", f"{API}/users/delete", admin, {"username": username})
            _expect(status, answer, (200,), f"removing {username}")
    return outcome


def http_request(base: str, timeout: int) -> Request:
    from ansible.module_utils.urls import open_url

    def request(method: str, path: str, auth: tuple[str, str], body: Any) -> tuple[int, Any]:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            response = open_url(
                base.rstrip("/") + path, data=data, headers=headers, method=method,
                timeout=timeout, follow_redirects="none", use_proxy=False,
            )  # fmt: skip
            status, text = response.status, response.read()
        except Exception as exc:  # HTTPError carries the answer; anything else is fatal
            code = getattr(exc, "code", None)
            if code is None:
                raise MlflowError(f"{method} {path.split('?')[0]}: {exc}") from exc
            status, text = code, exc.read() if hasattr(exc, "read") else b""
        try:
            return status, json.loads(text or b"{}")
        except ValueError:
            return status, text.decode(errors="replace")

    return request


def main() -> None:
    permission_spec = {
        "resource_type": {
            "type": "str", "required": True,
            "choices": ["experiment", "registered_model", "scorer", "gateway_secret",
                        "gateway_endpoint", "gateway_model_definition"],
        },
        "resource_id": {"type": "str", "required": True},
        "permission": {"type": "str", "required": True, "choices": list(LEVELS[1:])},
    }  # fmt: skip
    module = AnsibleModule(
        argument_spec={
            "tracking_uri": {"type": "str", "required": True},
            "admin_username": {"type": "str", "required": True},
            "admin_password": {"type": "str", "required": True, "no_log": True},
            "username": {"type": "str", "required": True},
            "password": {"type": "str", "no_log": True},
            "permissions": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": permission_spec,
            },
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "timeout": {"type": "int", "default": 30},
        },
        required_if=[("state", "present", ["password"])],
        supports_check_mode=True,
    )
    params = module.params
    request = http_request(params["tracking_uri"], params["timeout"])
    admin = (params["admin_username"], params["admin_password"])
    try:
        if params["state"] == "absent":
            outcome = ensure_absent(request, admin, params["username"], module.check_mode)
        else:
            user = (params["username"], params["password"])
            outcome = ensure_present(request, admin, user, params["permissions"], module.check_mode)
    except MlflowError as err:
        module.fail_json(msg=str(err))
    module.exit_json(
        changed=outcome.changed,
        created=outcome.created,
        password_set=outcome.password_set,
        granted=outcome.granted,
        removed=outcome.removed,
    )


if __name__ == "__main__":
    main()
