"""Shared helpers for the test suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The project's collection, importable as ansible_collections.onprem.mlops next to the
# community collections of the `ansible` package (both are namespace packages): unit tests
# import its plugins directly.
sys.path.insert(0, str(ROOT / "collections"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
