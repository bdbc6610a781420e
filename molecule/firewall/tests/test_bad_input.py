"""Bad input stops the firewall role before it changes anything, naming the variable."""

import pytest
from conftest import assert_fails_before_change


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"firewall_ssh_allowed_networks": []},
            r"firewall_ssh_allowed_networks is empty: list the networks the admins connect from",
        ),
        (
            {"firewall_ssh_allowed_networks": ["10.99.0.0/24", "10.99.0.1/24", "admins"]},
            r"firewall_ssh_allowed_networks entries are not IP addresses or networks "
            r"\(CIDR, host bits zero\): 10.99.0.1/24, admins",
        ),
        (
            {
                "firewall_services": [
                    {"name": "web", "ports": [70000], "sources": ["10.0.0.0/8", "x"]}
                ]
            },
            r"firewall_services entry .*\"web\".*: ports must be a non-empty list of port numbers "
            r"1-65535 or ranges \"LOW-HIGH\" with LOW <= HIGH; not: 70000; "
            r"sources entries are not IP addresses or networks: x",
        ),
        (  # nftables would refuse the reversed range only when loading the ruleset
            {
                "firewall_services": [
                    {
                        "name": "srun",
                        "ports": ["60001-63000", "9000-8000"],
                        "sources": ["10.0.0.0/8"],
                    }
                ]
            },
            r"firewall_services entry .*\"srun\".*: ports must be .* "
            r"with LOW <= HIGH; not: 9000-8000\.",
        ),
        (
            {"firewall_services": [{"name": "ssh", "ports": [2222], "sources": ["10.0.0.0/8"]}]},
            r"the name ssh is the role's own",
        ),
        (  # NAT or a jump host: the address the host sees is not admitted
            {"firewall_connection_source": "192.0.2.44"},
            r"Ansible reaches \S+ over SSH from 192.0.2.44, which firewall_ssh_allowed_networks "
            r"\[\"10.99.0.0/24\", \"2001:db8:99::/64\"\] does not include",
        ),
    ],
    ids=[
        "empty_ssh_allowlist",
        "bad_network",
        "bad_service",
        "reversed_range",
        "reserved_name",
        "lock_out",
    ],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars), expected)
