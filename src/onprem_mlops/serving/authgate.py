"""Answer nginx's ``auth_request`` for the serving route from a short-lived decision cache.

Runs as a small service next to nginx with the target's system ``python3`` (3.10 or later,
standard library only), so the role copies this file as it is. nginx sends ``GET /auth``
with the client's ``Authorization`` header for every request to the model; the gate answers
from its cache or asks MLflow (the registry's permissions) once and remembers the answer
briefly:

- no ``Authorization`` header: 401 with ``WWW-Authenticate: Basic realm="mlflow"``, without
  asking MLflow;
- MLflow answered 200 for these credentials less than ``AUTHGATE_TTL_SECONDS`` ago: 200;
  401 or 403 less than ``AUTHGATE_NEGATIVE_TTL_SECONDS`` ago: the same status again;
- otherwise the header is forwarded to ``AUTHGATE_UPSTREAM_URL`` and MLflow's 200, 401 or
  403 is passed on (and cached); any other answer, a timeout or a refused connection is
  502, never cached. Concurrent checks of the same credentials share one upstream call.

The cache key is an HMAC-SHA256 of the header value under a random key made at start and
held only in memory; the header value (the password) is never stored, logged or written
anywhere, and lives only as long as the request that carries it. A revoked permission or a
changed password is refused at the latest ``AUTHGATE_TTL_SECONDS`` after the change (plus
MLflow's own credential cache, ``auth_cache_ttl_seconds``, for a changed password).

HTTP contract (HTTP/1.1 with keep-alive, HTTP/1.0 with ``Connection: keep-alive``):

- ``GET``/``HEAD /auth`` (query ignored): 200, 401 (with ``WWW-Authenticate``), 403 or
  502, always with an empty body (``Content-Length: 0``), which lets nginx keep the
  upstream connection alive after an ``auth_request``;
- ``GET``/``HEAD /health``: 200 and ``{"status": "ok", "cache_entries": ..., "hits": ...,
  "misses": ..., "upstream_calls": ..., "upstream_errors": ...}`` (counts only);
- another method: 405 with ``Allow``; another path: 404; a malformed request: 400 and the
  connection is closed; a request head that does not arrive within
  ``AUTHGATE_HEADER_TIMEOUT_SECONDS``: 408 and closed; an idle connection is closed after
  ``AUTHGATE_IDLE_TIMEOUT_SECONDS``.

Environment (defaults in brackets):

- ``AUTHGATE_UPSTREAM_URL`` (required): the check, e.g.
  ``http://127.0.0.1:5000/api/2.0/mlflow/registered-models/get?name=predictive-maintenance``;
  http or https, no credentials in the URL. Redirects are not followed and proxy variables
  (``http_proxy``...) are ignored, so the header goes to this URL only.
- ``AUTHGATE_HOST`` [127.0.0.1], ``AUTHGATE_PORT`` [5002]: where to listen. A host that is
  not a loopback address is refused unless ``AUTHGATE_ALLOW_NON_LOOPBACK`` is ``1``/``true``.
- ``AUTHGATE_TTL_SECONDS`` [30]: how long a 200 is reused; 0 to 60 (0: no caching).
- ``AUTHGATE_NEGATIVE_TTL_SECONDS`` [5]: how long a 401/403 is reused; 0 to 60.
- ``AUTHGATE_MAX_ENTRIES`` [10000]: cache bound; when full, expired entries go first, then
  the oldest.
- ``AUTHGATE_UPSTREAM_TIMEOUT_SECONDS`` [5]: per upstream socket operation.
- ``AUTHGATE_UPSTREAM_CONCURRENCY`` [8]: upstream checks running at once (threads).
- ``AUTHGATE_IDLE_TIMEOUT_SECONDS`` [75]: keep-alive idle limit; keep it above nginx's
  upstream ``keepalive_timeout`` (60 s by default) so that nginx closes idle connections first.
- ``AUTHGATE_HEADER_TIMEOUT_SECONDS`` [10]: time for a started request head to arrive.
- ``AUTHGATE_MAX_CONNECTIONS`` [512]: further connections get 503 and are closed.
- ``AUTHGATE_LOG_LEVEL`` [INFO]: logging to stderr (journald); never a header, user name or
  password.

SIGTERM (or SIGINT) stops accepting, lets requests in progress finish (a few seconds at
most) and exits 0. A configuration error exits 2 with a message naming the variable.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger("authgate")

AUTH_PATH = "/auth"
HEALTH_PATH = "/health"
REALM_HEADER = ("WWW-Authenticate", 'Basic realm="mlflow"')
MAX_TTL_SECONDS = 60.0
MAX_HEAD_BYTES = 32 * 1024  # nginx sends at most 4 x 8k of headers by default
MAX_BODY_BYTES = 64 * 1024  # a body is read and discarded, never used
MAX_UPSTREAM_BODY_BYTES = 256 * 1024
SHUTDOWN_GRACE_SECONDS = 5.0
ALLOWED_STATUSES = frozenset({200, 401, 403})
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
# Headers that a request may carry once only (two would make the answer ambiguous).
SINGLE_HEADERS = frozenset({"authorization", "content-length", "host", "transfer-encoding"})


class ConfigError(ValueError):
    """A setting from the environment is missing or out of range."""


class HttpError(Exception):
    """A request that is answered with ``status`` and a closed connection."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# --- configuration -----------------------------------------------------------------------


