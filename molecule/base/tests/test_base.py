"""Testinfra checks of the base role on the converged container."""

import pytest

CA_FILE = "/usr/local/share/ca-certificates/onprem-mlops/onprem-test-ca.crt"


def test_timezone(host):
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Europe/Berlin"
    assert host.run("date +%Z").stdout.strip() in {"CET", "CEST"}


def test_timesyncd_configured_and_enabled(host):
    assert host.package("systemd-timesyncd").is_installed
    conf = host.file("/etc/systemd/timesyncd.conf.d/50-onprem-mlops.conf")
    assert conf.contains("^NTP=ntp1.example.org ntp2.example.org$")
    assert host.service("systemd-timesyncd").is_enabled


def test_ca_certificate_trusted(host):
    assert host.file(CA_FILE).mode == 0o644
    # update-ca-certificates ran: the certificate is in the bundle that TLS clients read.
    cert_body = host.file(CA_FILE).content_string.split("-----")[2].strip().splitlines()[1]
    assert host.file("/etc/ssl/certs/ca-certificates.crt").contains(cert_body)
    assert host.file("/etc/ssl/certs/onprem-test-ca.pem").is_symlink


def test_apt_proxy_with_direct_mirror(host):
    dump = host.check_output("apt-config dump Acquire")
    assert 'Acquire::http::Proxy "http://127.0.0.1:3128";' in dump
    assert '"DIRECT"' in dump
    # apt still works through the proxy settings: the mirror is reached directly.
    assert host.run("apt-get -q update").rc == 0


def test_login_shell_proxy(host):
    out = host.check_output("bash -lc 'echo $https_proxy $no_proxy'")
    assert out.startswith("http://127.0.0.1:3128 localhost,127.0.0.1,::1")


def test_extra_apt_components(host):
    sources = host.file("/etc/apt/sources.list.d/onprem-mlops-components.sources")
    assert sources.contains("^Components: contrib non-free$")
    assert sources.contains("^Suites: bookworm bookworm-updates$")
    policy = host.check_output("apt-cache policy")
    assert "bookworm/non-free" in policy
    assert "bookworm/contrib" in policy


@pytest.mark.parametrize("name", ["acl", "curl", "jq", "pciutils", "sudo", "tzdata", "file"])
def test_packages(host, name):
    assert host.package(name).is_installed


def test_admin_group_sudo(host):
    assert host.group("mlops-admins").exists
    assert "mlops-admins" in host.user("alice").groups
    rule = host.file("/etc/sudoers.d/50-onprem-mlops-admins")
    assert rule.mode == 0o440
    assert host.run("visudo -c").rc == 0
    listing = host.check_output("sudo -l -U alice")
    assert "(ALL : ALL) ALL" in listing
    assert "NOPASSWD" not in listing


def test_journal_persistent(host):
    assert host.file("/var/log/journal").is_directory
    conf = host.file("/etc/systemd/journald.conf.d/50-onprem-mlops.conf")
    assert conf.contains("^Storage=persistent$")
    assert host.service("systemd-journald").is_running
    assert host.run("ls /var/log/journal/*/system.journal").rc == 0
