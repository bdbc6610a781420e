"""Every role is complete: README, argument specs that match its defaults, a Molecule scenario.

The argument specs are what Ansible validates role input against, so a default that is not
declared there (or declared with another value) is drift that this test stops.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())
# Roles that only work together are tested together: the cluster needs them at once.
SHARED_SCENARIOS = {
    "slurm_common": "slurm",
    "slurm_controller": "slurm",
    "slurm_compute": "slurm",
    "slurm_dbd": "slurm",
    "monitoring_agent": "monitoring",
    "monitoring_server": "monitoring",
}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def test_roles_exist():
    assert ROLES, "no roles found"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_role_has_docs_specs_and_scenario(role: Path):
    for rel in ("README.md", "meta/main.yml", "meta/argument_specs.yml", "defaults/main.yml"):
        assert (role / rel).is_file(), f"{role.name}: {rel} missing"
    scenarios = [p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml")]
    scenario = SHARED_SCENARIOS.get(role.name, role.name)
    assert scenario in scenarios, f"{role.name}: no molecule/{scenario}/ scenario"
    if scenario != role.name:
        converge = (ROOT / "molecule" / scenario / "converge.yml").read_text()
        played = [converge, *(
            (ROOT / "molecule" / scenario / m).resolve().read_text()
            for m in re.findall(r"import_playbook:\s*(\S+)", converge)
        )]  # fmt: skip
        assert any(re.search(rf"\b{role.name}\b", text) for text in played), (
            f"{role.name}: molecule/{scenario}/converge.yml does not run it"
        )


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_match_argument_specs(role: Path):
    defaults = load(role / "defaults" / "main.yml")
    options = load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(options), "defaults/main.yml and argument_specs differ"
    for name, spec in options.items():
        assert name.startswith(f"{role.name}_"), f"{name}: not prefixed with {role.name}_"
        assert spec.get("description"), f"{name}: no description"
        if "default" in spec:
            assert spec["default"] == defaults[name], f"{name}: default differs from defaults/"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_readme_documents_every_variable(role: Path):
    readme = (role / "README.md").read_text()
    missing = [name for name in load(role / "defaults" / "main.yml") if f"`{name}`" not in readme]
    assert not missing, f"{role.name}/README.md does not document {missing}"