def _number(
    env: Mapping[str, str], name: str, default: float, low: float, high: float | None = None
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < low:
        raise ConfigError(f"{name}={raw!r} must be at least {low:g}")
    if high is not None and value > high:
        raise ConfigError(f"{name}={raw!r} is above the maximum of {high:g}")
    return value


def _integer(
    env: Mapping[str, str], name: str, default: int, low: int, high: int | None = None
) -> int:
    value = _number(env, name, default, low, high)
    if value != int(value):
        raise ConfigError(f"{name}={env[name]!r} is not a whole number")
    return int(value)


def _upstream_url(env: Mapping[str, str]) -> str:
    url = env.get("AUTHGATE_UPSTREAM_URL", "").strip()
    if not url:
        raise ConfigError("AUTHGATE_UPSTREAM_URL is not set (the MLflow URL to check with)")
    scheme, _, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    if "@" in authority:  # not echoed: it holds credentials
        raise ConfigError("AUTHGATE_UPSTREAM_URL must not contain credentials")
    if scheme.lower() not in ("http", "https") or not authority:
        raise ConfigError(f"AUTHGATE_UPSTREAM_URL={url!r} is not an http(s) URL")
    return url


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen_host(env: Mapping[str, str]) -> str:
    host = env.get("AUTHGATE_HOST", "").strip() or "127.0.0.1"
    allowed = env.get("AUTHGATE_ALLOW_NON_LOOPBACK", "").strip().lower() in TRUE_WORDS
    if not is_loopback(host) and not allowed:
        raise ConfigError(
            f"AUTHGATE_HOST={host!r} is not a loopback address; set "
            "AUTHGATE_ALLOW_NON_LOOPBACK=1 to listen on it anyway"
        )
    return host


@dataclass(frozen=True)
class Settings:
    upstream_url: str
    host: str = "127.0.0.1"
    port: int = 5002
    ttl: float = 30.0
    negative_ttl: float = 5.0
    max_entries: int = 10000
    upstream_timeout: float = 5.0
    upstream_concurrency: int = 8
    idle_timeout: float = 75.0
    header_timeout: float = 10.0
    max_connections: int = 512

    def __post_init__(self) -> None:
        """The TTL bound holds however the settings are made (a revocation takes <= 60 s)."""
        for name, ttl in (
            ("AUTHGATE_TTL_SECONDS", self.ttl),
            ("AUTHGATE_NEGATIVE_TTL_SECONDS", self.negative_ttl),
        ):
            if not 0 <= ttl <= MAX_TTL_SECONDS:
                raise ConfigError(f"{name}={ttl:g} is outside 0 to {MAX_TTL_SECONDS:g} seconds")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            upstream_url=_upstream_url(env),
            host=_listen_host(env),
            port=_integer(env, "AUTHGATE_PORT", 5002, 0, 65535),
            ttl=_number(env, "AUTHGATE_TTL_SECONDS", 30.0, 0, MAX_TTL_SECONDS),
            negative_ttl=_number(env, "AUTHGATE_NEGATIVE_TTL_SECONDS", 5.0, 0, MAX_TTL_SECONDS),
            max_entries=_integer(env, "AUTHGATE_MAX_ENTRIES", 10000, 1),
            upstream_timeout=_number(env, "AUTHGATE_UPSTREAM_TIMEOUT_SECONDS", 5.0, 0.1, 300),
            upstream_concurrency=_integer(env, "AUTHGATE_UPSTREAM_CONCURRENCY", 8, 1, 256),
            idle_timeout=_number(env, "AUTHGATE_IDLE_TIMEOUT_SECONDS", 75.0, 0.1),
            header_timeout=_number(env, "AUTHGATE_HEADER_TIMEOUT_SECONDS", 10.0, 0.1),
            max_connections=_integer(env, "AUTHGATE_MAX_CONNECTIONS", 512, 1),
        )


