"""The Molecule scenarios that build or read the control node's wheelhouses, one after another
on one worker (see scenarios.py)."""

from __future__ import annotations

import pytest
from scenarios import WHEELHOUSE_USERS, run_scenario

pytestmark = pytest.mark.molecule


@pytest.mark.parametrize("scenario", WHEELHOUSE_USERS)
def test_molecule_scenario(scenario: str):
    run_scenario(scenario)
