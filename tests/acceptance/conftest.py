"""Final acceptance of the platform (phase 7), run by playbooks/phase7_security.yml.

The playbook runs ``pytest tests/acceptance --hosts=... --connection=ansible`` with a generated
inventory, ONPREM_ACCEPTANCE_DIR/inventory.yml: per host its connection settings and, as the
variable ``onprem_acceptance``, what it must look like: its groups and what the hardening roles
recorded (their *_report facts). Each test runs on
every host; tests for a group the host is not in are skipped for that host.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml


def _expectations() -> dict[str, Any]:
    directory = os.environ.get("ONPREM_ACCEPTANCE_DIR")
    if not directory:
        raise pytest.UsageError(
            "ONPREM_ACCEPTANCE_DIR is not set: the acceptance tests are run by "
            "playbooks/phase7_security.yml (tag acceptance), which writes the expectations"
        )
    inventory = yaml.safe_load((Path(directory) / "inventory.yml").read_text())
    return {
        name: hostvars["onprem_acceptance"] for name, hostvars in inventory["all"]["hosts"].items()
    }


EXPECTATIONS = _expectations()


@pytest.fixture
def expect(host) -> dict[str, Any]:
    """What this host must look like (the inventory's onprem_acceptance)."""
    name = host.backend.host
    assert name in EXPECTATIONS, f"{name}: no expectations written by the playbook"
    return EXPECTATIONS[name]


@pytest.fixture
def in_container(expect) -> bool:
    return bool(expect.get("os_hardening_report", {}).get("container"))


def needs_group(expect: dict[str, Any], group: str) -> None:
    if group not in expect.get("group_names", []):
        pytest.skip(f"not in {group}")
