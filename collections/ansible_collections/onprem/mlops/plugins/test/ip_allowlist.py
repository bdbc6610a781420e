"""Jinja test ``onprem.mlops.ip_network`` for IP allowlist entries.

``'192.0.2.0/24' is onprem.mlops.ip_network``: an IPv4/IPv6 address or a network in CIDR
notation without host bits set. The logic, and the allowlist filters, live in
plugins/filter/ip_allowlist.py; the documentation in ip_network.yml next to this file.
"""

from __future__ import annotations

from collections.abc import Callable

from ansible_collections.onprem.mlops.plugins.filter.ip_allowlist import is_ip_network


class TestModule:
    """Ansible test plugin entry point."""

    def tests(self) -> dict[str, Callable[..., bool]]:
        return {"ip_network": is_ip_network}
