"""The certificate's life: provided files that must fail, renewal, new names, provided mode.

Provided certificates are made here, on the control node, with the `cryptography` package
that ansible-core depends on. Wrong pairs fail before any change. The tests after them change
the host in turn (each starting from the previous one's state, as an operator would); the
module's teardown converges back to the scenario's own internal CA and checks it.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import pytest
from conftest import assert_fails_before_change
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA = "/etc/onprem-mlops/pki/onprem-mlops-ca.crt"
CERT = "/etc/onprem-mlops/pki/reverse-proxy.crt"
KEY = "/etc/onprem-mlops/pki/private/reverse-proxy.key"
TRUSTED_CA = "/usr/local/share/ca-certificates/onprem-mlops-reverse-proxy-ca.crt"
# The stub upstreams of converge.yml keep running: their tasks are skipped here.
SKIP_FIXTURES = ("--skip-tags", "fixtures")
# Good input: only the role's certificate tasks (and the handlers they notify) run; the
# rest of the role is unchanged by these variables.
TLS_ONLY = ("--tags", "reverse_proxy-tls")
NAMED = (
    r"reverse_proxy_tls_certificate_src \(\S+\) and reverse_proxy_tls_key_src \(\S+\)"
    r" cannot be used"
)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def self_signed(key, days_valid: int) -> bytes:
    now = datetime.datetime.now(datetime.timezone.utc)
    if days_valid > 0:
        not_before, not_after = (
            now - datetime.timedelta(minutes=5),
            now + datetime.timedelta(days=days_valid),
        )
    else:  # expired yesterday
        not_before, not_after = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def provided(tmp_path: Path, cert: bytes, key: bytes) -> dict:
    (tmp_path / "server.crt").write_bytes(cert)
    (tmp_path / "server.key").write_bytes(key)
    return {
        "reverse_proxy_tls_mode": "provided",
        "reverse_proxy_tls_certificate_src": str(tmp_path / "server.crt"),
        "reverse_proxy_tls_key_src": str(tmp_path / "server.key"),
    }


def served(host) -> str:
    return host.check_output(
        "openssl s_client -connect 127.0.0.1:443 -servername localhost </dev/null 2>/dev/null"
        " | openssl x509 -noout -fingerprint -sha256"
    )


def fingerprint(host, path: str) -> str:
    return host.check_output(f"openssl x509 -in {path} -noout -fingerprint -sha256")


def fingerprint_of(pem: bytes) -> str:
    digest = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex().upper()
    return "sha256 Fingerprint=" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def sans(host) -> str:
    return host.check_output(f"openssl x509 -in {CERT} -noout -ext subjectAltName")


@pytest.fixture(scope="module", autouse=True)
def back_to_the_internal_ca(host, converge_with):
    yield
    run = converge_with(None, *TLS_ONLY)
    assert run.returncode == 0, run.output[-3000:]
    assert host.run(f"openssl verify -CAfile {CA} {CERT}").rc == 0
    assert served(host) == fingerprint(host, CERT)
    assert host.file(TRUSTED_CA).exists
    assert f"DNS:{host.backend.get_hostname()}" in sans(host)


def test_certificate_of_another_key_fails_before_change(converge_with, tmp_path):
    extra = provided(tmp_path, self_signed(new_key(), 90), key_pem(new_key()))
    run = converge_with(extra, *SKIP_FIXTURES)
    assert_fails_before_change(run, NAMED + ": the certificate does not match the private key")


def test_expired_certificate_fails_before_change(converge_with, tmp_path):
    key = new_key()
    run = converge_with(provided(tmp_path, self_signed(key, -1), key_pem(key)), *SKIP_FIXTURES)
    assert_fails_before_change(run, NAMED + ": the certificate expired on")


def test_missing_key_file_fails_before_change(converge_with, tmp_path):
    key = new_key()
    extra = provided(tmp_path, self_signed(key, 90), key_pem(key))
    extra["reverse_proxy_tls_key_src"] = str(tmp_path / "absent.key")
    run = converge_with(extra, *SKIP_FIXTURES)
    assert_fails_before_change(
        run, r"reverse_proxy_tls_key_src \('\S+absent.key'\) must both name files.*key not found"
    )


def test_renewed_when_it_expires_within_the_window(host, converge_with):
    before, ca_before = fingerprint(host, CERT), fingerprint(host, CA)
    # Nothing else changes: a 365-day certificate is not valid 365 days from now.
    run = converge_with(
        {"reverse_proxy_cert_renew_before_days": 365, "reverse_proxy_cert_valid_days": 366},
        *TLS_ONLY,
    )
    assert run.returncode == 0, run.output[-3000:]
    after = fingerprint(host, CERT)
    assert after != before
    assert served(host) == after  # nginx reloaded
    assert fingerprint(host, CA) == ca_before  # the CA is not inside its window


def test_reissued_when_the_names_change(host, converge_with):
    before, ca_before = fingerprint(host, CERT), fingerprint(host, CA)
    names = ["mlops.example.test", "localhost", "127.0.0.1"]
    run = converge_with({"reverse_proxy_server_names": names}, *TLS_ONLY)
    assert run.returncode == 0, run.output[-3000:]
    assert fingerprint(host, CERT) != before
    assert "DNS:mlops.example.test" in sans(host)
    assert host.backend.get_hostname() not in sans(host)
    assert served(host) == fingerprint(host, CERT)
    assert fingerprint(host, CA) == ca_before


@pytest.fixture
def vault_password(tmp_path: Path) -> Path:
    path = tmp_path / "vault-password"
    path.write_text("molecule-vault-password\n")
    return path


def test_vault_encrypted_key_is_installed_and_served(host, converge_with, tmp_path, vault_password):
    key = new_key()
    cert = self_signed(key, 90)
    extra = provided(tmp_path, cert, key_pem(key))
    subprocess.run(
        [
            "ansible-vault",
            "encrypt",
            "--vault-password-file",
            str(vault_password),
            str(tmp_path / "server.key"),
        ],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "server.key").read_text().startswith("$ANSIBLE_VAULT;")
    run = converge_with(extra, "--vault-password-file", str(vault_password), "-v", *TLS_ONLY)
    assert run.returncode == 0, run.output[-3000:]
    secret_line = key_pem(key).decode().splitlines()[1]
    assert secret_line not in run.stdout + run.stderr
    assert served(host) == fingerprint_of(cert)
    installed = host.file(KEY)
    assert (installed.user, installed.mode) == ("root", 0o600)
    assert installed.content_string == key_pem(key).decode()
    assert not host.file(TRUSTED_CA).exists  # the internal CA is no longer trusted
