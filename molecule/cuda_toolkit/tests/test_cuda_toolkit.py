"""Testinfra checks of the cuda_toolkit role (Debian 11.8, CUDA runtime library only)."""

import re


def test_package_installed_and_held(host):
    pkg = host.package("libcudart11.0")
    assert pkg.is_installed
    assert pkg.version.startswith("11.8")
    selections = host.check_output("dpkg --get-selections libcudart11.0")
    assert selections.split()[-1] == "hold"


def test_version_pinned(host):
    pin = host.file("/etc/apt/preferences.d/onprem-mlops-cuda-toolkit")
    assert pin.contains("^Pin: version 11\\.8\\.\\*$")
    assert pin.contains("^Package: .*nvidia-cuda-toolkit.*libcudart11.0")
    policy = host.check_output("apt-cache policy libcudart11.0")
    assert re.search(r"\*\*\* 11\.8\S+ 1001", policy), policy


def test_profile_environment(host):
    profile = host.file("/etc/profile.d/cuda.sh")
    assert profile.mode == 0o644
    out = host.check_output("bash -lc 'echo $CUDA_HOME; echo $PATH'").splitlines()
    assert out[0] == "/usr"
    assert out[1].split(":").count("/usr/bin") == 1
    assert host.run("sh -n /etc/profile.d/cuda.sh").rc == 0
