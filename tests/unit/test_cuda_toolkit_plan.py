"""Decisions of the cuda_toolkit role: versions per OS and source, driver compatibility."""

from __future__ import annotations

import pytest
from ansible_collections.onprem.mlops.plugins.filter import nvidia as nv


@pytest.mark.parametrize(
    ("os_id", "version", "cuda"),
    [("Debian", "12", "11.8"), ("Ubuntu", "22.04", "11.5"), ("Ubuntu", "24.04", "12.0")],
)
def test_distro_toolkit(os_id, version, cuda):
    plan = nv.cuda_toolkit_plan(os_id, version, "distro", cuda)
    assert plan["errors"] == []
    assert plan["packages"] == ["nvidia-cuda-toolkit"]
    assert plan["prefix"] == "/usr"
    assert plan["bin_dir"] == "/usr/bin"
    assert plan["lib_dir"] == ""
    assert plan["pin_version"] == f"{cuda}.*"
    assert "nvidia-cuda-toolkit" in plan["pin_packages"]


def test_distro_has_one_version():
    plan = nv.cuda_toolkit_plan("Debian", "12", "distro", "12.4")
    assert plan["errors"] == [
        "cuda_toolkit_version '12.4' does not exist for cuda_toolkit_source distro on "
        "debian 12. Allowed: 11.8."
    ]


def test_cuda_repo_layout():
    plan = nv.cuda_toolkit_plan("Ubuntu", "24.04", "cuda_repo", "12.4", "550")
    assert plan["errors"] == []
    assert plan["packages"] == ["cuda-toolkit-12-4"]
    assert plan["prefix"] == "/usr/local/cuda-12.4"
    assert plan["bin_dir"] == "/usr/local/cuda-12.4/bin"
    assert plan["lib_dir"] == "/usr/local/cuda-12.4/lib64"
    assert plan["pin_version"] == ""
    assert plan["cuda_repo"] == {"distro": "ubuntu2404"}


def test_cuda_repo_unknown_version():
    plan = nv.cuda_toolkit_plan("Debian", "12", "cuda_repo", "12.7")
    assert "cuda_toolkit_version '12.7' does not exist" in plan["errors"][0]
    assert "12.6, 12.8" in plan["errors"][0]


@pytest.mark.parametrize(
    ("cuda", "branch", "ok"),
    [
        ("11.8", "535", True),
        ("12.2", "535", True),
        ("12.4", "535", False),
        ("12.4", "550", True),
        ("12.8", "550", False),
        ("12.8", "570", True),
        ("13.0", "575", False),
        ("13.0", "580", True),
        ("12.4", "", True),  # no driver role in the play: nothing to compare
    ],
)
def test_driver_branch_compatibility(cuda, branch, ok):
    plan = nv.cuda_toolkit_plan("Ubuntu", "22.04", "cuda_repo", cuda, branch)
    assert (plan["errors"] == []) is ok
    if not ok:
        assert f"nvidia_driver_branch is {branch}" in plan["errors"][0]
        assert "Raise the driver branch or pick a CUDA version" in plan["errors"][0]


def test_compatible_versions_are_listed():
    plan = nv.cuda_toolkit_plan("Debian", "12", "cuda_repo", "12.8", "535")
    assert plan["errors"][0].endswith("11.8, 12.0, 12.1, 12.2.")


def test_unknown_source_and_os():
    plan = nv.cuda_toolkit_plan("Debian", "12", "conda", "11.8")
    assert plan["errors"] == [
        "cuda_toolkit_source 'conda' is not known. Allowed: distro, cuda_repo."
    ]
    plan = nv.cuda_toolkit_plan("Debian", "11", "distro", "11.8")
    assert "not supported on 'debian 11'" in plan["errors"][0]