# --- the decision cache ------------------------------------------------------------------


@dataclass
class Entry:
    status: int
    expires: float


class DecisionCache:
    """Statuses by credential digest, each until its expiry; at most ``max_entries``."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, now: float) -> int | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.expires:
            del self._entries[key]
            return None
        return entry.status

    def put(self, key: bytes, status: int, expires: float, now: float) -> None:
        if expires <= now:
            return
        self._entries[key] = Entry(status, expires)
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            self._evict(now)

    def _evict(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if now >= e.expires]:
            del self._entries[key]
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


# --- the upstream check ------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (502), never followed: the header must not go elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def build_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def ask_upstream(
    opener: urllib.request.OpenerDirector, url: str, authorization: str, timeout: float
) -> int:
    """MLflow's status for these credentials (blocking; raises OSError when unreachable)."""
    request = urllib.request.Request(
        url,
        headers={"Authorization": authorization, "Accept": "application/json"},
        method="GET",
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(MAX_UPSTREAM_BODY_BYTES)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(OSError):
            exc.read(MAX_UPSTREAM_BODY_BYTES)
        exc.close()
        return int(exc.code)


def _describe(exc: BaseException) -> str:
    """One line about a failed upstream call (no header value can be in it)."""
    text = str(getattr(exc, "reason", None) or exc)
    return f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else 'no details'}"


# --- HTTP messages -----------------------------------------------------------------------


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str] = field(repr=False)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens


def _parse_request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3:
        raise HttpError(400)
    method, target, version = parts
    if not TOKEN.fullmatch(method) or not target.startswith("/"):
        raise HttpError(400)
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise HttpError(505 if version.startswith("HTTP/") else 400)
    if any(c in target for c in "\x00\t\r\n"):
        raise HttpError(400)
    return method, target, version


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not TOKEN.fullmatch(name) or any(c in value for c in "\x00\r\n"):
            raise HttpError(400)  # also obsolete line folding (a name starting with a space)
        name, value = name.lower(), value.strip(" \t")
        if name in headers:
            if name in SINGLE_HEADERS:
                raise HttpError(400)
            value = f"{headers[name]}, {value}"
        headers[name] = value
    return headers


def parse_head(head: bytes) -> Request:
    """The request line and headers of ``head`` (ending with an empty line)."""
    lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise HttpError(400)
    method, target, version = _parse_request_line(lines[0])
    return Request(method, target, version, _parse_headers(lines[1:]))


def body_length(request: Request) -> int:
    if "transfer-encoding" in request.headers:
        raise HttpError(400)  # a check takes no body; chunked ones are not read
    raw = request.headers.get("content-length", "0")
    if not raw.isdigit() or not raw.isascii():
        raise HttpError(400)
    length = int(raw)
    if length > MAX_BODY_BYTES:
        raise HttpError(413)
    return length


