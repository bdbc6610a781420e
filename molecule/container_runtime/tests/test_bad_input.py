"""Bad input stops the container_runtime role before any change; disabled means no change."""

import os

import pytest
from conftest import assert_fails_before_change

SCENARIO = os.environ["MOLECULE_SCENARIO_DIRECTORY"]


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"container_runtime_docker_source": "snap"},
            r"container_runtime_docker_source 'snap' \(allowed: distro, docker_repo\)",
        ),
        (
            {"container_runtime_nvidia_toolkit": "maybe"},
            r"container_runtime_nvidia_toolkit 'maybe' \(allowed: auto, true, false\)",
        ),
        (
            {"container_runtime_nvidia_toolkit_source": "ppa"},
            r"container_runtime_nvidia_toolkit_source 'ppa' \(allowed: nvidia_repo, local\)",
        ),
        (
            {
                "container_runtime_nvidia_toolkit": True,
                "container_runtime_nvidia_toolkit_source": "local",
            },
            r"container_runtime_nvidia_toolkit_source 'local' needs "
            r"container_runtime_nvidia_local_dir"
            r".*missing: libnvidia-container1, .*Allowed sources: nvidia_repo or local",
        ),
        (
            {
                "container_runtime_nvidia_toolkit": True,
                "container_runtime_nvidia_toolkit_source": "local",
                "container_runtime_nvidia_local_dir": SCENARIO,
            },
            r"missing: libnvidia-container1, libnvidia-container-tools, "
            r"nvidia-container-toolkit-base, nvidia-container-toolkit",
        ),
        (
            {"container_runtime_log_max_size": "huge"},
            r"container_runtime_log_max_size 'huge' must be a size",
        ),
        (
            {"container_runtime_docker_users": ["alice", "mallory"]},
            r"container_runtime_docker_users \['mallory'\] do not exist",
        ),
    ],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars), expected)


def test_disabled_role_changes_nothing_and_says_so(converge_with):
    run = converge_with(
        {"container_runtime_enabled": False, "container_runtime_log_max_size": "1m"}
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert "container_runtime_enabled is false" in run.stdout
    assert run.recap["changed"] == 0
