"""The gitlab_runner role's tags (onprem.mlops.gitlab_runner_tags) from real assessment
documents: those the assessment makes of the hand-written host trees in tests/fixtures/hwassess
(NVML faked, see its README)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.onprem.mlops.plugins.filter.gitlab_runner import gitlab_runner_tags

from onprem_mlops.hwassess import assess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES / "hwassess"))
from fake_nvml import scenario  # noqa: E402


def assessed(tree: str) -> dict:
    return assess(**scenario(FIXTURES / "hwassess" / tree))


def test_an_h100_host_gets_gpu_model_and_cuda_tags():
    result = gitlab_runner_tags(assessed("healthy-h100"), True, ["nightly"])
    # NVML: "NVIDIA H100 PCIe", CUDA driver version 12040.
    assert result == {
        "tags": ["onprem-mlops", "gpu", "gpu-h100-pcie", "cuda-12.4", "nightly"],
        "gpus": 1,
        "problems": [],
    }


def test_a_host_without_gpu_gets_only_the_platform_tag():
    assert gitlab_runner_tags(assessed("no-gpu")) == {
        "tags": ["onprem-mlops"], "gpus": 0, "problems": [],
    }  # fmt: skip


def test_a_gpu_the_driver_does_not_drive_is_no_gpu_for_jobs():
    # gpu-no-driver: an NVIDIA card on the PCI bus, no driver: NVML sees nothing.
    doc = assessed("gpu-no-driver")
    assert doc["pci_nvidia_devices"], "the fixture has a card on the bus"
    result = gitlab_runner_tags(doc, True, ["gpu"])
    assert result["tags"] == ["onprem-mlops"]
    assert len(result["problems"]) == 1
    assert "'gpu' is a GPU tag" in result["problems"][0]
    assert "gitlab_runner_extra_tags" in result["problems"][0]


@pytest.mark.parametrize("tag", ["gpu", "GPU", "gpu-a100", "cuda-12.2"])
def test_gpu_tags_on_a_host_without_gpu_are_refused(tag):
    result = gitlab_runner_tags({"gpus": []}, True, [tag])
    assert result["tags"] == ["onprem-mlops"]
    assert result["problems"] and repr(tag) in result["problems"][0]


@pytest.mark.parametrize("tag", ["a,b", " lead", "trail ", "", "x" * 256, 3])
def test_tags_gitlab_refuses_are_named(tag):
    result = gitlab_runner_tags({"gpus": []}, True, [tag])
    assert result["problems"] == [
        f"gitlab_runner_extra_tags: {tag!r} is not a GitLab tag (no commas, no white space at "
        "either end, at most 255 characters)"
    ]


def test_tags_from_the_assessment_can_be_switched_off_and_duplicates_go():
    doc = {
        "gpus": [{"name": "NVIDIA H200"}, {"name": "NVIDIA H200"}],
        "nvml": {"cuda_driver_version": "12.8"},
    }
    assert gitlab_runner_tags(doc, True, ["gpu"])["tags"] == [
        "onprem-mlops", "gpu", "gpu-h200", "cuda-12.8",
    ]  # fmt: skip
    assert gitlab_runner_tags(doc, False, ["gpu"]) == {
        "tags": ["onprem-mlops", "gpu"], "gpus": 2, "problems": [],
    }  # fmt: skip


def test_wrong_input_types_are_errors():
    with pytest.raises(AnsibleFilterError, match="assessment"):
        gitlab_runner_tags(["not", "a", "mapping"])
    with pytest.raises(AnsibleFilterError, match="gitlab_runner_extra_tags must be a list"):
        gitlab_runner_tags({}, True, "gpu")