def render(
    status: int,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    send_body: bool = True,
    connection: str | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += ["Cache-Control: no-store", f"Content-Length: {len(body)}"]
    if connection:
        lines.append(f"Connection: {connection}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if send_body else head


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


# --- the gate ----------------------------------------------------------------------------


@dataclass
class Stats:
    hits: int = 0
    misses: int = 0
    upstream_calls: int = 0
    upstream_errors: int = 0


class AuthGate:
    """The decision logic and its HTTP server (one asyncio loop)."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        opener: urllib.request.OpenerDirector | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.cache = DecisionCache(settings.max_entries)
        self.stats = Stats()
        self._hmac_key = secrets.token_bytes(32)  # memory only: never logged or written
        self._opener = opener or build_opener()
        self._inflight: dict[bytes, asyncio.Task[int]] = {}
        self._executor = ThreadPoolExecutor(
            settings.upstream_concurrency, thread_name_prefix="authgate-upstream"
        )
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._busy = 0
        self._closing = False

    # The decision.

    def digest(self, authorization: str) -> bytes:
        return hmac.new(self._hmac_key, authorization.encode("latin-1"), hashlib.sha256).digest()

    async def decide(self, authorization: str | None) -> int:
        """200, 401, 403 or 502 for these credentials (from the cache when it can)."""
        if not authorization:
            return 401
        key = self.digest(authorization)
        cached = self.cache.get(key, self.clock())
        if cached is not None:
            self.stats.hits += 1
            return cached
        self.stats.misses += 1
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._check(key, authorization))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _check(self, key: bytes, authorization: str) -> int:
        started = self.clock()  # the entry's age counts from before the question
        self.stats.upstream_calls += 1
        loop = asyncio.get_running_loop()
        s = self.settings
        try:
            status = await loop.run_in_executor(
                self._executor, ask_upstream, self._opener, s.upstream_url, authorization,
                s.upstream_timeout,
            )  # fmt: skip
        except Exception as exc:  # URLError, timeouts, refused connections, bad answers
            self.stats.upstream_errors += 1
            LOG.warning("Upstream check failed, answering 502: %s", _describe(exc))
            return 502
        if status not in ALLOWED_STATUSES:
            self.stats.upstream_errors += 1
            LOG.warning("Upstream check answered HTTP %d, answering 502", status)
            return 502
        ttl = s.ttl if status == 200 else s.negative_ttl
        self.cache.put(key, status, started + ttl, self.clock())
        return status

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "cache_entries": len(self.cache), **vars(self.stats)}

    async def answer(self, request: Request) -> Answer:
        if request.path not in (AUTH_PATH, HEALTH_PATH):
            return Answer(404)
        if request.method not in ("GET", "HEAD"):
            return Answer(405, (("Allow", "GET, HEAD"),))
        if request.path == HEALTH_PATH:
            body = json.dumps(self.health()).encode()
            return Answer(200, (("Content-Type", "application/json"),), body)
        status = await self.decide(request.headers.get("authorization"))
        return Answer(status, (REALM_HEADER,) if status == 401 else ())

    # The server.

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, self.settings.host, self.settings.port, limit=MAX_HEAD_BYTES
        )

    async def close(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop accepting, let requests in progress finish, close idle connections."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._busy and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=1)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > self.settings.max_connections:
                await self._refuse(writer, 503)
                return
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only close() cancels a connection; ending quietly spares asyncio (3.10, 3.11)
            # from logging the cancelled task as an error.
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not self._closing:
            try:
                head = await self._read_head(reader)
            except HttpError as err:
                await self._refuse(writer, err.status)
                return
            if head is None:
                return
            self._busy += 1
            try:
                if not await self._handle(reader, writer, head):
                    return
            finally:
                self._busy -= 1

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        """Answer one request; True when the connection stays open for the next."""
        try:
            request = parse_head(head)
            await self._discard_body(reader, request)
        except HttpError as err:
            await self._refuse(writer, err.status)
            return False
        return await self._reply(writer, request)

    @staticmethod
    async def _refuse(writer: asyncio.StreamWriter, status: int) -> None:
        writer.write(render(status, connection="close"))
        await writer.drain()

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes | None:
        """The next request head, or None when the client closed or stayed idle too long."""
        try:
            first = await asyncio.wait_for(reader.readexactly(1), self.settings.idle_timeout)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError):
            return None
        try:
            rest = await asyncio.wait_for(
                reader.readuntil(b"\r\n\r\n"), self.settings.header_timeout
            )
        except asyncio.TimeoutError:
            raise HttpError(408) from None
        except asyncio.LimitOverrunError:
            raise HttpError(431) from None
        return first + rest

    async def _discard_body(self, reader: asyncio.StreamReader, request: Request) -> None:
        length = body_length(request)
        if length:
            try:
                await asyncio.wait_for(reader.readexactly(length), self.settings.header_timeout)
            except asyncio.TimeoutError:
                raise HttpError(408) from None

    async def _reply(self, writer: asyncio.StreamWriter, request: Request) -> bool:
        answer = await self.answer(request)
        keep_alive = request.keep_alive and not self._closing
        if keep_alive:
            connection = "keep-alive" if request.version == "HTTP/1.0" else None
        else:
            connection = "close"
        writer.write(
            render(
                answer.status,
                headers=answer.headers,
                body=answer.body,
                send_body=request.method != "HEAD",
                connection=connection,
            )
        )
        await writer.drain()
        return keep_alive


# --- the service -------------------------------------------------------------------------


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    gate = AuthGate(settings)
    await gate.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    LOG.info(
        "Listening on %s:%d; positive TTL %gs, negative TTL %gs, at most %d entries",
        settings.host, gate.port, settings.ttl, settings.negative_ttl, settings.max_entries,
    )  # fmt: skip
    await stop.wait()
    LOG.info("Stopping")
    await gate.close()


def main() -> int:
    level_name = os.environ.get("AUTHGATE_LOG_LEVEL", "").strip().upper() or "INFO"
    level = logging.getLevelName(level_name)  # the number for a known name
    logging.basicConfig(
        stream=sys.stderr,
        level=level if isinstance(level, int) else logging.INFO,
        format="%(levelname)s %(message)s",
    )
    if not isinstance(level, int):
        LOG.warning("AUTHGATE_LOG_LEVEL=%r is not a logging level; using INFO", level_name)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        LOG.error("Configuration error: %s", exc)
        return 2
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
