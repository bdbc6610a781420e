"""IP allowlist test and filters (onprem.mlops.ip_network, ip_network_problems, ...)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.onprem.mlops.plugins.filter import ip_allowlist as ipl
from ansible_collections.onprem.mlops.plugins.test import ip_allowlist as ip_test

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"

VALID = [
    "192.0.2.0/24",
    "192.0.2.10",
    "192.0.2.10/32",
    "0.0.0.0/0",
    "10.0.0.0/8",
    "2001:db8::/32",
    "2001:DB8::1",
    "2001:db8::1/128",
    "::/0",
    "::1",
    "::ffff:192.0.2.0/120",
    "fe80::/10",
]
INVALID = [
    "192.0.2.10/24",  # host bits set: ambiguous
    "2001:db8::1/32",
    "192.0.2.0/33",
    "2001:db8::/129",
    "192.0.2",
    "256.0.0.1",
    "010.0.0.1",  # leading zero: octal or decimal?
    "10.0.0.0/255.0.0.0",  # netmask notation
    "10.0.0.0/0.255.255.255",  # hostmask notation
    "fe80::1%eth0",  # zone id
    " 192.0.2.1",
    "192.0.2.1 ",
    "192.0.2.0/",
    "/24",
    "",
    "example.org",
    "192.0.2.0/\uff12\uff14",  # fullwidth digits
]
NOT_STRINGS = [None, 3232235777, 1.5, True, b"192.0.2.1", ["192.0.2.1"], {"a": 1}]


# ----------------------------------------------------------------- test ip_network


@pytest.mark.parametrize("value", VALID)
def test_ip_network_accepts(value):
    assert ipl.is_ip_network(value) is True


@pytest.mark.parametrize("value", INVALID + NOT_STRINGS)
def test_ip_network_rejects(value):
    assert ipl.is_ip_network(value) is False


def test_test_plugin_entry_point():
    assert ip_test.TestModule().tests() == {"ip_network": ipl.is_ip_network}


def test_filter_plugin_entry_point():
    assert set(ipl.FilterModule().filters()) == {
        "ip_network_problems",
        "ip_networks_by_family",
        "ip_in_networks",
    }


# ----------------------------------------------------------------- ip_network_problems


def test_problems_lists_bad_entries_as_given_in_order():
    entries = ["192.0.2.0/24", "192.0.2.10/24", None, "2001:db8::/32", "x", 7, "192.0.2.10/24"]
    assert ipl.network_problems(entries) == ["192.0.2.10/24", None, "x", 7, "192.0.2.10/24"]


def test_problems_of_valid_or_empty_lists():
    assert ipl.network_problems(VALID) == []
    assert ipl.network_problems([]) == []
    assert ipl.network_problems(iter(["x"])) == ["x"]  # Jinja may pass a generator


@pytest.mark.parametrize("value", ["192.0.2.0/24", None, {"a": "192.0.2.0/24"}, 5])
def test_problems_needs_a_list(value):
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        ipl.network_problems(value)


# ----------------------------------------------------------------- ip_networks_by_family


def test_by_family_normalises_sorts_and_deduplicates():
    entries = [
        "2001:DB8::1",
        "192.0.2.0/24",
        "10.0.0.0/8",
        "192.0.2.7/32",
        "192.0.2.7",
        "2001:db8:0:0::1/128",
        "2001:db8::/32",
        "192.0.2.0/24",
        "9.9.9.9",
        "10.0.0.0/16",
    ]
    assert ipl.networks_by_family(entries) == {
        # Numeric order (9 before 10); networks inside others are absorbed.
        "ipv4": ["9.9.9.9", "10.0.0.0/8", "192.0.2.0/24"],
        "ipv6": ["2001:db8::/32"],
    }


def test_by_family_merges_adjacent_and_keeps_disjoint():
    entries = ["192.0.2.0/25", "192.0.2.128/25", "198.51.100.7", "198.51.100.9"]
    assert ipl.networks_by_family(entries)["ipv4"] == [
        "192.0.2.0/24",
        "198.51.100.7",
        "198.51.100.9",
    ]
    assert ipl.networks_by_family(["0.0.0.0/0", "10.0.0.0/8"])["ipv4"] == ["0.0.0.0/0"]


def test_by_family_empty_and_single_family():
    assert ipl.networks_by_family([]) == {"ipv4": [], "ipv6": []}
    assert ipl.networks_by_family(["::1"]) == {"ipv4": [], "ipv6": ["::1"]}
    assert ipl.networks_by_family(["0.0.0.0/0"]) == {"ipv4": ["0.0.0.0/0"], "ipv6": []}


def test_by_family_names_invalid_entries():
    with pytest.raises(AnsibleFilterError) as raised:
        ipl.networks_by_family(["192.0.2.0/24", "192.0.2.10/24", "nope", None])
    message = str(raised.value)
    assert message.startswith("ip_networks_by_family: not an IP address or network")
    assert message.endswith("'192.0.2.10/24', 'nope', None")
    assert "'192.0.2.0/24'" not in message


# ----------------------------------------------------------------- ip_in_networks

NETWORKS = ["192.0.2.0/24", "198.51.100.7", "2001:db8::/32"]


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("192.0.2.5", True),
        ("192.0.2.255", True),
        ("192.0.3.1", False),
        ("198.51.100.7", True),
        ("198.51.100.8", False),
        ("2001:db8::42", True),
        ("2001:DB8:0::42", True),
        ("2001:db9::1", False),
        ("::ffff:192.0.2.5", True),  # IPv4-mapped: counts as 192.0.2.5
        ("::ffff:c000:205", True),  # the same, written in hex
        ("::ffff:203.0.113.1", False),
        ("::192.0.2.5", False),  # IPv4-compatible (deprecated) is not mapped
        ("", False),
        (None, False),
        ("not an address", False),
        ("192.0.2.5/32", False),  # a network, not an address
        (3221225989, False),  # an integer, not a string
    ],
)
def test_in_networks(address, inside):
    assert ipl.in_networks(address, NETWORKS) is inside


def test_in_networks_mapped_address_in_an_ipv6_network():
    assert ipl.in_networks("::ffff:192.0.2.5", ["::ffff:0:0/96"]) is True
    assert ipl.in_networks("192.0.2.5", ["::ffff:0:0/96"]) is False


def test_in_networks_everything_and_nothing():
    assert ipl.in_networks("203.0.113.9", ["0.0.0.0/0"]) is True
    assert ipl.in_networks("2001:db8::1", ["0.0.0.0/0"]) is False
    assert ipl.in_networks("203.0.113.9", []) is False


def test_in_networks_names_invalid_networks():
    with pytest.raises(AnsibleFilterError, match=r"ip_in_networks: .*'10\.0\.0\.1/8'"):
        ipl.in_networks("10.0.0.1", ["10.0.0.1/8"])
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        ipl.in_networks("10.0.0.1", "10.0.0.0/8")


# ----------------------------------------------------------------- through Ansible's templating


def test_plugins_in_an_ansible_template(tmp_path):
    """The test plugin imports the filter module: check both load in a real Ansible run."""
    expression = (
        "{{ {"
        "'valid': ['192.0.2.0/24', '192.0.2.10/24', 5] | select('onprem.mlops.ip_network') | list,"
        "'problems': ['192.0.2.0/24', 'x'] | onprem.mlops.ip_network_problems,"
        "'family': ['2001:DB8::1', '192.0.2.7/32'] | onprem.mlops.ip_networks_by_family,"
        "'inside': '::ffff:192.0.2.5' | onprem.mlops.ip_in_networks(['192.0.2.0/24'])"
        "} }}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_HOME=str(tmp_path / "home"),
    )
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-m",
            "ansible.builtin.debug",
            "-a",
            f"msg={expression}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (task,) = json.loads(completed.stdout)["plays"][0]["tasks"]
    assert task["hosts"]["localhost"]["msg"] == {
        "valid": ["192.0.2.0/24"],
        "problems": ["x"],
        "family": {"ipv4": ["192.0.2.7"], "ipv6": ["2001:db8::1"]},
        "inside": True,
    }
