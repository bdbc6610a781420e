"""MLOps servers: services on loopback behind nginx, TLS 1.2/1.3 only, no anonymous access."""

from __future__ import annotations

import ipaddress

import pytest
from conftest import needs_group


@pytest.fixture
def server(expect):
    needs_group(expect, "mlops_servers")
    return expect


def listeners(host, port: int) -> list[str]:
    found = []
    for spec in host.socket.get_listening_sockets():
        proto, _, rest = spec.partition("://")
        address, _, p = rest.rpartition(":")
        if proto == "tcp" and p == str(port):
            found.append(address.strip("[]"))
    return found


@pytest.mark.parametrize(("name", "key", "default"), [
    ("MLflow", "mlflow_port", 5000),
    ("model serving", "model_serving_port", 5001),
    ("PostgreSQL", "postgresql_port", 5432),
])  # fmt: skip
def test_services_listen_on_loopback_only(host, server, name, key, default):
    addresses = listeners(host, int(server.get(key) or default))
    assert addresses, f"{name} does not listen"
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses), (name, addresses)


def https(server) -> str:
    return f"localhost:{int(server.get('reverse_proxy_https_port') or 443)}"


@pytest.mark.parametrize(("flag", "accepted"), [
    ("-tls1", False), ("-tls1_1", False), ("-tls1_2", True), ("-tls1_3", True),
])  # fmt: skip
def test_tls_versions(host, server, flag, accepted):
    result = host.run(
        f"openssl s_client -connect {https(server)} {flag} -servername localhost </dev/null"
    )
    handshake = result.rc == 0 and "Cipher is (NONE)" not in result.stdout
    assert handshake is accepted, result.stdout[-500:] + result.stderr[-500:]


def test_http_redirects_to_https(host, server):
    port = int(server.get("reverse_proxy_http_port") or 80)
    out = host.check_output(
        f"curl -sS -o /dev/null -w '%{{http_code}} %{{redirect_url}}' http://localhost:{port}/"
    )
    status, location = out.split()
    assert status == "301" and location.startswith("https://")


@pytest.mark.parametrize(
    "path", ["/", "/api/2.0/mlflow/experiments/search?max_results=1", "/serving/ping"]
)
def test_no_anonymous_access_and_hsts(host, server, path):
    out = host.check_output(
        f"curl -sS -o /dev/null --cacert /etc/ssl/certs/ca-certificates.crt -D - "
        f"-w 'STATUS %{{http_code}}' 'https://{https(server)}{path}'"
    )
    assert out.rstrip().endswith("STATUS 401"), out
    assert "strict-transport-security: max-age=" in out.lower(), out
