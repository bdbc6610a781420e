"""Inputs that would lock everybody out, or that sshd cannot use, fail before any change."""

import pytest
from conftest import assert_fails_before_change

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPm0ujyD3hzXAZKnLa1cTRBJ3bQ4mUxw8CbGMDN9zOE0 test"


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"ssh_hardening_authorized_keys": []},
            r"ssh_hardening_authorized_keys is empty while "
            r"ssh_hardening_password_authentication is false: nobody could log in",
        ),
        (
            {"ssh_hardening_authorized_keys": [{"user": "carol", "keys": [KEY]}]},
            r"ssh_hardening_authorized_keys lists 'carol', who has no account on",
        ),
        (
            {"ssh_hardening_authorized_keys": [{"user": "bob", "keys": [KEY]}]},
            r"ssh_hardening_authorized_keys lists 'bob', who would not be allowed in: add the "
            r"account to one of ssh_hardening_allow_groups \[\"mlops-admins\"\]",
        ),
        (
            {"ssh_hardening_authorized_keys": [{"user": "alice", "keys": ["AAAA not a key"]}]},
            r"ssh_hardening_authorized_keys entry for user 'alice': "
            r".*not a public key: \['AAAA not a key'\]",
        ),
        (
            {"ssh_hardening_kex_algorithms": ["curve25519-sha256", "kyber-made-up@example.com"]},
            r"does not support kyber-made-up@example.com \(ssh_hardening_kex_algorithms",
        ),
        (
            {"ssh_hardening_permit_root_login": "yes"},
            r"ssh_hardening_permit_root_login must be one of: "
            r"no, prohibit-password, forced-commands-only",
        ),
    ],
    ids=[
        "no_keys",
        "unknown_user",
        "user_not_allowed",
        "not_a_key",
        "unsupported_kex",
        "root_password",
    ],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars), expected)
