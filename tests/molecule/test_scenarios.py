"""Every Molecule scenario that does not use the control node's wheelhouses (see scenarios.py)."""

from __future__ import annotations

import pytest
from scenarios import SCENARIOS, WHEELHOUSE_USERS, run_scenario

pytestmark = pytest.mark.molecule


def test_scenarios_exist():
    assert "base" in SCENARIOS
    assert set(WHEELHOUSE_USERS) <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in WHEELHOUSE_USERS])
def test_molecule_scenario(scenario: str):
    run_scenario(scenario)
