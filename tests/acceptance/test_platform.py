"""MLOps servers: services on loopback behind nginx, TLS 1.2/1.3 only, no anonymous access."""

from __future__ import annotations

import ipaddress
import json

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
    # SECLEVEL=0 lets this client offer TLS 1.0/1.1, so a refusal is the server's.
    cipher = "-cipher 'DEFAULT:@SECLEVEL=0'" if not accepted else ""
    result = host.run(
        f"openssl s_client -connect {https(server)} {flag} {cipher}"
        " -servername localhost </dev/null"
    )
    output = result.stdout + result.stderr
    if accepted:
        assert result.rc == 0 and "Cipher is (NONE)" not in output, output[-800:]
    else:
        assert result.rc != 0 and "alert protocol version" in output, output[-800:]


# Requests are made on the server itself with its python3 (Ansible's own requirement, so
# always there), trusting the system CA bundle (where the platform's CA is installed).
_REQUEST = r"""
import json, ssl, sys, urllib.error, urllib.request
class Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
context = ssl.create_default_context(cafile="/etc/ssl/certs/ca-certificates.crt")
opener = urllib.request.build_opener(Keep, urllib.request.HTTPSHandler(context=context))
try:
    response = opener.open(sys.argv[1], timeout=30)
    status, headers = response.status, response.headers
except urllib.error.HTTPError as error:
    status, headers = error.code, error.headers
print(json.dumps({"status": status, "headers": {k.lower(): v for k, v in headers.items()}}))
"""


def request(host, url: str) -> dict:
    return json.loads(host.check_output("python3 -c %s %s", _REQUEST, url))


def test_http_redirects_to_https(host, server):
    port = int(server.get("reverse_proxy_http_port") or 80)
    answer = request(host, f"http://localhost:{port}/")
    assert answer["status"] == 301 and answer["headers"]["location"].startswith("https://")


@pytest.mark.parametrize(
    "path", ["/", "/api/2.0/mlflow/experiments/search?max_results=1", "/serving/ping"]
)
def test_no_anonymous_access_and_hsts(host, server, path):
    answer = request(host, f"https://{https(server)}{path}")
    assert answer["status"] == 401, answer
    assert answer["headers"]["strict-transport-security"].startswith("max-age="), answer
