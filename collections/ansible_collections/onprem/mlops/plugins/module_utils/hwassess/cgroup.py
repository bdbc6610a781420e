"""Resource limits of the current cgroup (v2 unified or v1), as containers see them."""

from __future__ import annotations

from ._fs import HostFS


def _own_cgroups(fs: HostFS) -> dict[str, str]:
    """Controller name -> cgroup path of this process ('' is the v2 unified hierarchy)."""
    groups: dict[str, str] = {}
    for line in (fs.read("/proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                groups[controller] = parts[2]
    return groups


def _candidates(fs: HostFS, controller: str, filename: str) -> list[str]:
    groups = _own_cgroups(fs)
    paths = []
    if controller in groups:  # v1: /sys/fs/cgroup/<controller>/<path>/<file>
        base = f"/sys/fs/cgroup/{controller}"
        paths += [f"{base}{groups[controller].rstrip('/')}/{filename}", f"{base}/{filename}"]
    if "" in groups:  # v2: /sys/fs/cgroup/<path>/<file>
        unified = groups[""].rstrip("/")
        paths += [f"/sys/fs/cgroup{unified}/{filename}", f"/sys/fs/cgroup/{filename}"]
    return paths


def memory_limit(fs: HostFS) -> int | None:
    """Memory limit in bytes, or None when unlimited or unknown."""
    for path in _candidates(fs, "memory", "memory.max") + _candidates(
        fs, "memory", "memory.limit_in_bytes"
    ):
        value = fs.read_line(path)
        if value and value.isdigit():
            limit = int(value)
            # v1 reports "unlimited" as a huge page-aligned number.
            return limit if limit < 1 << 60 else None
    return None


def cpu_limit(fs: HostFS) -> float | None:
    """CPU quota in CPUs (e.g. 2.5), or None when unlimited or unknown."""
    for path in _candidates(fs, "cpu", "cpu.max"):
        quota, _, period = (fs.read_line(path) or "").partition(" ")
        if quota.isdigit() and period.isdigit() and int(period) > 0:
            return round(int(quota) / int(period), 2)
    for path in _candidates(fs, "cpu", "cpu.cfs_quota_us"):
        quota_text = fs.read_line(path)
        period = fs.read_int(path.replace("cfs_quota_us", "cfs_period_us"))
        if quota_text and quota_text.isdigit() and period:
            return round(int(quota_text) / period, 2)
    return None
