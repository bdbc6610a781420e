"""Bad input must stop the base role before it changes anything on the host."""

import pytest
from conftest import assert_fails_before_change


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({"base_timezone": "Mars/Olympus"}, r"base_timezone 'Mars/Olympus' is not a time zone"),
        ({"base_timezone": "../../etc/passwd"}, r"base_timezone '\.\./\.\./etc/passwd'"),
        # Pretend only Debian 11 were supported: the real facts of the host are then unsupported.
        (
            {"__base_supported_os": ["Debian 11"]},
            r"Unsupported operating system 'Debian 12'.*Supported: Debian 11",
        ),
        ({"base_apt_components": ["universe"]}, r"base_apt_components \['universe'\] not known"),
        (
            {"base_proxy_http": "proxy:3128"},
            r"base_proxy_http and base_proxy_https must each be empty or an http",
        ),
        ({"base_admin_group": "Admins!"}, r"base_admin_group 'Admins!' is not a valid group name"),
        ({"base_ca_certificates": [{"name": "x"}]}, r"base_ca_certificates entry 'x'"),
        ({"base_time_sync_enabled": "maybe"}, r"base_time_sync_enabled.*bool"),
    ],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars), expected)


def test_proxy_credentials_not_logged(converge_with):
    run = converge_with({"base_proxy_http": "http://user:S3cretProxyPass@127.0.0.1:3128"})
    # The run itself may succeed or fail (no proxy listens); the secret must not be printed.
    assert "S3cretProxyPass" not in run.stdout + run.stderr
    # Put the scenario's proxy back for the other checks.
    assert converge_with().returncode == 0
