"""Port list filter (onprem.mlops.port_spec_problems) used by the firewall role's asserts."""

from __future__ import annotations

import pytest
from ansible_collections.onprem.mlops.plugins.filter import ports


@pytest.mark.parametrize("entry", [1, 22, "22", 65535, "6817-6818", "60001-63000", "5000-5000"])
def test_ports_and_ranges_are_accepted(entry: object) -> None:
    assert ports.port_spec_problems([entry]) == []


@pytest.mark.parametrize(
    "entry",
    [0, 70000, "65536", "9000-8000", "0-10", "1-70000", "22-", "-22", "a", "22,23", True, None],
)
def test_bad_entries_are_named(entry: object) -> None:
    assert ports.port_spec_problems([22, entry, "100-200"]) == [entry]


@pytest.mark.parametrize("value", ["22", 22, {"port": 22}, None])
def test_a_value_that_is_no_list_is_the_problem(value: object) -> None:
    assert ports.port_spec_problems(value) == [value]
