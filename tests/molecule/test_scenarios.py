"""Run every Molecule scenario (molecule/<name>/) with its full test sequence.

Sequence (from .config/molecule/config.yml): destroy, syntax, create, check, converge,
idempotence (second run changed=0), verify (Testinfra), destroy. The full output of each
scenario is kept in .cache/molecule-logs/<name>.log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
LOGS = ROOT / ".cache" / "molecule-logs"

pytestmark = pytest.mark.molecule


def test_scenarios_exist():
    assert "base" in SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str):
    assert shutil.which("docker"), "docker is not installed: run `make docker`"
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{scenario}.log"
    env = {**os.environ, "NO_COLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"}
    with log.open("w") as out:
        result = subprocess.run(
            ["molecule", "test", "-s", scenario],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
            timeout=1800,
        )
    text = log.read_text()
    assert result.returncode == 0, f"molecule test -s {scenario} failed ({log}):\n{text[-8000:]}"
    assert "idempotence: Executed: Successful" in text
    assert "verify: Executed: Successful" in text
