"""Port lists for firewall rules: single ports and ranges, with the standard library only.

Filter (``onprem.mlops.<name>``):

- ``port_spec_problems``: ``[port] -> [port]`` the entries that are neither a port number
  1-65535 nor a range ``"LOW-HIGH"`` of them with LOW <= HIGH

Documentation for ansible-doc: port_spec_problems.yml next to this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_SPEC_RE = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?")


def is_port_spec(value: Any) -> bool:
    """A port 1-65535 (int or digits) or a range "LOW-HIGH" with 1 <= LOW <= HIGH <= 65535."""
    if isinstance(value, bool):
        return False
    match = _SPEC_RE.fullmatch(str(value).strip()) if isinstance(value, (int, str)) else None
    if match is None:
        return False
    low = int(match.group(1))
    high = int(match.group(2) or low)
    return 1 <= low <= high <= 65535


def port_spec_problems(ports: Any) -> list[Any]:
    """The entries of ``ports`` that are not port specs; ``[ports]`` itself if it is no list."""
    if isinstance(ports, (str, bytes)) or not isinstance(ports, (list, tuple)):
        return [ports]
    return [entry for entry in ports if not is_port_spec(entry)]


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"port_spec_problems": port_spec_problems}
