"""Hardware and software assessment of one Linux host (target side).

Runs with the host's system Python 3 and its standard library only; nvidia-ml-py
(``pynvml``) is used when it is importable. The Ansible module
``onprem.mlops.hardware_facts`` ships this package to the targets (Ansiballz bundles
``module_utils``), and the Python package ``onprem_mlops.hwassess`` is the same
directory (a symlink), so there is one implementation.
"""

from __future__ import annotations

from .collect import SCHEMA_VERSION, assess

__all__ = ["SCHEMA_VERSION", "assess"]
