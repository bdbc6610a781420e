"""Network: interfaces with link speed and MTU, InfiniBand ports."""

from __future__ import annotations

from typing import Any

from ._fs import HostFS


def interfaces(fs: HostFS) -> list[dict[str, Any]]:
    result = []
    for name in fs.listdir("/sys/class/net"):
        base = f"/sys/class/net/{name}"
        if name == "lo" or not fs.exists(f"{base}/mtu"):
            continue
        speed = fs.read_int(f"{base}/speed")  # unreadable while the link is down
        result.append(
            {
                "name": name,
                "physical": fs.exists(f"{base}/device"),
                "operstate": fs.read_line(f"{base}/operstate"),
                "speed_mbps": speed if speed and speed > 0 else None,
                "mtu": fs.read_int(f"{base}/mtu"),
                "mac": fs.read_line(f"{base}/address"),
                "driver": fs.link_name(f"{base}/device/driver"),
            }
        )
    return result


def infiniband(fs: HostFS) -> list[dict[str, Any]]:
    ports = []
    for device in fs.listdir("/sys/class/infiniband"):
        for port in fs.listdir(f"/sys/class/infiniband/{device}/ports"):
            base = f"/sys/class/infiniband/{device}/ports/{port}"
            rate = fs.read_line(f"{base}/rate") or ""  # "200 Gb/sec (4X HDR)"
            first = rate.split(" ", 1)[0]
            ports.append(
                {
                    "device": device,
                    "port": port,
                    "state": (fs.read_line(f"{base}/state") or "").split(":")[-1].strip() or None,
                    "rate_gbps": float(first) if first.replace(".", "", 1).isdigit() else None,
                    "link_layer": fs.read_line(f"{base}/link_layer"),
                }
            )
    return ports


def probe(fs: HostFS) -> dict[str, Any]:
    return {"interfaces": interfaces(fs), "infiniband": infiniband(fs)}
