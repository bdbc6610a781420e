"""Jinja tests about the managed host, shared by every role of the project.

``ansible_facts is onprem.mlops.container``: the host is a container (Docker, Podman, LXC,
systemd-nspawn). Roles use it to skip what a container cannot do (start timesyncd, load
kernel modules, set kernel sysctls, run auditd) with a visible message instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

CONTAINER_TYPES = frozenset(
    {"docker", "container", "containerd", "podman", "lxc", "openvz", "systemd-nspawn", "wsl"}
)

DOCUMENTATION_CONTAINER = """
name: container
short_description: the host described by these facts is a container
description:
  - True when C(virtualization_role) is C(guest) and C(virtualization_type) is a container
    technology (docker, podman, lxc, systemd-nspawn, ...).
positional: _input
options:
  _input:
    description: The host's C(ansible_facts).
    type: dict
    required: true
"""


def container(facts: Mapping[str, Any]) -> bool:
    """Whether ``facts`` (a host's ``ansible_facts``) describe a container."""
    return (
        facts.get("virtualization_role") == "guest"
        and facts.get("virtualization_type") in CONTAINER_TYPES
    )


class TestModule:
    """Ansible test plugin entry point."""

    def tests(self) -> dict[str, Callable[..., bool]]:
        return {"container": container}
