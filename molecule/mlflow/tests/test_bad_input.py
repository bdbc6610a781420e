"""Bad input must stop the mlflow role before it changes anything on the host."""

import pytest
from conftest import assert_fails_before_change


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({"mlflow_host": "0.0.0.0"}, r"mlflow_host a loopback address \('0\.0\.0\.0'\)"),
        ({"mlflow_version": "latest"}, r"mlflow_version X\.Y\.Z \('latest'\)"),
        ({"mlflow_default_permission": "ALL"}, r"mlflow_default_permission.*ALL"),
        (
            {"mlflow_admin_password": "CHANGE-ME-IN-ANSIBLE-VAULT"},
            r"mlflow_admin_password: when given, must be at least 12 characters",
        ),
    ],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars), expected)
