"""Shared helpers for the test suite."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Work units for ``pytest -n 2 --dist loadgroup --no-loadscope-reorder`` (make test).

    Each Molecule scenario is a unit (the wheelhouse ones together, see
    tests/molecule/scenarios.py), each other test file one unit (its module fixtures, such as
    a trained smoke model, are set up once). The scenarios go first, longest first, then the
    files as collected: xdist hands the next unit to whichever worker is free, so short files
    fill the end. Without xdist the marks do nothing but reorder.
    """
    rank: dict[int, int] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        params = getattr(item, "callspec", None)
        scenario = params.params.get("scenario") if params else None
        if path.startswith("tests/molecule/") and scenario is not None:
            sys.path.insert(0, str(ROOT / "tests" / "molecule"))
            from scenarios import work_unit

            order, group = work_unit(scenario)
        else:
            # ansible-lint over the whole tree (tests/quality) is the longest file: early.
            group, order = path, 500 if path.startswith("tests/quality/") else 1000
        item.add_marker(pytest.mark.xdist_group(group))
        rank[id(item)] = order
    items.sort(key=lambda item: rank[id(item)])  # stable: files keep their collected order


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
