"""Testinfra checks of the postgresql role on the converged container."""

import os
import stat
from pathlib import Path

import pytest

CREDENTIALS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials"


def generated_password(host) -> Path:
    name = host.backend.get_hostname()
    return CREDENTIALS / name / "postgresql-mlflow.password"


def psql(host, sql: str, user: str, password: str, database: str):
    cmd = f"PGPASSWORD={password} psql -h 127.0.0.1 -U {user} -d {database} -tAc {sql!r}"
    return host.run(cmd)


def test_service_running_and_enabled(host):
    unit = host.service("postgresql@15-main")
    assert unit.is_running
    assert unit.is_enabled


def test_listens_on_loopback_only(host):
    sockets = host.socket.get_listening_sockets()
    pg = [s for s in sockets if s.endswith(":5432")]
    assert pg, sockets
    assert all(s.startswith(("tcp://127.0.0.1:", "tcp://::1:")) for s in pg), pg


def test_generated_password_kept_0600_on_control_node(host):
    path = generated_password(host)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(path.read_text().strip()) == 32


def test_owner_connects_with_its_password(host):
    password = generated_password(host).read_text().strip()
    result = psql(host, "SELECT current_user, current_database()", "mlflow", password, "mlflow")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "mlflow|mlflow"
    vault_user = psql(host, "SELECT 1", "reporting", "reporting-Passw0rd-from-vault", "reports")
    assert vault_user.rc == 0, vault_user.stderr


def test_wrong_password_rejected(host):
    result = psql(host, "SELECT 1", "mlflow", "not-the-password", "mlflow")
    assert result.rc != 0
    assert "password authentication failed" in result.stderr


def test_other_role_cannot_connect_to_a_foreign_database(host):
    result = psql(host, "SELECT 1", "reporting", "reporting-Passw0rd-from-vault", "mlflow")
    assert result.rc != 0
    assert "permission denied for database" in result.stderr


def test_passwords_stored_as_scram(host):
    out = host.check_output(
        "sudo -u postgres psql -tAc \"SELECT rolpassword FROM pg_authid WHERE rolname='mlflow'\""
    )
    assert out.startswith("SCRAM-SHA-256$")


def show(host, setting: str) -> str:
    return host.check_output(f'sudo -u postgres psql -tAc "SHOW {setting}"').strip()


def test_memory_sized_from_ram(host):
    ram_mb = int(host.check_output("awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo"))
    expected_mb = min(int(ram_mb * 0.25), 8192)
    value = show(host, "shared_buffers")
    if value.endswith("GB"):
        assert int(value[:-2]) * 1024 == expected_mb
    else:
        assert value == f"{expected_mb}MB"
    assert show(host, "work_mem") == "8MB"  # set explicitly in molecule.yml


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("listen_addresses", "localhost"),
        ("password_encryption", "scram-sha-256"),
        ("log_min_duration_statement", "1s"),
    ],
)
def test_settings(host, setting, value):
    assert show(host, setting) == value


def test_pg_hba_has_no_remote_entries(host):
    hba = host.file("/etc/postgresql/15/main/pg_hba.conf")
    assert hba.mode == 0o640
    rules = [line.split() for line in hba.content_string.splitlines() if line[:1] not in "#"]
    rules = [r for r in rules if r]
    addresses = {r[3] for r in rules if r[0] == "host"}
    assert addresses == {"127.0.0.1/32", "::1/128"}
    assert all(r[-1] in {"peer", "scram-sha-256"} for r in rules)
