"""Every host: SSH, firewall, fail2ban, kernel, audit, updates, as the roles recorded them."""

from __future__ import annotations

import ipaddress
import json

import pytest

# Kernel parameters of the network namespace checked on every host (containers included).
NET_SYSCTLS = {
    "net.ipv4.conf.all.rp_filter": "1",
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.all.accept_source_route": "0",
    "net.ipv4.conf.all.log_martians": "1",
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv6.conf.all.accept_redirects": "0",
}
KERNEL_SYSCTLS = {
    "kernel.kptr_restrict": "2",
    "kernel.dmesg_restrict": "1",
    "kernel.unprivileged_bpf_disabled": "1",
    "fs.protected_symlinks": "1",
    "fs.suid_dumpable": "0",
    "kernel.yama.ptrace_scope": "1",
}


def sshd_settings(host) -> dict[str, str]:
    out = host.check_output("sshd -T")
    settings: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, value)
    return settings


def test_sshd_runs_with_the_recorded_settings(host, expect):
    ssh = expect["ssh_hardening_report"]
    assert host.service("ssh").is_running
    settings = sshd_settings(host)
    assert settings["port"] == str(ssh["port"])
    assert settings["passwordauthentication"] == ("yes" if ssh["password_authentication"] else "no")
    assert settings["permitrootlogin"] == ssh["permit_root_login"]
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["permitemptypasswords"] == "no"
    assert settings["kexalgorithms"].split(",") == ssh["kex"]
    assert settings["ciphers"].split(",") == ssh["ciphers"]
    assert settings["macs"].split(",") == ssh["macs"]
    assert int(settings["maxauthtries"]) <= 3
    assert settings["x11forwarding"] == "no"
    assert settings["loglevel"] == "VERBOSE"
    if ssh["allow_groups"]:
        assert settings["allowgroups"].split() == ssh["allow_groups"]


def test_firewall_denies_by_default_and_admits_the_recorded_sources(host, expect):
    fw = expect["firewall_report"]
    assert host.service("onprem-mlops-firewall").is_enabled
    ruleset = json.loads(host.check_output("nft -j list table inet onprem_mlops"))["nftables"]
    chains = [e["chain"] for e in ruleset if "chain" in e]
    assert [c["policy"] for c in chains if c["name"] == "input"] == ["drop"]
    sets = {e["set"]["name"]: e["set"] for e in ruleset if "set" in e}
    admitted = []
    for name in ("ssh_v4", "ssh_v6"):
        for element in sets.get(name, {}).get("elem", []):
            prefix = element.get("prefix") if isinstance(element, dict) else None
            admitted.append(f"{prefix['addr']}/{prefix['len']}" if prefix else str(element))
    wanted = [ipaddress.ip_network(n) for n in fw["ssh_allowed_networks"]]
    for network in wanted:
        if network.prefixlen == 0:
            continue  # from anywhere: a rule without a set
        assert any(
            network.subnet_of(ipaddress.ip_network(a))
            for a in admitted
            if ipaddress.ip_network(a).version == network.version
        ), (network, admitted)


def test_only_the_admitted_ports_listen_beyond_loopback(host, expect):
    fw = expect["firewall_report"]
    allowed = {int(fw["ssh_port"])} | {int(p) for s in fw["services"] for p in s["ports"]}
    exposed = set()
    for spec in host.socket.get_listening_sockets():
        proto, _, rest = spec.partition("://")
        if proto != "tcp":
            continue
        address, _, port = rest.rpartition(":")
        address = address.strip("[]")
        if address and ipaddress.ip_address(address).is_loopback:
            continue
        exposed.add(int(port))
    assert exposed <= allowed, f"listening beyond loopback: {sorted(exposed - allowed)}"


def test_fail2ban_watches_the_recorded_jails(host, expect):
    jails = expect["fail2ban_report"]["jails"]
    assert host.service("fail2ban").is_running
    status = host.check_output("fail2ban-client status")
    if any(j.startswith("sshd") for j in jails):
        assert "sshd" in status
    if any(j.startswith("nginx") for j in jails):
        assert "onprem-mlops-nginx-auth" in status


def test_network_kernel_parameters(host):
    for key, value in NET_SYSCTLS.items():
        assert host.check_output(f"sysctl -n {key}") == value, key


def test_kernel_parameters(host, in_container):
    if in_container:
        pytest.skip("kernel-wide parameters belong to the container's host")
    for key, value in KERNEL_SYSCTLS.items():
        assert host.check_output(f"sysctl -n {key}") == value, key


def test_audit_trail(host, in_container):
    rules = host.file("/etc/audit/rules.d/50-onprem-mlops.rules")
    assert rules.exists and rules.mode == 0o640
    for key in ("identity", "sudoers", "privileged", "modules", "time"):
        assert f"-k {key}" in rules.content_string
    if in_container:
        return  # the kernel's audit system belongs to the host
    assert host.service("auditd").is_running
    loaded = host.check_output("auditctl -l")
    assert "-w /etc/shadow -p wa -k identity" in loaded


def test_logins_are_locked_after_failures_and_passwords_are_strong(host):
    auth = host.file("/etc/pam.d/common-auth").content_string
    assert "pam_faillock.so preauth" in auth and "pam_faillock.so authfail" in auth
    assert "nullok" not in auth
    password = host.file("/etc/pam.d/common-password").content_string
    assert "pam_pwquality.so" in password
    assert "remember=" in password


def test_security_updates_are_automatic(host):
    config = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    assert host.package("unattended-upgrades").is_installed
