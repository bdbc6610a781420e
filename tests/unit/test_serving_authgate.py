"""The serving route's authorisation gate: cached decisions of a fake MLflow, and its HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from onprem_mlops.serving import authgate

SCRIPT = Path(authgate.__file__)
ALICE = ("alice", "s3cret-alice")
BOB = ("bob", "hunter2-bob")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class FakeRegistry:
    """MLflow's registered-models/get as the gate sees it: 200, 401 or 403 per credentials."""

    def __init__(self) -> None:
        self.passwords = dict([ALICE, BOB])
        self.readers = {"alice"}
        self.calls = 0
        self.paths: list[str] = []
        self.lock = threading.Lock()
        self.answer_with: int | None = None  # a fixed status instead of checking
        self.release = threading.Event()
        self.release.set()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with registry.lock:
                    registry.calls += 1
                    registry.paths.append(self.path)
                registry.release.wait(10)
                self._send(*registry.decide(self.headers.get("Authorization", "")))

            def _send(self, status: int, headers: dict[str, str]) -> None:
                body = b'{"registered_model": {"name": "pm"}}' if status == 200 else b"{}"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}/api/2.0/mlflow/registered-models/get?name=pm"

    def decide(self, authorization: str) -> tuple[int, dict[str, str]]:
        if self.answer_with is not None:
            return self.answer_with, {"Location": self.url + "-elsewhere"}
        scheme, _, encoded = authorization.partition(" ")
        user, _, password = base64.b64decode(encoded or "Og==").decode().partition(":")
        if scheme != "Basic" or self.passwords.get(user) != password:
            return 401, {"WWW-Authenticate": 'Basic realm="mlflow"'}
        return (200, {}) if user in self.readers else (403, {})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def running(gate: authgate.AuthGate) -> Iterator[authgate.AuthGate]:
    """The gate serving on its own event loop in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(gate.start(), loop).result(5)
        yield gate
    finally:
        asyncio.run_coroutine_threadsafe(gate.close(grace=1), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()
    yield fake
    fake.release.set()
    fake.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def start(registry, clock):
    """start(**settings) -> a running gate in front of the fake registry (port: ephemeral)."""
    with ExitStack() as stack:

        def _start(**overrides) -> authgate.AuthGate:
            values = {"upstream_url": registry.url, "port": 0, "ttl": 30.0, "negative_ttl": 5.0}
            values.update(overrides)
            gate = authgate.AuthGate(authgate.Settings(**values), clock=clock)
            return stack.enter_context(running(gate))

        yield _start


def ask(
    gate: authgate.AuthGate, authorization: str | None = None, method: str = "GET", path="/auth"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=10)
    try:
        headers = {} if authorization is None else {"Authorization": authorization}
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def read_response(stream, head: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One response from a raw socket's file (status, lower-case headers, body)."""
    status_line = stream.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b"" if head else stream.read(int(headers["content-length"]))
    return int(status_line.split()[1]), headers, body


@contextmanager
def raw_connection(port: int) -> Iterator[tuple[socket.socket, object]]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    stream = sock.makefile("rb")
    try:
        yield sock, stream
    finally:
        stream.close()
        sock.close()


# --- configuration -----------------------------------------------------------------------


def test_settings_defaults():
    s = authgate.Settings.from_env({"AUTHGATE_UPSTREAM_URL": "http://127.0.0.1:5000/x?name=m"})
    assert (s.host, s.port, s.ttl, s.negative_ttl) == ("127.0.0.1", 5002, 30.0, 5.0)
    assert s.max_entries == 10000 and s.upstream_timeout == 5.0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AUTHGATE_TTL_SECONDS", "61", "AUTHGATE_TTL_SECONDS='61' is above the maximum of 60"),
        ("AUTHGATE_NEGATIVE_TTL_SECONDS", "600", "AUTHGATE_NEGATIVE_TTL_SECONDS='600' is above"),
        ("AUTHGATE_TTL_SECONDS", "-1", "AUTHGATE_TTL_SECONDS='-1' must be at least 0"),
        ("AUTHGATE_TTL_SECONDS", "nan", "AUTHGATE_TTL_SECONDS='nan' must be at least 0"),
        ("AUTHGATE_PORT", "http", "AUTHGATE_PORT='http' is not a number"),
        ("AUTHGATE_MAX_ENTRIES", "0", "AUTHGATE_MAX_ENTRIES='0' must be at least 1"),
        ("AUTHGATE_HOST", "0.0.0.0", "AUTHGATE_HOST='0.0.0.0' is not a loopback address"),
    ],
)
def test_settings_out_of_range_are_refused_by_name(name, value, message):
    env = {"AUTHGATE_UPSTREAM_URL": "http://127.0.0.1:5000/x", name: value}
    with pytest.raises(authgate.ConfigError) as caught:
        authgate.Settings.from_env(env)
    assert message in str(caught.value)


