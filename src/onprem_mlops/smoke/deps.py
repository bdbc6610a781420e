"""Lazy imports of the ML extras with one clear message when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS_HINT = "install the ML extras: pip install 'onprem-mlops[train]'"


class MissingExtrasError(RuntimeError):
    """NumPy, PyTorch or MLflow is not installed."""


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtrasError` naming the extras to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtrasError(f"{module} is not available ({exc}); {EXTRAS_HINT}") from exc


def check_extras(*modules: str) -> None:
    """Fail early, before any work, when one of ``modules`` cannot be imported."""
    for module in modules:
        require(module)
