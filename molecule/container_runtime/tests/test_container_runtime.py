"""Testinfra checks of the container_runtime role (Debian's docker.io, no GPU)."""

import json

import pytest


def test_docker_installed_and_enabled(host):
    assert host.package("docker.io").is_installed
    assert host.service("docker").is_enabled


def test_daemon_json_rendered_whole(host):
    daemon = host.file("/etc/docker/daemon.json")
    assert daemon.user == "root"
    assert daemon.mode == 0o644
    config = json.loads(daemon.content_string)
    assert config == {
        "log-driver": "json-file",
        "log-opts": {"max-size": "50m", "max-file": "5"},
        "live-restore": True,
        "default-address-pools": [{"base": "172.30.0.0/16", "size": 24}],
    }


def test_no_nvidia_runtime_or_cdi_without_gpu(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert "runtimes" not in config
    assert not host.file("/etc/cdi/nvidia.yaml").exists
    assert not host.package("nvidia-container-toolkit").is_installed
    assert not host.file("/etc/apt/sources.list.d/nvidia-container-toolkit.sources").exists


def test_docker_group_membership_only_for_listed_users(host):
    assert "docker" in host.user("alice").groups
    members = host.group("docker").members if hasattr(host.group("docker"), "members") else None
    if members is not None:
        assert set(members) <= {"alice"}


def test_docker_running_or_reported(host):
    # dockerd may or may not start inside the test container; when it runs, it must use the
    # rendered configuration.
    if not host.service("docker").is_running:
        pytest.skip("dockerd did not start in this container (the role reported it)")
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True
