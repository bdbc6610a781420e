"""Bad input must stop the postgresql role before it changes anything on the host."""

import pytest
from conftest import assert_fails_before_change

USERS = [{"name": "mlflow"}]


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"postgresql_users": [{"name": "mlflow", "password": "CHANGE-ME-IN-ANSIBLE-VAULT"}]},
            r"postgresql_users \['mlflow'\]: a password, when given, must be at least 12",
        ),
        (
            {"postgresql_users": [{"name": "mlflow", "password": "short"}]},
            r"postgresql_users \['mlflow'\]",
        ),
        (
            {"postgresql_users": [{"name": "ML-flow"}]},
            r"postgresql_users entry 'ML-flow': name must be a lower-case SQL identifier",
        ),
        (
            {"postgresql_users": USERS, "postgresql_databases": [{"name": "x", "owner": "bob"}]},
            r"postgresql_databases entry 'x'.*owner \('bob'\) one of postgresql_users \(mlflow\)",
        ),
        ({"postgresql_shared_buffers": "lots"}, r"postgresql_shared_buffers 'lots' must be 'auto'"),
        ({"postgresql_version": "9"}, r"postgresql_version '9' is not supported"),
    ],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars), expected)


def test_password_not_in_output(converge_with):
    secret = "Another-Vault-Passw0rd-42"
    run = converge_with(
        {
            "postgresql_users": [{"name": "reporting", "password": secret}],
            "postgresql_databases": [{"name": "reports", "owner": "reporting"}],
        },
        "-v",
    )
    assert run.returncode == 0, run.output[-2000:]
    assert secret not in run.stdout + run.stderr
    # Back to the scenario's own password for the other checks.
    assert converge_with().returncode == 0
