"""Decisions of the container_runtime role (filter plugin onprem.mlops.container_runtime_*)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.onprem.mlops.plugins.filter import mlstack_container as m

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("setting", "gpu", "expected"),
    [
        ("auto", True, True),
        ("auto", False, False),
        (True, False, True),
        ("true", False, True),
        (False, True, False),
        ("no", True, False),
    ],
)
def test_want_toolkit(setting, gpu, expected):
    assert m.want_toolkit(setting, gpu) is expected


def test_want_toolkit_rejects_other_values():
    with pytest.raises(ValueError, match="auto, true or false"):
        m.want_toolkit("maybe", True)


def test_daemon_config_without_toolkit():
    config = m.daemon_config("100m", 3, True)
    assert config == {
        "log-driver": "json-file",
        "log-opts": {"max-size": "100m", "max-file": "3"},
        "live-restore": True,
    }
    json.dumps(config)  # serialisable as daemon.json


def test_daemon_config_with_toolkit_and_data_root():
    config = m.daemon_config("50m", "5", False, "/srv/docker", True)
    assert config["runtimes"] == {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}
    assert config["features"] == {"cdi": True}
    assert config["data-root"] == "/srv/docker"
    assert config["log-opts"]["max-file"] == "5"
    assert config["live-restore"] is False


def test_daemon_config_extra_merges_recursively():
    config = m.daemon_config(
        "100m",
        3,
        True,
        toolkit=True,
        extra={
            "log-opts": {"compress": "true"},
            "default-runtime": "nvidia",
            "live-restore": False,
        },
    )
    assert config["log-opts"] == {"max-size": "100m", "max-file": "3", "compress": "true"}
    assert config["default-runtime"] == "nvidia"
    assert config["live-restore"] is False
    assert "nvidia" in config["runtimes"]


def test_missing_debs():
    files = [
        "/srv/debs/libnvidia-container1_1.17.8-1_amd64.deb",
        "/srv/debs/libnvidia-container-tools_1.17.8-1_amd64.deb",
        "/srv/debs/nvidia-container-toolkit_1.17.8-1_amd64.deb",
        "/srv/debs/README",
    ]
    assert m.missing_debs(files) == ["nvidia-container-toolkit-base"]
    assert m.missing_debs([]) == list(m.TOOLKIT_DEBS)
    assert m.missing_debs([*files, "nvidia-container-toolkit-base_1.17.8-1_amd64.deb"]) == []


def test_filters_are_registered():
    assert set(m.FilterModule().filters()) == {
        "container_runtime_want_toolkit",
        "container_runtime_daemon_config",
        "container_runtime_missing_debs",
    }
