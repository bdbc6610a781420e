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
