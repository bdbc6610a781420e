"""What the gitlab_runner role decides about a runner's tags, as a pure function.

Filters (``onprem.mlops.<name>``):

- ``gitlab_runner_tags``: a host's assessment (``ansible_facts.onprem_assessment``), whether
  to derive tags from it, and the user's extra tags -> ``{tags, gpus, problems}``: the tags
  (``onprem-mlops``; on a host whose GPUs NVML sees: ``gpu``, ``gpu-<model>`` per model and
  ``cuda-<major.minor>`` of the driver), the number of GPUs, and what is wrong with the
  request (a tag GitLab refuses, a GPU tag on a host without a GPU).

Documentation for ansible-doc: the .yml files of the same names next to this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.onprem.mlops.plugins.filter.slurm import slurm_gpu_type

BASE_TAG = "onprem-mlops"
# GitLab splits tag lists at commas and strips white space; it stores up to 255 characters.
TAG_RE = re.compile(r"^[^,\s](?:[^,]{0,253}[^,\s])?$")
GPU_TAG_RE = re.compile(r"^(gpu|gpu-.+|cuda-.+)$", re.IGNORECASE)


def _cuda(version: Any) -> str | None:
    """The assessment's ``nvml.cuda_driver_version`` (``"12.4"``) as major.minor."""
    match = re.match(r"^(\d+)\.(\d+)", str(version or ""))
    return f"{match.group(1)}.{match.group(2)}" if match else None


def gitlab_runner_tags(
    assessment: Any, from_assessment: bool = True, extra_tags: Sequence[Any] | None = None
) -> dict[str, Any]:
    """The runner's tags and the problems of the request (see the module docstring)."""
    if assessment is not None and not isinstance(assessment, Mapping):
        raise AnsibleFilterError("gitlab_runner_tags expects the host's assessment (a mapping)")
    if isinstance(extra_tags, (str, bytes)) or not isinstance(extra_tags, (Sequence, type(None))):
        raise AnsibleFilterError("gitlab_runner_extra_tags must be a list of strings")
    doc = assessment or {}
    gpus = [g for g in doc.get("gpus") or [] if isinstance(g, Mapping)]
    tags = [BASE_TAG]
    if from_assessment and gpus:
        tags.append("gpu")
        tags += [f"gpu-{slurm_gpu_type(g.get('name')).replace('_', '-')}" for g in gpus]
        cuda = _cuda((doc.get("nvml") or {}).get("cuda_driver_version"))
        if cuda:
            tags.append(f"cuda-{cuda}")
    problems = []
    for tag in extra_tags or []:
        if not isinstance(tag, str) or not TAG_RE.match(tag):
            problems.append(
                f"gitlab_runner_extra_tags: {tag!r} is not a GitLab tag (no commas, no white "
                "space at either end, at most 255 characters)"
            )
        elif GPU_TAG_RE.match(tag) and not gpus:
            problems.append(
                f"gitlab_runner_extra_tags: {tag!r} is a GPU tag, but the phase-1 assessment "
                "of this host shows no GPU that NVML can see (install the driver with phase 3, "
                "or drop the tag): GPU jobs would land on a host that cannot run them"
            )
        else:
            tags.append(tag)
    unique = list(dict.fromkeys(tags))
    return {"tags": unique, "gpus": len(gpus), "problems": problems}


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"gitlab_runner_tags": gitlab_runner_tags}
