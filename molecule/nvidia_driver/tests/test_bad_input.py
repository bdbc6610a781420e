"""The nvidia_driver role on the control node's view: GPU-less skip and bad input.

Each test runs the converge playbook again (tag nvidia_driver) against the scenario's
container and reads the play recap: a skip changes nothing, bad input fails before any change.
"""

import pytest
from conftest import assert_fails_before_change

TAGS = ("--tags", "nvidia_driver")


@pytest.mark.parametrize("assess", [False, True], ids=["pci-scan", "assessment"])
def test_no_gpu_is_skipped(converge_with, assess):
    run = converge_with({"nvidia_driver_force": False, "converge_assess": assess}, *TAGS)
    output = run.output
    assert run.returncode == 0, output[-2000:]
    assert "no NVIDIA GPU found on the PCI bus: driver not installed" in output
    source = "the phase-1 assessment" if assess else "the PCI bus"
    assert f"(GPUs read from {source})" in output
    assert run.recap["changed"] == 0
    assert run.recap["failed"] == 0


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"nvidia_driver_source": "ppa"},
            r"nvidia_driver_source.*must be one of: distro, cuda_repo, local",
        ),
        (
            {"nvidia_driver_branch": "999"},
            r"nvidia_driver_branch '999' does not exist for nvidia_driver_source distro "
            r"on debian 12\. Allowed: 535\.",
        ),
        (
            {"nvidia_driver_version": "550.54.14"},
            r"nvidia_driver_version '550\.54\.14' is not a version of branch 535",
        ),
        (
            {"nvidia_driver_source": "local"},
            r"nvidia_driver_source local needs nvidia_driver_packages",
        ),
        (
            {"nvidia_driver_source": "local", "nvidia_driver_packages": ["nvidia-smi"]},
            r"nvidia_driver_local_packages_dir must be a directory",
        ),
        (
            {"nvidia_driver_module_options": {"NVreg X": 1}},
            r"nvidia_driver_module_options must map module parameter names",
        ),
    ],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars, *TAGS), expected)
