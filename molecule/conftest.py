"""Helpers shared by the Testinfra tests of every Molecule scenario.

``converge_with(extra_vars)`` runs the scenario's converge playbook once more from the
control node, against the scenario's container (Molecule's own inventory), with extra
variables, and returns the result with the parsed play recap. Bad-input tests use it to show
that a wrong variable fails with a clear message before anything changes on the host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr with white space folded, for message matching."""
        return " ".join((self.stdout + self.stderr).split())

    @property
    def recap(self) -> dict[str, int]:
        """Totals of the PLAY RECAP lines, over every host (localhost included)."""
        totals: dict[str, int] = {}
        for line in self.stdout.splitlines():
            if re.search(r"\bok=\d+.*\bchanged=\d+", line):
                for key, value in re.findall(r"(\w+)=(\d+)", line):
                    totals[key] = totals.get(key, 0) + int(value)
        assert totals, f"no PLAY RECAP in the output:\n{self.stdout[-3000:]}"
        return totals


def run_playbook(playbook: Path, extra_vars: dict | None = None, *args: str) -> PlaybookRun:
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    # Molecule forces colour for its own runs; the recap parser needs plain text.
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=900, check=False, env=env
    )
    return PlaybookRun(result.returncode, result.stdout, result.stderr)


@pytest.fixture(scope="session")
def converge_with() -> Callable[..., PlaybookRun]:
    converge = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"

    def _run(extra_vars: dict | None = None, *args: str) -> PlaybookRun:
        return run_playbook(converge, extra_vars, *args)

    return _run


def assert_fails_before_change(run: PlaybookRun, expected: str) -> None:
    """The run failed on one host, printed ``expected`` (a regex) and changed nothing."""
    assert run.returncode != 0, run.output[-2000:]
    assert re.search(expected, run.output), run.output[-2000:]
    assert run.recap["failed"] == 1, run.recap
    assert run.recap["changed"] == 0, run.recap


# Runs inside the container (its python3 and urllib): tests never reach container addresses.
_HTTP_SNIPPET = r"""
import base64, json, ssl, sys, urllib.request, urllib.error
a = json.loads(sys.argv[1])
data = a["body"].encode() if a["body"] is not None else None
req = urllib.request.Request(a["url"], method=a["method"], data=data)
for k, v in a["headers"].items():
    req.add_header(k, v)
if a["user"] is not None:
    token = base64.b64encode(f"{a['user']}:{a['password']}".encode()).decode()
    req.add_header("Authorization", "Basic " + token)
ctx = ssl.create_default_context(cafile=a["cafile"]) if a["cafile"] else None
try:
    with urllib.request.urlopen(req, timeout=a["timeout"], context=ctx) as r:
        status, headers, body = r.status, dict(r.headers), r.read()
except urllib.error.HTTPError as e:
    status, headers, body = e.code, dict(e.headers), e.read()
except (urllib.error.URLError, OSError) as e:  # not listening (yet): status 0
    status, headers, body = 0, {}, str(getattr(e, "reason", e)).encode()
print(json.dumps({"status": status, "headers": headers, "body": body.decode(errors="replace")}))
"""


class Credentials(tuple):
    """(user, password) whose repr hides the password: pytest prints call arguments."""

    def __new__(cls, user: str, password: str):
        return super().__new__(cls, (user, password))

    def __repr__(self) -> str:
        return f"Credentials({self[0]!r}, '***')"


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # names in lower case
    body: str

    def json(self):
        return json.loads(self.body)


def container_http(
    host,
    method: str,
    url: str,
    *,
    auth: tuple[str, str] | None = None,
    body: object = None,
    headers: dict[str, str] | None = None,
    cafile: str | None = None,
    timeout: float = 30,
) -> HttpResponse:
    """One HTTP(S) request made from inside the container; JSON-encodes a non-str body.

    A connection that fails (nothing listening) gives status 0 and the reason as body.
    """
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    args = {
        "url": url, "method": method, "body": body, "headers": hdrs, "cafile": cafile,
        "user": auth[0] if auth else None, "password": auth[1] if auth else None,
        "timeout": timeout,
    }  # fmt: skip
    result = host.run("python3 -c %s %s", _HTTP_SNIPPET, json.dumps(args))
    if result.rc != 0:  # raised, not asserted: pytest would print the command and its password
        raise AssertionError(f"request {method} {url} did not run: {result.stderr[-2000:]}")
    data = json.loads(result.stdout)
    headers_lower = {name.lower(): value for name, value in data["headers"].items()}
    return HttpResponse(data["status"], headers_lower, data["body"])


# ----------------------------------------------------------------- clients in a namespace
#
# A container reaches its own addresses over loopback, which every firewall accepts. To see
# the firewall as another machine does, tests create a network namespace inside the
# container, joined to it by a veth pair: packets from there arrive on a real interface.

_TCP_SNIPPET = r"""
import socket, sys
src, dst, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET)
s.settimeout(timeout)
try:
    s.bind((src, 0))
    s.connect((dst, port))
    print("open")
except OSError as e:
    print("closed" if isinstance(e, ConnectionRefusedError) else "filtered")
"""


def client_netns(
    host, name: str, host_address: str, client_addresses: list[str], prefix: int = 24
) -> None:
    """Namespace ``name`` (at most 12 characters) with ``client_addresses``; the container's
    end of the link gets ``host_address``. Created afresh each time."""
    commands = [
        f"ip netns del {name} 2>/dev/null; ip link del vh-{name} 2>/dev/null; true",
        f"ip netns add {name}",
        f"ip link add vh-{name} type veth peer name vc-{name} netns {name}",
        f"ip addr add {host_address}/{prefix} dev vh-{name}",
        f"ip link set vh-{name} up",
        f"ip -n {name} link set lo up",
        f"ip -n {name} link set vc-{name} up",
        *(f"ip -n {name} addr add {a}/{prefix} dev vc-{name}" for a in client_addresses),
    ]
    result = host.run(" && ".join(commands))
    assert result.rc == 0, result.stderr


def remove_netns(host, name: str) -> None:
    host.run(f"ip netns del {name} 2>/dev/null; ip link del vh-{name} 2>/dev/null; true")


def tcp_probe(host, netns: str, src: str, dst: str, port: int, timeout: float = 2) -> str:
    """'open', 'closed' (refused: reached the host, nothing listens) or 'filtered' (dropped)."""
    result = host.run(
        "ip netns exec %s python3 -c %s %s %s %s %s",
        netns,
        _TCP_SNIPPET,
        src,
        dst,
        str(port),
        str(timeout),
    )
    assert result.rc == 0, result.stderr
    return result.stdout.strip()
