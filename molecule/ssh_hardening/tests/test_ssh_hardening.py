"""sshd after the role: its settings, who gets in, and what ssh-audit says from outside."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

KEY = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "id_ed25519"
CONTAINER = f"onprem-molecule-{os.environ['MOLECULE_SCENARIO_NAME']}"
SSH = (
    "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    " -o ConnectTimeout=5"
)


@pytest.fixture(scope="module")
def client_key(host):
    """The test key inside the container, for the ssh client there."""
    path = "/root/test_id_ed25519"
    host.run("install -m 600 /dev/null %s", path)
    assert host.run(f"cat > {path} <<'EOF'\n" + KEY.read_text() + "EOF").rc == 0
    return path


def sshd(host) -> dict[str, str]:
    return dict(
        line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line
    )


def test_configuration_file(host):
    config = host.file("/etc/ssh/sshd_config")
    assert config.mode == 0o600 and config.user == "root"
    # Our settings come before the Include, so drop-ins cannot override them.
    text = config.content_string
    assert text.index("PasswordAuthentication no") < text.index("Include /etc/ssh/sshd_config.d/")


def test_effective_settings(host):
    settings = sshd(host)
    # OpenSSH 9.2 knows the hybrid under both names.
    assert settings["kexalgorithms"] == "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com"
    assert settings["hostkeyalgorithms"].split(",")[0] == "ssh-ed25519"
    assert "rsa-sha2-512" in settings["hostkeyalgorithms"]  # the 3072-bit RSA key is offered
    assert "chacha20-poly1305@openssh.com" not in settings["ciphers"]
    assert settings["macs"].split(",") == [
        "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com"
    ]  # fmt: skip
    for key, value in {
        "passwordauthentication": "no", "permitrootlogin": "no", "maxauthtries": "3",
        "x11forwarding": "no", "allowagentforwarding": "no", "allowtcpforwarding": "local",
        "loglevel": "VERBOSE", "allowgroups": "mlops-admins", "clientaliveinterval": "300",
        "clientalivecountmax": "2", "maxsessions": "2", "authenticationmethods": "publickey",
    }.items():  # fmt: skip
        assert settings[key] == value, key


def test_banner_is_the_text_and_one_line_feed(host):
    """Shown by ssh clients as it is: a stray backslash-n was once printed to every user."""
    banner = host.file("/etc/ssh/sshd-banner")
    assert banner.mode == 0o644
    text = banner.content_string
    assert text.startswith("Authorised access only. Activity on this system is logged")
    assert text.endswith("prosecuted.\n") and text.count("\n") == 1
    assert "\\n" not in text
    assert sshd(host)["banner"] == "/etc/ssh/sshd-banner"


def test_drop_in_cannot_reenable_passwords(host):
    host.run("echo 'PasswordAuthentication yes' > /etc/ssh/sshd_config.d/50-cloud-init.conf")
    try:
        assert sshd(host)["passwordauthentication"] == "no"
    finally:
        host.run("rm -f /etc/ssh/sshd_config.d/50-cloud-init.conf")


def test_alice_logs_in_with_her_key(host, client_key):
    result = host.run(f"{SSH} -i {client_key} alice@127.0.0.1 id -un")
    assert result.rc == 0 and result.stdout.strip() == "alice", result.stderr


def test_passwords_and_root_and_other_users_are_refused(host, client_key):
    password = host.run(
        f"{SSH} -o BatchMode=no -o PreferredAuthentications=password"
        " -o NumberOfPasswordPrompts=0 alice@127.0.0.1 true"
    )
    assert password.rc != 0 and "Permission denied (publickey)" in password.stderr
    # bob has the same key, but is not in an allowed group.
    host.run("install -d -m 700 -o bob /home/bob/.ssh")
    host.run(
        f"ssh-keygen -y -f {client_key} > /home/bob/.ssh/authorized_keys"
        " && chown bob /home/bob/.ssh/authorized_keys"
    )
    assert host.run(f"{SSH} -i {client_key} bob@127.0.0.1 true").rc != 0
    assert host.run(f"{SSH} -i {client_key} root@127.0.0.1 true").rc != 0
    log = host.check_output("journalctl -u ssh --no-pager -n 50")
    assert (
        "User bob from 127.0.0.1 not allowed because none of user's groups are listed in"
        " AllowGroups" in log
    )


def published_port() -> str:
    out = subprocess.run(
        ["docker", "port", CONTAINER, "22/tcp"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[0].rsplit(":", 1)[1]


def test_ssh_audit_finds_nothing_to_fix():
    """ssh-audit (PyPI) from the control node, through the port published on 127.0.0.1."""
    ssh_audit = shutil.which("ssh-audit")
    assert ssh_audit, "ssh-audit is not installed (requirements/dev.txt)"
    # The rate test is the firewall's business (it runs in the security scenario).
    run = subprocess.run(
        [ssh_audit, "-j", "--skip-rate-test", "-p", published_port(), "127.0.0.1"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    report = json.loads(run.stdout)
    problems = [
        (kind, algorithm["algorithm"], algorithm["notes"])
        for kind in ("kex", "key", "enc", "mac")
        for algorithm in report[kind]
        if algorithm.get("notes", {}).get("fail") or algorithm.get("notes", {}).get("warn")
    ]
    assert problems == [], problems
    assert report.get("recommendations", {}) == {}, report["recommendations"]
    assert report.get("cves", []) == []
    assert run.returncode == 0, run.stdout[-2000:]