def test_settings_made_in_code_keep_the_ttl_bound():
    with pytest.raises(authgate.ConfigError, match="AUTHGATE_TTL_SECONDS=90 is outside"):
        authgate.Settings(upstream_url="http://127.0.0.1:5000/x", ttl=90)
    with pytest.raises(authgate.ConfigError, match="AUTHGATE_NEGATIVE_TTL_SECONDS=-1 is outside"):
        authgate.Settings(upstream_url="http://127.0.0.1:5000/x", negative_ttl=-1)


def test_settings_upstream_url_is_required_and_holds_no_credentials():
    with pytest.raises(authgate.ConfigError, match="AUTHGATE_UPSTREAM_URL is not set"):
        authgate.Settings.from_env({})
    with pytest.raises(authgate.ConfigError) as caught:
        authgate.Settings.from_env({"AUTHGATE_UPSTREAM_URL": "http://admin:pw123@127.0.0.1/x"})
    assert "must not contain credentials" in str(caught.value)
    assert "pw123" not in str(caught.value)
    with pytest.raises(authgate.ConfigError, match="is not an http"):
        authgate.Settings.from_env({"AUTHGATE_UPSTREAM_URL": "file:///etc/passwd"})


def test_settings_non_loopback_host_only_when_allowed():
    env = {"AUTHGATE_UPSTREAM_URL": "http://127.0.0.1:5000/x", "AUTHGATE_HOST": "10.0.0.5"}
    with pytest.raises(authgate.ConfigError):
        authgate.Settings.from_env(env)
    assert authgate.Settings.from_env({**env, "AUTHGATE_ALLOW_NON_LOOPBACK": "1"}).host == (
        "10.0.0.5"
    )
    for host in ("localhost", "::1", "127.0.0.2"):
        assert authgate.Settings.from_env({**env, "AUTHGATE_HOST": host}).host == host


def test_main_exits_2_naming_the_variable():
    env = {**os.environ, "AUTHGATE_UPSTREAM_URL": "http://127.0.0.1:9/x"}
    env["AUTHGATE_TTL_SECONDS"] = "120"
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "AUTHGATE_TTL_SECONDS='120' is above the maximum of 60" in result.stderr


# --- decisions ---------------------------------------------------------------------------


def test_missing_header_is_401_without_asking_upstream(start, registry):
    gate = start()
    status, headers, _ = ask(gate)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    assert registry.calls == 0


def test_cache_hit_makes_no_upstream_call(start, registry):
    gate = start()
    assert ask(gate, basic(*ALICE))[0] == 200
    assert registry.calls == 1
    assert registry.paths == ["/api/2.0/mlflow/registered-models/get?name=pm"]
    for _ in range(5):
        assert ask(gate, basic(*ALICE))[0] == 200
    assert registry.calls == 1
    assert (gate.stats.hits, gate.stats.misses) == (5, 1)


def test_revoked_permission_is_refused_after_the_ttl(start, registry, clock):
    gate = start(ttl=30.0)
    assert ask(gate, basic(*ALICE))[0] == 200
    registry.readers.discard("alice")
    clock.now += 29
    assert ask(gate, basic(*ALICE))[0] == 200  # still cached
    clock.now += 1
    assert ask(gate, basic(*ALICE))[0] == 403
    assert registry.calls == 2


