"""Testinfra checks of the reverse_proxy role on the converged container.

Every request runs inside the container (curl, openssl) against its own nginx; the stub
upstreams of converge.yml answer on 127.0.0.1:5000 (echo as JSON) and 127.0.0.1:5001 (auth).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

PKI = "/etc/onprem-mlops/pki"
CA_CERT = f"{PKI}/onprem-mlops-ca.crt"
CA_KEY = f"{PKI}/private/onprem-mlops-ca.key"
CERT = f"{PKI}/reverse-proxy.crt"
KEY = f"{PKI}/private/reverse-proxy.key"
TRUSTED_CA = "/usr/local/share/ca-certificates/onprem-mlops-reverse-proxy-ca.crt"
GOOD_AUTH = "alice:secret"


@dataclass
class Response:
    status: int
    headers: dict[str, list[str]]
    body: str

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower(), [])
        assert len(values) == 1, f"{name}: {values}"
        return values[0]

    def json(self) -> dict:
        return json.loads(self.body)


def request(host, url: str, *options: str) -> Response:
    """curl inside the container, trusting only the system CA bundle (no -k)."""
    cmd = (
        "curl -sS --max-time 60 -D /tmp/rp-headers -o /tmp/rp-body -w '%{http_code}' "
        + " ".join(options)
        + " "
        + shlex.quote(url)
    )
    result = host.run(cmd)
    assert result.rc == 0, result.stderr
    # The last header block (after a possible "100 Continue").
    blocks = host.file("/tmp/rp-headers").content_string.strip().split("\r\n\r\n")
    headers: dict[str, list[str]] = {}
    for line in blocks[-1].splitlines()[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Response(int(result.stdout), headers, host.file("/tmp/rp-body").content_string)


def s_client(host, *options: str):
    return host.run(
        "openssl s_client -connect 127.0.0.1:443 -servername localhost -brief "
        + " ".join(options)
        + " </dev/null"
    )


def test_nginx_running_and_enabled(host):
    nginx = host.service("nginx")
    assert nginx.is_running
    assert nginx.is_enabled
    assert host.run("nginx -t").rc == 0


def test_default_site_removed(host):
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    assert host.file("/etc/nginx/conf.d/onprem-mlops.conf").mode == 0o644


def test_only_http_and_https_listen_beyond_loopback(host):
    sockets = host.check_output("ss -Hltn").splitlines()
    local = [line.split()[3] for line in sockets]
    public = set()
    for address in local:
        ip, _, port = address.rpartition(":")
        if ip.startswith("127.") or ip in {"[::1]", "::1"}:
            continue
        public.add(int(port))
    assert public == {80, 443}, local


def test_http_redirects_to_https(host):
    out = host.check_output(
        "curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' 'http://localhost/some/page?x=1'"
    )
    assert out == "301 https://localhost/some/page?x=1"
    post = host.check_output(
        "curl -sS -o /dev/null -w '%{http_code}' -X POST --data x=1 http://localhost/api/2.0/x"
    )
    assert post == "301"


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_old_tls_versions_refused(host, version):
    # SECLEVEL=0 lets this client offer the old version, so the refusal is the server's.
    result = s_client(host, version, "-cipher", "'DEFAULT:@SECLEVEL=0'")
    assert result.rc != 0
    assert "alert protocol version" in result.stderr + result.stdout, result.stderr


@pytest.mark.parametrize(("version", "name"), [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls_1_2_and_1_3_accepted(host, version, name):
    result = s_client(host, version)
    assert result.rc == 0, result.stderr
    assert f"Protocol version: {name}" in result.stderr
    assert "Verification: OK" in result.stderr


@pytest.mark.parametrize(
    "options",
    [
        "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA",  # CBC: not in Mozilla intermediate
        "-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384",
        # Key exchange groups: X25519, P-256 and P-384 only (TLS 1.3: the groups offered do
        # not also restrict the certificate's curve, as they do in TLS 1.2).
        "-tls1_3 -groups secp521r1",
        "-tls1_3 -groups X448",
    ],
)
def test_weak_ciphers_and_curves_refused(host, options):
    result = s_client(host, options)
    assert result.rc != 0, result.stderr


def test_certificate_chains_to_the_ca(host):
    assert host.check_output(f"openssl verify -CAfile {CA_CERT} {CERT}") == f"{CERT}: OK"
    # The CA is in the system bundle: curl (and Python requests with REQUESTS_CA_BUNDLE=
    # /etc/ssl/certs/ca-certificates.crt) trust the proxy without -k or --cacert.
    assert host.file(TRUSTED_CA).content_string == host.file(CA_CERT).content_string
    bundle = host.file("/etc/ssl/certs/ca-certificates.crt").content_string
    assert host.file(CA_CERT).content_string.strip() in bundle
    assert request(host, "https://localhost/").status == 200
    assert request(host, "https://127.0.0.1/").status == 200


def test_certificate_names_and_lifetime(host):
    sans = host.check_output(f"openssl x509 -in {CERT} -noout -ext subjectAltName")
    assert f"DNS:{host.backend.get_hostname()}" in sans
    assert "DNS:localhost" in sans
    assert "IP Address:127.0.0.1" in sans
    text = host.check_output(f"openssl x509 -in {CERT} -noout -text")
    assert "ecdsa-with-SHA256" in text
    assert "NIST CURVE: P-256" in text
    assert "TLS Web Server Authentication" in text
    dates = host.check_output(f"openssl x509 -in {CERT} -noout -startdate -enddate")
    start, end = (
        host.check_output(f"date -d {shlex.quote(line.split('=', 1)[1])} +%s")
        for line in dates.splitlines()
    )
    # reverse_proxy_cert_valid_days' default; Mozilla intermediate allows at most 366.
    assert (int(end) - int(start)) / 86400 == 365


def test_ca_certificate(host):
    text = host.check_output(f"openssl x509 -in {CA_CERT} -noout -text")
    assert re.search(r"Basic Constraints: critical\s+CA:TRUE", text)
    assert re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign", text)


def test_ca_fetched_to_control_node(host):
    fetched = (
        Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
        / "ca"
        / f"{host.backend.get_hostname()}-ca.crt"
    )
    assert fetched.read_text() == host.file(CA_CERT).content_string


@pytest.mark.parametrize(
    ("path", "mode"), [(CA_KEY, 0o600), (KEY, 0o600), (f"{PKI}/private", 0o700)]
)
def test_private_keys_root_only(host, path, mode):
    f = host.file(path)
    assert f.user == "root"
    assert f.group == "root"
    assert f.mode == mode


@pytest.mark.parametrize("path", ["/", "/serving/ping", "/api/2.0/mlflow-artifacts/x"])
def test_security_headers_on_every_response(host, path):
    r = request(host, f"https://localhost{path}")  # 200 and 401 alike
    assert r.header("Strict-Transport-Security") == "max-age=63072000"
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("X-Frame-Options") == "SAMEORIGIN"  # the upstream's DENY is hidden
    assert r.header("Referrer-Policy") == "strict-origin-when-cross-origin"
    assert r.header("Permissions-Policy") == "camera=(), microphone=()"
    assert r.header("Server") == "nginx"  # server_tokens off: no version


def test_route_proxies_to_upstream_with_forwarding_headers(host):
    r = request(host, "https://localhost/hello?x=1", "-H 'X-Forwarded-For: 203.0.113.9'")
    assert r.status == 200
    echo = r.json()
    assert echo["path"] == "/hello?x=1"
    assert echo["headers"]["host"] == "localhost"
    assert echo["headers"]["x-forwarded-proto"] == "https"
    assert echo["headers"]["x-real-ip"] == "127.0.0.1"
    assert echo["headers"]["x-forwarded-for"] == "127.0.0.1"  # the client's value is dropped


def test_body_limit_default_and_per_route(host):
    host.run("head -c 2097152 /dev/zero > /tmp/rp-2m && head -c 524288 /dev/zero > /tmp/rp-512k")
    small = request(host, "https://localhost/upload", "--data-binary @/tmp/rp-512k")
    assert (small.status, small.json()["received"]) == (200, 524288)
    assert request(host, "https://localhost/upload", "--data-binary @/tmp/rp-2m").status == 413
    big = request(
        host, "https://localhost/api/2.0/mlflow-artifacts/artifacts/x.bin", "-T /tmp/rp-2m"
    )
    assert big.status == 200
    assert big.json()["method"] == "PUT"
    assert big.json()["received"] == 2097152


def test_auth_route(host):
    url = "https://localhost/serving/ping"
    anonymous = request(host, url)
    assert anonymous.status == 401
    assert anonymous.header("WWW-Authenticate") == 'Basic realm="stub"'
    wrong = request(host, url, "-u mallory:guess")
    assert wrong.status == 401
    assert wrong.header("WWW-Authenticate") == 'Basic realm="stub"'
    right = request(host, url, f"-u {GOOD_AUTH}")
    assert right.status == 200
    assert right.json()["path"] == "/ping"  # the upstream URL's "/" replaces "/serving/"
    # The auth stub answers 500 to a request with a body: none is passed to it.
    post = request(host, url, f"-u {GOOD_AUTH}", "--data-binary @/etc/hostname")
    assert post.status == 200
    assert post.json()["received"] > 0


def test_access_log_in_combined_format(host):
    request(host, "https://localhost/serving/logged", "-u mallory:guess")
    log = host.file("/var/log/nginx/access.log").content_string
    assert re.search(
        r'^127\.0\.0\.1 - mallory \[[^]]+\] "GET /serving/logged HTTP/2\.0" 401 \d+ "-" "curl/',
        log,
        re.MULTILINE,
    ), log[-2000:]
