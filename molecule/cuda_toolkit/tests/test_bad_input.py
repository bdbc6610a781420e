"""cuda_toolkit from the control node: computed package list, disabled role, bad input."""

import pytest
from conftest import assert_fails_before_change

TAGS = ("--tags", "cuda_toolkit")


def test_debian_full_toolkit_is_nvidia_cuda_toolkit(converge_with):
    # Check mode only: the real install is 1.6 GB.
    run = converge_with({"cuda_toolkit_packages": []}, *TAGS, "--check")
    output = run.output
    assert run.returncode == 0, output[-2000:]
    assert "CUDA toolkit 11.8 from distro: nvidia-cuda-toolkit (CUDA_HOME /usr)" in output


def test_disabled_changes_nothing(converge_with):
    run = converge_with({"cuda_toolkit_enabled": False}, *TAGS)
    assert run.returncode == 0, run.output[-2000:]
    assert "cuda_toolkit_enabled is false" in run.output
    assert run.recap["changed"] == 0


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"cuda_toolkit_source": "conda"},
            r"cuda_toolkit_source.*must be one of: distro, cuda_repo",
        ),
        (
            {"cuda_toolkit_version": "12.4"},
            r"cuda_toolkit_version '12\.4' does not exist for cuda_toolkit_source distro "
            r"on debian 12\. Allowed: 11\.8\.",
        ),
        (
            {"cuda_toolkit_source": "cuda_repo", "cuda_toolkit_version": "12.8"},
            r"cuda_toolkit_version 12\.8 needs driver branch 570 or newer, but "
            r"nvidia_driver_branch is 535\..*11\.8, 12\.0, 12\.1, 12\.2\.",
        ),
        (
            {"cuda_toolkit_source": "cuda_repo"},
            r"cuda_toolkit_version '' does not exist for cuda_toolkit_source cuda_repo",
        ),
    ],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars, *TAGS), expected)