def test_changed_password_is_refused_after_the_ttl(start, registry, clock):
    gate = start(ttl=10.0)
    assert ask(gate, basic(*ALICE))[0] == 200
    registry.passwords["alice"] = "new-password"
    clock.now += 10
    status, headers, _ = ask(gate, basic(*ALICE))
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    assert ask(gate, basic("alice", "new-password"))[0] == 200


def test_wrong_password_401_no_permission_403_cached_for_the_negative_ttl(start, registry, clock):
    gate = start(negative_ttl=5.0)
    status, headers, body = ask(gate, basic("alice", "wrong"))
    assert (status, headers["WWW-Authenticate"], body) == (401, 'Basic realm="mlflow"', b"")
    assert ask(gate, basic(*BOB))[0] == 403
    assert ask(gate, basic(*BOB))[0] == 403
    assert registry.calls == 2
    registry.readers.add("bob")
    clock.now += 5
    assert ask(gate, basic(*BOB))[0] == 200
    assert registry.calls == 3


def test_ttl_zero_caches_nothing(start, registry):
    gate = start(ttl=0.0, negative_ttl=0.0)
    for _ in range(3):
        assert ask(gate, basic(*ALICE))[0] == 200
        assert ask(gate, basic(*BOB))[0] == 403
    assert registry.calls == 6
    assert len(gate.cache) == 0


def test_upstream_error_is_502_and_not_cached(start, registry):
    gate = start()
    registry.answer_with = 500
    assert ask(gate, basic(*ALICE))[0] == 502
    assert ask(gate, basic(*ALICE))[0] == 502
    assert registry.calls == 2
    assert len(gate.cache) == 0
    registry.answer_with = None
    assert ask(gate, basic(*ALICE))[0] == 200
    assert gate.stats.upstream_errors == 2


def test_redirect_is_502_and_not_followed(start, registry):
    gate = start()
    registry.answer_with = 302
    assert ask(gate, basic(*ALICE))[0] == 502
    assert registry.calls == 1


def test_upstream_down_is_502_and_not_cached(start, registry):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gate = start(upstream_url=f"http://127.0.0.1:{closed_port}/x", upstream_timeout=2.0)
    assert ask(gate, basic(*ALICE))[0] == 502
    assert ask(gate, basic(*ALICE))[0] == 502
    assert gate.stats.upstream_calls == 2
    assert gate.stats.upstream_errors == 2
    assert len(gate.cache) == 0


def test_concurrent_misses_share_one_upstream_call(start, registry):
    gate = start()
    registry.release.clear()  # the upstream holds its answer until both requests wait
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(ask(gate, basic(*ALICE))[0]))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while gate.stats.misses < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.stats.misses == 2
    registry.release.set()
    for thread in threads:
        thread.join(10)
    assert results == [200, 200]
    assert registry.calls == 1


def test_different_headers_are_different_entries(start, registry):
    gate = start()
    assert ask(gate, basic(*ALICE))[0] == 200
    assert ask(gate, basic(*BOB))[0] == 403
    assert ask(gate, basic("alice", "s3cret-alicE"))[0] == 401
    assert registry.calls == 3
    assert len(gate.cache) == 3
    assert ask(gate, basic(*ALICE))[0] == 200
    assert registry.calls == 3


def test_cache_holds_digests_not_the_header(start, registry):
    gate = start()
    header = basic(*ALICE)
    assert ask(gate, header)[0] == 200
    assert ask(gate, basic(*BOB))[0] == 403
    entries = gate.cache._entries
    assert len(entries) == 2
    assert all(isinstance(key, bytes) and len(key) == 32 for key in entries)
    assert all(set(vars(entry)) == {"status", "expires"} for entry in entries.values())
    dumped = repr(vars(gate.cache)).encode() + b"".join(entries)
    for secret in (header, header.split()[1], ALICE[1], ALICE[0], BOB[1]):
        assert secret.encode() not in dumped
    # Keyed with the process's random key: not the plain hash, different in another process.
    assert hashlib.sha256(header.encode()).digest() not in entries
    assert gate.digest(header) in entries
    other = authgate.AuthGate(authgate.Settings(upstream_url=registry.url))
    assert other.digest(header) != gate.digest(header)
    assert not gate._inflight


