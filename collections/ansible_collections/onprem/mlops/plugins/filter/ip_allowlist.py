"""IP allowlists: validate, split by family and match addresses, with the standard library only.

Roles take allowlists as lists of addresses and networks in CIDR notation (``192.0.2.0/24``,
``2001:db8::/32``, ``192.0.2.10``), check them in asserts and render them into nftables sets.
``ipaddress`` replaces the ``netaddr`` library (not needed on the control node).

Test (``onprem.mlops.<name>``, in plugins/test/ip_allowlist.py):

- ``ip_network``: an IPv4/IPv6 address, or a network in CIDR notation without host bits set

Filters (``onprem.mlops.<name>``):

- ``ip_network_problems``: ``[entry] -> [entry]`` the entries that are not ``ip_network``
- ``ip_networks_by_family``: ``[entry] -> {ipv4: [...], ipv6: [...]}`` normalised and sorted
- ``ip_in_networks``: ``(address, [entry]) -> bool``

Documentation for ansible-doc: the YAML files named after each filter and test next to the
plugin files.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# An address, optionally '/' and a prefix length in digits: netmask and hostmask notations
# ('10.0.0.0/255.0.0.0', '10.0.0.0/0.255.255.255') and IPv6 zone ids ('fe80::1%eth0') are
# not CIDR and have no place in a firewall set.
_CIDR_RE = re.compile(r"[0-9A-Fa-f.:]+(?:/[0-9]{1,3})?")


def parse_network(value: Any) -> IPNetwork | None:
    """The network ``value`` denotes, or None when it is not a valid entry.

    Valid: a string with an IPv4/IPv6 address (a /32 or /128) or a network in CIDR notation
    whose host bits are zero. '192.0.2.10/24' is invalid: did it mean the host or the network?
    """
    if not isinstance(value, str) or not _CIDR_RE.fullmatch(value):
        return None
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        return None


def is_ip_network(value: Any) -> bool:
    """Test ``ip_network``: whether ``value`` is a valid allowlist entry (see parse_network)."""
    return parse_network(value) is not None


def _entries(value: Any, name: str) -> list[Any]:
    """The list a filter was given; a string or a mapping is a mistake, not a list."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise AnsibleFilterError(f"{name} expects a list of addresses and networks, got {value!r}")
    return list(value)


def network_problems(entries: Any) -> list[Any]:
    """Filter ``ip_network_problems``: the entries, as given, that are not valid."""
    return [e for e in _entries(entries, "ip_network_problems") if not is_ip_network(e)]


def _parse_all(entries: Any, name: str) -> list[IPNetwork]:
    items = _entries(entries, name)
    bad = [e for e in items if not is_ip_network(e)]
    if bad:
        raise AnsibleFilterError(
            f"{name}: not an IP address or network in CIDR notation (host bits must be zero): "
            + ", ".join(repr(e) for e in bad)
        )
    return [network for network in map(parse_network, items) if network is not None]


def _text(network: IPNetwork) -> str:
    """Compressed text; single addresses without /32 or /128."""
    if network.prefixlen == network.max_prefixlen:
        return network.network_address.compressed
    return network.compressed


def networks_by_family(entries: Any) -> dict[str, list[str]]:
    """Filter ``ip_networks_by_family``: {ipv4: [...], ipv6: [...]}, for nftables sets.

    Entries are normalised (compressed IPv6, lower case, '/32' and '/128' dropped) and
    collapsed: duplicates go, networks inside others are absorbed and adjacent ones merged
    (nftables refuses overlapping elements of an interval set). Sorted by address. Invalid
    entries raise an error that names them.
    """
    networks = _parse_all(entries, "ip_networks_by_family")
    result: dict[str, list[str]] = {}
    for family, version in (("ipv4", 4), ("ipv6", 6)):
        same = [n for n in networks if n.version == version]
        collapsed = sorted(ipaddress.collapse_addresses(same), key=lambda n: n.network_address)  # type: ignore[arg-type]
        result[family] = [_text(n) for n in collapsed]
    return result


def _address(value: Any) -> IPAddress | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def in_networks(address: Any, networks: Any) -> bool:
    """Filter ``ip_in_networks``: whether ``address`` lies in one of ``networks``.

    An IPv4-mapped IPv6 address (::ffff:192.0.2.5, how dual-stack sockets show IPv4 clients)
    also counts as its IPv4 address. An empty or invalid address is in no network; invalid
    networks raise an error that names them.
    """
    parsed = _parse_all(networks, "ip_in_networks")
    ip = _address(address)
    if ip is None:
        return False
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(c.version == n.version and c in n for c in candidates for n in parsed)


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "ip_network_problems": network_problems,
            "ip_networks_by_family": networks_by_family,
            "ip_in_networks": in_networks,
        }
