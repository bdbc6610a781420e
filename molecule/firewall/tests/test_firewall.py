"""The firewall seen from other machines: namespaces inside the container send the packets."""

import json

import pytest
from conftest import client_netns, remove_netns, tcp_probe

HOST = "10.99.0.1"
ADMIN, ADMIN_HIGH = "10.99.0.2", "10.99.0.200"  # both in the SSH network; only .2 in https's
METRICS = "10.99.0.7"


@pytest.fixture(scope="module")
def lan(host):
    client_netns(host, "lan", HOST, [ADMIN, ADMIN_HIGH, METRICS])
    client_netns(host, "outside", "10.98.0.1", ["10.98.0.2"])
    yield
    remove_netns(host, "lan")
    remove_netns(host, "outside")


def test_ruleset_file_unit_and_policy(host):
    rules = host.file("/etc/onprem-mlops/firewall.nft")
    assert rules.mode == 0o600 and rules.user == "root"
    assert host.service("onprem-mlops-firewall").is_enabled
    assert host.service("onprem-mlops-firewall").is_running
    table = json.loads(host.check_output("nft -j list table inet onprem_mlops"))["nftables"]
    input_chain = next(e["chain"] for e in table if "chain" in e and e["chain"]["name"] == "input")
    assert input_chain["policy"] == "drop" and input_chain["hook"] == "input"


def test_other_tables_are_left_alone(host):
    assert "table ip other_program" in host.check_output("nft list tables")


@pytest.mark.parametrize(
    ("src", "port", "expected"),
    [
        (ADMIN, 22, "open"),
        (ADMIN_HIGH, 22, "open"),
        (ADMIN, 443, "open"),
        (ADMIN_HIGH, 443, "filtered"),  # in the SSH network, not in https's sources
        (METRICS, 9100, "open"),
        (ADMIN, 9100, "filtered"),
        (ADMIN, 8080, "filtered"),  # listening, but not admitted
    ],
)
def test_what_the_admin_network_reaches(host, lan, src, port, expected):
    assert tcp_probe(host, "lan", src, HOST, port) == expected


def test_nothing_is_reachable_from_elsewhere(host, lan):
    for port in (22, 443, 8080):
        assert tcp_probe(host, "outside", "10.98.0.2", "10.98.0.1", port, timeout=1) == "filtered"


def test_ping_is_answered(host, lan):
    assert host.run(f"ip netns exec lan ping -c 1 -W 2 {HOST}").rc == 0


def test_new_ssh_connections_are_rate_limited(host, lan):
    host.run("nft flush set inet onprem_mlops ssh_flood_v4")
    results = [tcp_probe(host, "lan", ADMIN_HIGH, HOST, 22, timeout=1) for _ in range(12)]
    # burst 5 at 6/minute: the first ones pass, then the source is dropped.
    assert results[:5] == ["open"] * 5, results
    assert "filtered" in results[5:], results
    host.run("nft flush set inet onprem_mlops ssh_flood_v4")


def test_dropped_packets_are_counted(host, lan):
    before = _policy_drops(host)
    tcp_probe(host, "lan", ADMIN, HOST, 8080, timeout=1)
    assert _policy_drops(host) > before


def _policy_drops(host) -> int:
    table = json.loads(host.check_output("nft -j list chain inet onprem_mlops input"))["nftables"]
    for entry in table:
        rule = entry.get("rule")
        if rule and rule.get("comment") == "dropped by policy":
            return next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    raise AssertionError("no policy counter")


def test_a_vanished_table_is_loaded_again(host, converge_with):
    host.check_output("nft delete table inet onprem_mlops")
    run = converge_with()
    assert run.returncode == 0, run.output[-2000:]
    assert run.recap["changed"] == 1, run.recap
    host.check_output("nft list table inet onprem_mlops")
