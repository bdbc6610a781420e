"""Shared helpers for the test suite."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Importing ansible-core replaces sys.intern with a patch object (so that str subclasses can
# be interned); torch._dynamo, imported later in the same process by the smoke-training
# tests, refuses that object ("substitute_in_graph expects a function"). Unit tests that
# import the collection's plugins at module level would make those tests depend on the order
# xdist happens to give them, so every test runs with the interpreter's own sys.intern.
_PLAIN_INTERN = sys.intern

# The project's collection, importable as ansible_collections.onprem.mlops next to the
# community collections of the `ansible` package (both are namespace packages): unit tests
# import its plugins directly.
sys.path.insert(0, str(ROOT / "collections"))
# The Molecule runner's helpers (make test orders the scenarios with them).
sys.path.insert(0, str(ROOT / "tests" / "molecule"))
from scenarios import work_unit  # noqa: E402


def unit_of_work(nodeid: str) -> tuple[int, str]:
    """Where a test starts in make test (lower: earlier) and the unit of work it belongs to.

    Each Molecule scenario is a unit (the wheelhouse ones together, see
    tests/molecule/scenarios.py), each other test file one unit (its module fixtures, such as
    a trained smoke model, are set up once). Scenarios first, longest first, then the quality
    checks (ansible-lint over the whole tree is the longest file), then the other files.
    """
    path, _, name = nodeid.partition("::")
    scenario = re.fullmatch(r"test_molecule_scenario\[(\w+)\]", name)
    if path.startswith("tests/molecule/") and scenario:
        return work_unit(scenario.group(1))
    return (500 if path.startswith("tests/quality/") else 1000), path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the units in their order (stable: files keep the order they were collected in)."""
    items.sort(key=lambda item: unit_of_work(item.nodeid)[0])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``pytest -n 2 --dist loadscope --no-loadscope-reorder`` (make test): the scope of a test
    is its unit of work. xdist hands the next unit, in the order above, to whichever worker
    is free, so that both end at about the same time. (``--dist loadgroup`` with marks would
    say the same, but xdist 3.8 cannot rename the nodes of pytest 9 to group them.)
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitsOfWork(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of_work(nodeid)[1]

        def _reschedule(self, node: Any) -> None:
            # xdist tops a worker up while it has up to two tests pending; a worker with the
            # wheelhouse chain would so queue two more scenarios behind half an hour of work.
            # One: a worker holds its last test until it knows the next (or is shut down).
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
            elif self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    return UnitsOfWork(config, log)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def _restore_plain_intern() -> None:
    if sys.intern is not _PLAIN_INTERN:
        sys.intern = _PLAIN_INTERN


@pytest.fixture(scope="session", autouse=True)
def _plain_sys_intern_for_the_session() -> Iterator[None]:
    """Undo the patch of test modules that imported ansible while being collected: this runs
    before every module- or class-scoped fixture (one of which trains the smoke model)."""
    _restore_plain_intern()
    yield


@pytest.fixture(autouse=True)
def _plain_sys_intern() -> Iterator[None]:
    """Undo the patch of a test that imported ansible lazily, before the next test's fixtures."""
    _restore_plain_intern()
    yield
    _restore_plain_intern()
