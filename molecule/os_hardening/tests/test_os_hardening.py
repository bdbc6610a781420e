"""The OS after os_hardening: kernel parameters, modules, logins, sudo, audit, updates."""

import pytest

CAROL = "Old-Passw0rd-For-Carol"


def test_network_kernel_parameters_are_set_in_the_container(host):
    for key, value in {
        "net.ipv4.conf.all.rp_filter": "1",
        "net.ipv4.conf.all.accept_redirects": "0",  # after forwarding was switched off
        "net.ipv4.conf.all.forwarding": "0",
        "net.ipv4.conf.all.log_martians": "1",
        "net.ipv6.conf.all.accept_ra": "0",
        "net.ipv4.tcp_keepalive_time": "600",  # os_hardening_sysctl_extra
    }.items():
        assert host.check_output(f"sysctl -n {key}") == value, key


def test_kernel_parameters_are_persisted_for_the_host(host):
    conf = host.file("/etc/sysctl.d/90-onprem-mlops-hardening.conf").content_string
    for line in ("kernel.kptr_restrict = 2", "fs.suid_dumpable = 0", "net.ipv4.ip_forward = 0",
                 "kernel.yama.ptrace_scope = 1"):  # fmt: skip
        assert line in conf
    assert "kernel.panic_on_oops" not in conf  # the ML-host exception
    assert "kernel.modules_disabled" not in conf


@pytest.mark.parametrize("module", ["usb-storage", "firewire-core", "dccp", "cramfs"])
def test_rare_modules_cannot_be_loaded(host, module):
    assert "install /bin/false" in host.check_output(f"modprobe -n -v {module} 2>&1 || true")


def test_logins_defaults_and_banners(host):
    defs = host.file("/etc/login.defs").content_string
    for line in ("PASS_MAX_DAYS\t\t365", "UMASK\t\t\t027", "ENCRYPT_METHOD\t\tYESCRYPT"):
        assert line in defs
    assert "Authorised access only" in host.file("/etc/issue.net").content_string
    # root's ageing is left alone by default (an expired root password stops root's cron jobs)
    assert "Maximum number of days between password change\t\t: 99999" in host.check_output(
        "chage -l root"
    )
    profile = host.file("/etc/profile.d/90-onprem-mlops-hardening.sh").content_string
    assert "TMOUT=600" in profile and "ulimit -c 0" in profile
    coredump = host.file("/etc/systemd/coredump.conf.d/90-onprem-mlops.conf").content_string
    assert "Storage=none" in coredump and "ProcessSizeMax=0" in coredump
    assert (
        "hard\tcore\t0"
        in host.file("/etc/security/limits.d/90-onprem-mlops-hardening.conf").content_string
    )


def test_weak_passwords_are_refused(host):
    weak = host.run("echo 'carol:password123' | chpasswd")
    assert weak.rc != 0
    strong = host.run("echo 'carol:Tr1cky-Enough-Passw0rd!' | chpasswd")
    assert strong.rc == 0, strong.stderr
    # password history: the previous one cannot come back
    again = host.run(f"echo 'carol:{CAROL}' | chpasswd")
    assert again.rc != 0


def test_accounts_lock_after_three_failures(host):
    host.run("faillock --user carol --reset")
    host.run("echo 'carol:Another-Passw0rd-2026!' | chpasswd")
    login = "echo %s | pamtester login carol authenticate"
    assert host.run(login, "Another-Passw0rd-2026!").rc == 0
    for _ in range(3):
        assert host.run(login, "wrong").rc != 0
    assert host.run(login, "Another-Passw0rd-2026!").rc != 0  # locked
    assert host.check_output("faillock --user carol").count(" SVC ") == 3  # one per failure
    host.run("faillock --user carol --reset")
    assert host.run(login, "Another-Passw0rd-2026!").rc == 0


def test_pam_stack(host):
    auth = host.file("/etc/pam.d/common-auth").content_string
    assert "nullok" not in auth
    assert (
        auth.index("pam_faillock.so preauth")
        < auth.index("pam_unix.so")
        < auth.index("pam_faillock.so authfail")
    )
    password = host.file("/etc/pam.d/common-password").content_string
    assert "rounds=8" in password and "remember=2" in password and "pam_pwquality.so" in password


def test_sudo_defaults(host):
    defaults = host.file("/etc/sudoers.d/00-onprem-mlops-defaults")
    assert defaults.mode == 0o440
    lines = defaults.content_string.splitlines()
    assert "Defaults\tuse_pty" in lines and "Defaults\tignore_dot" in lines
    assert not [
        line
        for line in lines
        if line.startswith("Defaults") and ("requiretty" in line or "noexec" in line)
    ]
    assert host.run("visudo -c").rc == 0
    assert oct(host.file("/etc/sudoers.d").mode) == "0o750"


def test_audit_rules_and_the_container_exception(host):
    rules = host.file("/etc/audit/rules.d/50-onprem-mlops.rules").content_string
    assert "-a always,exit -F path=/usr/bin/sudo -F perm=x" in rules
    assert "-w /etc/shadow -p wa -k identity" in rules
    assert "-w /srv/mlops/models -p wa -k models" in rules  # os_hardening_auditd_extra_rules
    assert "-e 2" not in rules
    assert host.service("auditd").is_enabled
    assert not host.service("auditd").is_running  # a container: the host's audit system


def test_updates_and_needrestart(host):
    config = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    assert (
        '"nvidia-";'
        in host.file("/etc/apt/apt.conf.d/52onprem-mlops-unattended-upgrades").content_string
    )
    assert (
        "$nrconf{restart} = 'l';"
        in host.file("/etc/needrestart/conf.d/90-onprem-mlops.conf").content_string
    )


def test_aide_configuration_is_valid(host):
    assert host.run("aide --config=/etc/aide/aide.conf --config-check").rc == 0
    assert "!/srv(/|$)" in host.file("/etc/aide/aide.conf.d/90_onprem_mlops").content_string


def test_home_directories_and_login_scripts_are_private(host):
    assert host.file("/home/carol").mode == 0o750
    assert host.file("/home/carol/.bashrc").mode == 0o640
    assert host.file("/etc/skel/.bashrc").mode == 0o640


def test_malware_scanner_runs_daily(host):
    assert host.package("chkrootkit").is_installed
    assert host.service("chkrootkit.timer").is_enabled
