"""Testinfra checks of the nvidia_driver role, forced onto a GPU-less Debian 12 container.

What a container can show: the real Debian non-free packages installed and held, the apt pin,
the unattended-upgrades blacklist, the nouveau blacklist and module options as modprobe reads
them, DKMS registration and the persistence daemon's configuration. Loading the module,
nvidia-smi and reboots need a GPU host (see roles/nvidia_driver/README.md).
"""

import re

import pytest

DRIVER_PACKAGES = ["nvidia-kernel-dkms", "nvidia-smi", "libnvidia-ml1", "libcuda1"]


@pytest.mark.parametrize("name", [*DRIVER_PACKAGES, "nvidia-persistenced", "firmware-misc-nonfree"])
def test_packages_installed(host, name):
    assert host.package(name).is_installed


@pytest.mark.parametrize("name", DRIVER_PACKAGES)
def test_driver_packages_on_pinned_branch(host, name):
    assert host.package(name).version.startswith("535.")


def test_driver_packages_held(host):
    selections = {
        name.split(":")[0]: state
        for name, state in (
            line.split() for line in host.check_output("dpkg --get-selections").splitlines()
        )
    }
    for name in [*DRIVER_PACKAGES, "nvidia-persistenced", "libnvidia-cfg1", "nvidia-alternative"]:
        assert selections[name] == "hold", name
    # Not the driver's: firmware for every kind of device, left to normal upgrades.
    assert selections["firmware-misc-nonfree"] == "install"


def test_apt_pin_on_branch(host):
    pin = host.file("/etc/apt/preferences.d/onprem-mlops-nvidia-driver")
    assert pin.mode == 0o644
    assert pin.contains("^Pin: version 535\\.\\*$")
    assert pin.contains("^Pin-Priority: 1001$")
    policy = host.check_output("apt-cache policy nvidia-smi")
    assert re.search(r"\*\*\* 535\.\S+ 1001", policy), policy


def test_unattended_upgrades_blacklist(host):
    dump = host.check_output("apt-config dump Unattended-Upgrade::Package-Blacklist")
    patterns = re.findall(r'Unattended-Upgrade::Package-Blacklist:: "([^"]+)";', dump)
    assert patterns, dump

    # unattended-upgrades matches each entry with re.match against the package name.
    def blocked(name):
        return any(re.match(p, name) for p in patterns)

    for name in ["nvidia-smi", "libnvidia-ml1", "libcuda1", "nvidia-kernel-dkms"]:
        assert blocked(name), name
    for name in ["nvidia-container-toolkit", "libnvidia-container1", "nvidia-cuda-toolkit"]:
        assert not blocked(name), name


def test_nouveau_blacklisted(host):
    conf = host.file("/etc/modprobe.d/onprem-mlops-nouveau-blacklist.conf")
    assert conf.contains("^blacklist nouveau$")
    config = host.check_output("modprobe --showconfig")
    assert "blacklist nouveau" in config
    assert "options nouveau modeset=0" in config


def test_module_options(host):
    # Debian's DKMS module is called nvidia-current (modprobe spells it nvidia_current).
    config = host.check_output("modprobe --showconfig")
    assert "options nvidia_current NVreg_PreserveVideoMemoryAllocations=1" in config
    assert "options nvidia_current NVreg_TemporaryFilePath=/var/tmp" in config


def test_dkms_registered(host):
    assert re.search(r"nvidia-current/535\.\S+: added", host.check_output("dkms status"))


def test_persistenced_configured_and_enabled(host):
    dropin = host.file("/etc/systemd/system/nvidia-persistenced.service.d/onprem-mlops.conf")
    assert dropin.contains("--persistence-mode")
    exec_start = host.check_output("systemctl show -p ExecStart nvidia-persistenced")
    assert "--persistence-mode" in exec_start
    assert "--user nvpd" in exec_start
    assert host.service("nvidia-persistenced").is_enabled


def test_no_reboot_flag_in_container(host):
    assert not host.file("/run/reboot-required").exists
