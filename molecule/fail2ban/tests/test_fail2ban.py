"""fail2ban bans real attackers: failed SSH logins and nginx 401s from a client namespace."""

import time

import pytest
from conftest import client_netns, remove_netns, tcp_probe

HOST, ATTACKER, WEB_ATTACKER = "10.97.0.1", "10.97.0.2", "10.97.0.3"
# fail2ban_connection_source of the scenario: where Ansible (and, behind NAT, every admin)
# comes from.
GATEWAY = "10.97.0.4"


@pytest.fixture(scope="module")
def net(host):
    client_netns(host, "attack", HOST, [ATTACKER, WEB_ATTACKER])
    # A rerun of verify starts and ends without bans from the last one.
    host.check_output("fail2ban-client unban --all")
    yield
    host.check_output("fail2ban-client unban --all")
    remove_netns(host, "attack")


def banned(host, jail: str) -> str:
    return host.check_output(f"fail2ban-client get {jail} banip")


def wait_until_banned(host, jail: str, address: str, seconds: int = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if address in banned(host, jail):
            return
        time.sleep(1)
    raise AssertionError(
        f"{address} not banned by {jail}: {host.check_output(f'fail2ban-client status {jail}')}"
    )


def wait_until_quiet(host, jail: str, quiet_s: float = 3, seconds: int = 60) -> None:
    """Until fail2ban has handled every line an attack wrote: no new failure for quiet_s.

    Failures of the last attempts are still being read (and, for a source banned before,
    counted twice by fail2ban's observer) when the ban starts; handled after an unban, they
    ban the source again at once.
    """
    count = f"grep -c '\\[{jail}\\] Found' /var/log/fail2ban.log || true"
    deadline = time.monotonic() + seconds
    last, quiet_since = host.check_output(count), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = host.check_output(count)
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
    raise AssertionError(f"{jail} still finds failures after {seconds} s")


def test_configuration(host):
    status = host.check_output("fail2ban-client status")
    assert "sshd" in status and "onprem-mlops-nginx-auth" in status
    assert host.check_output("fail2ban-client get sshd maxretry") == "3"
    ignored = host.check_output("fail2ban-client get sshd ignoreip")
    assert "192.0.2.0/24" in ignored and GATEWAY in ignored
    assert host.service("fail2ban").is_enabled


def test_failed_ssh_logins_get_the_source_banned(host, net):
    assert tcp_probe(host, "attack", ATTACKER, HOST, 22) == "open"
    for _ in range(4):
        host.run(
            # A connection open when the ban starts hangs: timeout ends it.
            f"timeout 15 ip netns exec attack ssh -b {ATTACKER} -o BatchMode=yes "
            f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 "
            f"-o ServerAliveInterval=2 -o ServerAliveCountMax=2 intruder@{HOST} true"
        )
    wait_until_banned(host, "sshd", ATTACKER)
    wait_until_quiet(host, "sshd")
    # The ban is an nftables rule in fail2ban's own table that rejects the source.
    assert tcp_probe(host, "attack", ATTACKER, HOST, 22) != "open"
    assert tcp_probe(host, "attack", WEB_ATTACKER, HOST, 22) == "open"
    host.check_output(f"fail2ban-client set sshd unbanip {ATTACKER}")
    assert tcp_probe(host, "attack", ATTACKER, HOST, 22) == "open"


def log_line(address: str, status: int) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    return (
        f'{address} - admin [{stamp}] "GET /api/2.0/mlflow/experiments/search HTTP/2.0" '
        f'{status} 179 "-" "python-requests/2.32"'
    )


def test_the_nginx_filter_matches_401_only(host):
    lines = "\n".join([log_line(WEB_ATTACKER, 401), log_line(WEB_ATTACKER, 200)])
    out = host.check_output(
        "printf '%%s\\n' %s > /root/sample.log && fail2ban-regex /root/sample.log "
        "/etc/fail2ban/filter.d/onprem-mlops-nginx-auth.conf",
        lines,
    )
    assert "Failregex: 1 total" in out, out


def test_repeated_401s_get_the_source_banned(host, net):
    lines = "\n".join(log_line(WEB_ATTACKER, 401) for _ in range(6))
    host.check_output("printf '%%s\\n' %s >> /var/log/nginx/access.log", lines)
    wait_until_banned(host, "onprem-mlops-nginx-auth", WEB_ATTACKER)
    assert "Match without a timestamp" not in host.file("/var/log/fail2ban.log").content_string
    host.check_output(f"fail2ban-client set onprem-mlops-nginx-auth unbanip {WEB_ATTACKER}")


def test_the_address_ansible_connects_from_is_never_banned(host, net):
    """Behind NAT every admin arrives from one address: banning it locks everybody out."""
    lines = "\n".join(log_line(a, 401) for _ in range(8) for a in (GATEWAY, WEB_ATTACKER))
    host.check_output("printf '%%s\\n' %s >> /var/log/nginx/access.log", lines)
    wait_until_banned(host, "onprem-mlops-nginx-auth", WEB_ATTACKER)
    assert GATEWAY not in banned(host, "onprem-mlops-nginx-auth")
    assert f"Ignore {GATEWAY} by ip" in host.file("/var/log/fail2ban.log").content_string
    host.check_output(f"fail2ban-client set onprem-mlops-nginx-auth unbanip {WEB_ATTACKER}")
