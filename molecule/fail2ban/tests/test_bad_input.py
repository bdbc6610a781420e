"""Bad input stops the fail2ban role before it changes anything, naming the variable."""

import pytest
from conftest import assert_fails_before_change


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"fail2ban_ignore_networks": ["192.0.2.0/24", "office"]},
            r"fail2ban_ignore_networks entries are not IP addresses or networks "
            r"\(CIDR, host bits zero\): office",
        ),
        ({"fail2ban_maxretry": 0}, r"fail2ban_maxretry 1-100 \(0\)"),
    ],
    ids=["bad_network", "maxretry"],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars), expected)