def test_logs_hold_no_credentials(start, registry, caplog):
    caplog.set_level("DEBUG")
    gate = start()
    registry.answer_with = 500
    header = basic(*ALICE)
    assert ask(gate, header)[0] == 502
    assert "Upstream check answered HTTP 500, answering 502" in caplog.text
    for secret in (header, header.split()[1], ALICE[0], ALICE[1]):
        assert secret not in caplog.text


def test_cache_evicts_expired_entries_first_then_the_oldest():
    cache = authgate.DecisionCache(max_entries=2)
    cache.put(b"a", 200, expires=110, now=100)
    cache.put(b"b", 200, expires=200, now=100)
    cache.put(b"c", 403, expires=200, now=120)  # full: a (expired) goes
    assert (cache.get(b"b", 120), cache.get(b"c", 120), len(cache)) == (200, 403, 2)
    cache.put(b"d", 200, expires=200, now=130)  # full, none expired: b (oldest) goes
    assert cache.get(b"b", 130) is None
    assert (cache.get(b"c", 130), cache.get(b"d", 130)) == (403, 200)
    assert cache.get(b"d", 200) is None and len(cache) == 1  # expired on read
    cache.put(b"e", 200, expires=100, now=100)  # already expired: not stored
    assert len(cache) == 1


# --- HTTP --------------------------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection(start, registry):
    gate = start()
    header = basic(*ALICE)
    with raw_connection(gate.port) as (sock, stream):
        for _ in range(3):
            sock.sendall(
                f"GET /auth HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\n\r\n".encode()
            )
            status, headers, body = read_response(stream)
            assert (status, headers["content-length"], body) == (200, "0", b"")
            assert "connection" not in headers
        sock.sendall(b"GET /auth HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(stream)[0] == 401
        sock.sendall(b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = read_response(stream, head=True)
        assert status == 200 and int(headers["content-length"]) > 0
        # Two pipelined requests, the last one closing the connection.
        sock.sendall(
            f"GET /auth HTTP/1.1\r\nAuthorization: {header}\r\n\r\n"
            "GET /auth HTTP/1.1\r\nConnection: close\r\n\r\n".encode()
        )
        assert read_response(stream)[0] == 200
        status, headers, _ = read_response(stream)
        assert (status, headers["connection"]) == (401, "close")
        assert stream.read() == b""  # closed by the gate
    assert registry.calls == 1


def test_http_1_0_keeps_alive_only_when_asked(start):
    gate = start()
    with raw_connection(gate.port) as (sock, stream):
        sock.sendall(b"GET /auth HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, _ = read_response(stream)
        assert (status, headers["connection"]) == (401, "keep-alive")
        sock.sendall(b"GET /auth HTTP/1.0\r\n\r\n")
        status, headers, _ = read_response(stream)
        assert (status, headers["connection"]) == (401, "close")
        assert stream.read() == b""


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /auth\r\n\r\n",
        b"GET auth HTTP/1.1\r\n\r\n",
        b"GET /auth HTTP/1.1\r\nNoColonHere\r\n\r\n",
        b"GET /auth HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET /auth HTTP/1.1\r\nHost: x\r\n folded: continuation\r\n\r\n",
        b"GET /auth HTTP/1.1\r\nAuthorization: Basic a\r\nAuthorization: Basic b\r\n\r\n",
        b"GET /auth HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /auth HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
)
def test_malformed_request_is_400_and_closed(start, registry, request_bytes):
    gate = start()
    with raw_connection(gate.port) as (sock, stream):
        sock.sendall(request_bytes)
        status, headers, _ = read_response(stream)
        assert (status, headers["connection"]) == (400, "close")
        assert stream.read() == b""
    assert registry.calls == 0


def test_body_is_read_and_ignored(start, registry):
    gate = start()
    header = basic(*ALICE)
    with raw_connection(gate.port) as (sock, stream):
        sock.sendall(
            f"GET /auth HTTP/1.1\r\nAuthorization: {header}\r\nContent-Length: 5\r\n\r\n"
            f"hello GET /health HTTP/1.1\r\n\r\n".encode()
        )
        assert read_response(stream)[0] == 200
        # The body was 'hello': the next request starts with ' GET' and is refused.
        assert read_response(stream)[0] == 400
        sock.close()
    with raw_connection(gate.port) as (sock, stream):
        sock.sendall(
            f"GET /auth HTTP/1.1\r\nAuthorization: {header}\r\nContent-Length: 5\r\n\r\n"
            f"helloGET /health HTTP/1.1\r\n\r\n".encode()
        )
        assert read_response(stream)[0] == 200
        status, _, body = read_response(stream)
        assert status == 200 and json.loads(body)["hits"] == 1  # the second /auth


def test_oversized_head_is_refused(start):
    gate = start()
    with raw_connection(gate.port) as (sock, stream):
        sock.sendall(b"GET /auth HTTP/1.1\r\nX-Filler: " + b"a" * (64 * 1024) + b"\r\n\r\n")
        assert read_response(stream)[0] == 431


def test_slow_request_head_is_408_and_idle_connection_closed(start):
    gate = start(header_timeout=0.3, idle_timeout=0.3)
    with raw_connection(gate.port) as (sock, stream):
        sock.sendall(b"GET /auth HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        started = time.monotonic()
        assert read_response(stream)[0] == 408
        assert stream.read() == b""
        assert time.monotonic() - started < 3
    with raw_connection(gate.port) as (sock, stream):
        started = time.monotonic()
        assert stream.read() == b""  # nothing sent: closed after the idle timeout
        assert 0.2 < time.monotonic() - started < 3


def test_connections_above_the_limit_are_refused(start):
    gate = start(max_connections=1)
    with raw_connection(gate.port) as (sock, stream):
        sock.sendall(b"GET /auth HTTP/1.1\r\n\r\n")
        assert read_response(stream)[0] == 401  # the first one is being served
        with raw_connection(gate.port) as (_, second):
            assert read_response(second)[0] == 503


def test_methods_paths_and_head(start, registry):
    gate = start()
    status, headers, _ = ask(gate, basic(*ALICE), method="POST")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")
    assert ask(gate, basic(*ALICE), path="/elsewhere")[0] == 404
    assert ask(gate, basic(*ALICE), path="/auth?x=1")[0] == 200
    status, headers, body = ask(gate, basic(*ALICE), method="HEAD")
    assert (status, headers["Content-Length"], body) == (200, "0", b"")
    assert registry.calls == 1


def test_health_reports_counts_only(start, registry):
    gate = start()
    ask(gate, basic(*ALICE))
    ask(gate, basic(*ALICE))
    status, headers, body = ask(gate, path="/health")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert json.loads(body) == {
        "status": "ok", "cache_entries": 1, "hits": 1, "misses": 1,
        "upstream_calls": 1, "upstream_errors": 0,
    }  # fmt: skip


def test_service_stops_gracefully_on_sigterm(registry):
    """The script as the role installs it: a request in progress is answered, an idle
    keep-alive connection is closed, and the process exits 0."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "AUTHGATE_UPSTREAM_URL": registry.url, "AUTHGATE_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with raw_connection(port) as (sock, stream):
                    sock.sendall(
                        f"GET /auth HTTP/1.1\r\nAuthorization: {basic(*ALICE)}\r\n\r\n".encode()
                    )
                    assert read_response(stream)[0] == 200
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the gate did not start"
                time.sleep(0.05)
        with raw_connection(port) as (_, idle), raw_connection(port) as (sock, busy):
            registry.release.clear()
            sock.sendall(f"GET /auth HTTP/1.1\r\nAuthorization: {basic(*BOB)}\r\n\r\n".encode())
            while registry.calls < 2:
                assert time.monotonic() < deadline, "the check did not reach the upstream"
                time.sleep(0.01)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            registry.release.set()
            status, headers, _ = read_response(busy)
            assert (status, headers["connection"]) == (403, "close")
            assert idle.read() == b""
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
    finally:
        registry.release.set()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Listening on 127.0.0.1" in stderr and "Stopping" in stderr
    assert ALICE[1] not in stderr and basic(*ALICE) not in stderr
