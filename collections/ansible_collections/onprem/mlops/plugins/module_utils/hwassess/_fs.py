"""Read-only access to a host's /proc, /sys and /etc under an injectable root."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

# (total bytes, bytes available to unprivileged users) of the filesystem holding a path.
DiskUsage = Callable[[str], "tuple[int, int]"]


def _statvfs_usage(path: str) -> tuple[int, int]:
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


class HostFS:
    """A host's filesystem view; ``root`` is ``/`` on a live host, a fixture tree in tests.

    ``live`` is true when ``root`` is the running system, so that probes which cannot be
    recorded in a tree (statvfs, writing benchmark files) may run.
    """

    def __init__(
        self, root: str | os.PathLike[str] = "/", disk_usage: DiskUsage | None = None
    ) -> None:
        self.root = Path(root)
        self.live = self.root.resolve() == Path("/")
        self.disk_usage: DiskUsage = disk_usage or _statvfs_usage

    def path(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    def read(self, host_path: str) -> str | None:
        try:
            return self.path(host_path).read_text(encoding="utf-8", errors="replace")
        except (OSError, ValueError):
            return None

    def read_bytes(self, host_path: str) -> bytes | None:
        try:
            return self.path(host_path).read_bytes()
        except OSError:
            return None

    def read_line(self, host_path: str) -> str | None:
        text = self.read(host_path)
        return None if text is None else text.strip()

    def read_int(self, host_path: str, base: int = 10) -> int | None:
        text = self.read_line(host_path)
        if not text:
            return None
        try:
            return int(text, base)
        except ValueError:
            return None

    def exists(self, host_path: str) -> bool:
        return self.path(host_path).exists()

    def is_dir(self, host_path: str) -> bool:
        return self.path(host_path).is_dir()

    def listdir(self, host_path: str) -> list[str]:
        try:
            return sorted(p.name for p in self.path(host_path).iterdir())
        except OSError:
            return []

    def link_name(self, host_path: str) -> str | None:
        """Last component of a symlink's target (e.g. the driver bound to a PCI device)."""
        try:
            return self.path(host_path).readlink().name
        except OSError:
            return None


def parse_key_values(text: str | None, sep: str = "=") -> dict[str, str]:
    """``KEY=value`` lines (os-release style, quotes removed)."""
    result: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, found, value = line.partition(sep)
        if found and key.strip() and not key.lstrip().startswith("#"):
            result[key.strip()] = value.strip().strip("\"'")
    return result


def parse_cpu_list(text: str | None) -> int | None:
    """Number of CPUs in a list such as ``0-3,8,10-11``."""
    if not text:
        return None
    count = 0
    try:
        for part in text.strip().split(","):
            low, _, high = part.partition("-")
            count += int(high or low) - int(low) + 1
    except ValueError:
        return None
    return count
