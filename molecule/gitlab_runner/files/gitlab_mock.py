#!/usr/bin/python3
"""A mock of the part of GitLab's REST API that runners and runner registration use.

Test double for the gitlab_runner scenario (GitLab and gitlab-runner are not reachable from
the test machines). It speaks HTTPS on the scenario's Docker network and keeps its runners in
memory, as GitLab does in its database:

- POST   /api/v4/user/runners      create a runner (PRIVATE-TOKEN with scope create_runner);
                                   returns its glrt- authentication token
- POST   /api/v4/runners/verify    check a runner's token, record the runner manager
                                   (system_id) that uses it
- POST   /api/v4/runners           legacy: register with a registration token (deprecated)
- DELETE /api/v4/runners           legacy: delete the runner of a token
- DELETE /api/v4/runners/managers  delete one runner manager (glrt- tokens)
- GET    /mock/state               for the tests: runners, managers and the request log
                                   (paths and methods; no request bodies)
- GET    /runner/gitlab-runner/gpgkey  (and HEAD; plain HTTP on port 80 too): a placeholder
                                   key, so that the role's repository path can run in check
                                   mode against the mock (get_url sends HEAD there); it signs
                                   nothing and no package is installed from it

Configuration (JSON, argv[1]): {"port", "cert", "key", "personal_access_token",
"registration_token", "runners": [{"token", "description", "tag_list"}]} — runners created
"in the UI" before the test.
"""

from __future__ import annotations

import json
import secrets
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOCK = threading.Lock()
RUNNERS: dict[int, dict[str, Any]] = {}
REQUESTS: list[dict[str, Any]] = []
CONFIG: dict[str, Any] = {}
PLACEHOLDER_KEY = (
    b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
    b"placeholder of the gitlab_runner test: not a key\n"
    b"-----END PGP PUBLIC KEY BLOCK-----\n"
)


def new_runner(token: str, **fields: Any) -> dict[str, Any]:
    runner_id = max(RUNNERS, default=0) + 1
    RUNNERS[runner_id] = {"id": runner_id, "token": token, "managers": [], **fields}
    return RUNNERS[runner_id]


def created(token: str, body: dict[str, Any], runner_type: str, how: str) -> tuple[int, Any]:
    """A runner made from a request's body, and GitLab's answer (201)."""
    runner = new_runner(token, description=body.get("description"),
                        tag_list=body.get("tag_list") or [], run_untagged=body.get("run_untagged"),
                        runner_type=runner_type, created_by=how)  # fmt: skip
    return 201, {"id": runner["id"], "token": runner["token"], "token_expires_at": None}


def by_token(token: Any) -> dict[str, Any] | None:
    return next((r for r in RUNNERS.values() if token and r["token"] == token), None)


class Handler(BaseHTTPRequestHandler):
    server_version = "gitlab-mock/1"

    def log_message(self, fmt: str, *args: Any) -> None:  # the journal gets one line each
        sys.stderr.write(f"{self.command} {self.path}\n")

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return {}

    def _send(self, status: int, payload: Any = None) -> None:
        if isinstance(payload, bytes):
            data, kind = payload, "text/plain"
        else:
            data, kind = (
                (b"" if payload is None else json.dumps(payload).encode()),
                "application/json",
            )
        self.send_response(status)
        if data:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self) -> None:
        body = self._body() if self.command in ("POST", "DELETE") else {}
        with LOCK:
            REQUESTS.append(
                {"method": self.command, "path": self.path, "system_id": body.get("system_id")}
            )
            status, payload = self._route(body)
        self._send(status, payload)

    do_GET = do_HEAD = do_POST = do_DELETE = _handle

    def _route(self, body: dict[str, Any]) -> tuple[int, Any]:
        method = "GET" if self.command == "HEAD" else self.command
        route = (method, self.path.split("?")[0])
        forbidden = (403, {"message": "403 Forbidden"})
        if route == ("GET", "/runner/gitlab-runner/gpgkey"):
            return 200, PLACEHOLDER_KEY
        if route == ("GET", "/mock/state"):
            return 200, {"runners": list(RUNNERS.values()), "requests": REQUESTS}
        if route == ("POST", "/api/v4/user/runners"):
            if self.headers.get("PRIVATE-TOKEN") != CONFIG["personal_access_token"]:
                return 401, {"message": "401 Unauthorized"}
            if body.get("runner_type") not in ("instance_type", "group_type", "project_type"):
                return 400, {"error": "runner_type does not have a valid value"}
            return created("glrt-" + secrets.token_urlsafe(15), body, body["runner_type"], "api")
        if route == ("POST", "/api/v4/runners/verify"):
            runner = by_token(body.get("token"))
            if runner is None:
                return forbidden
            if body.get("system_id") and body["system_id"] not in runner["managers"]:
                runner["managers"].append(body["system_id"])
            return 200, {"id": runner["id"], "token": runner["token"], "token_expires_at": None}
        if route == ("POST", "/api/v4/runners"):
            if body.get("token") != CONFIG["registration_token"]:
                return forbidden
            return created(secrets.token_urlsafe(20), body, "instance_type", "registration_token")
        if route == ("DELETE", "/api/v4/runners"):
            runner = by_token(body.get("token"))
            if runner is None:
                return forbidden
            del RUNNERS[runner["id"]]
            return 204, None
        if route == ("DELETE", "/api/v4/runners/managers"):
            runner = by_token(body.get("token"))
            if runner is None:
                return forbidden
            if body.get("system_id") not in runner["managers"]:
                return 404, {"message": "404 Not Found"}
            runner["managers"].remove(body["system_id"])
            return 204, None
        return 404, {"message": "404 Not Found"}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:  # noqa: PTH123
        CONFIG.update(json.load(handle))
    for seeded in CONFIG.get("runners", []):
        new_runner(
            seeded["token"],
            description=seeded.get("description"),
            tag_list=seeded.get("tag_list", []),
            run_untagged=False,
            runner_type="instance_type",
            created_by="ui",
        )
    plain = ThreadingHTTPServer(("0.0.0.0", 80), Handler)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    server = ThreadingHTTPServer(("0.0.0.0", int(CONFIG.get("port", 443))), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CONFIG["cert"], CONFIG["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
