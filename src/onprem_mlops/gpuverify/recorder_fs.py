"""A HostFS that remembers what the assessment's probes touch, to write it out as a tree.

Nothing here knows which files the probes read: the recording is whatever a live assessment
asked for (file contents, directory listings, existence checks, symlink targets, statvfs).
"""

from __future__ import annotations

import io
import os
from typing import Any

from onprem_mlops.hwassess._fs import DiskUsage, HostFS

# A file larger than this is left out of a recording (and listed as such).
MAX_FILE_BYTES = 8 << 20


def decode(data: bytes) -> str:
    """Bytes as ``HostFS.read`` returns them (UTF-8, errors replaced, universal newlines)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace").read()


class RecordingHostFS(HostFS):
    """Answers like :class:`HostFS` and keeps every answer.

    ``files``: path -> bytes as read (first read wins); ``present``: path -> ``"dir"`` or
    ``"file"`` for paths seen to exist (existence checks, directory tests, listing entries);
    ``listed``: path -> entries; ``links``: path -> symlink target; ``usage``: mountpoint ->
    (total, available) bytes; ``unreadable``: paths that exist but could not be read.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] = "/",
        disk_usage: DiskUsage | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        super().__init__(root, disk_usage)
        self.max_file_bytes = max_file_bytes
        self.files: dict[str, bytes] = {}
        self.present: dict[str, str] = {}
        self.listed: dict[str, list[str]] = {}
        self.links: dict[str, str] = {}
        self.usage: dict[str, tuple[int, int]] = {}
        self.unreadable: list[str] = []
        self.too_large: list[str] = []
        measure = self.disk_usage

        def recorded_usage(path: str) -> tuple[int, int]:
            total, available = measure(path)
            self.usage[path] = (int(total), int(available))
            return total, available

        self.disk_usage = recorded_usage

    @staticmethod
    def _key(host_path: str) -> str:
        return "/" + host_path.strip("/")

    def _capture(self, host_path: str) -> bytes | None:
        key = self._key(host_path)
        try:
            data = self.path(host_path).read_bytes()
        except (OSError, ValueError):
            if self.path(host_path).exists() and key not in self.unreadable:
                self.unreadable.append(key)
            return None
        if len(data) > self.max_file_bytes:
            if key not in self.too_large:
                self.too_large.append(key)
        else:
            self.files.setdefault(key, data)
        return data

    def _kind(self, host_path: str) -> str:
        return "dir" if self.path(host_path).is_dir() else "file"

    def read(self, host_path: str) -> str | None:
        data = self._capture(host_path)
        return None if data is None else decode(data)

    def read_bytes(self, host_path: str) -> bytes | None:
        return self._capture(host_path)

    def exists(self, host_path: str) -> bool:
        found = super().exists(host_path)
        if found:
            self.present.setdefault(self._key(host_path), self._kind(host_path))
        return found

    def is_dir(self, host_path: str) -> bool:
        found = super().is_dir(host_path)
        if found:
            self.present[self._key(host_path)] = "dir"
        return found

    def listdir(self, host_path: str) -> list[str]:
        names = super().listdir(host_path)
        key = self._key(host_path)
        self.listed[key] = names
        if names:
            self.present[key] = "dir"
        for name in names:
            child = f"{key.rstrip('/')}/{name}"
            self.present.setdefault(child, self._kind(child))
        return names

    def link_name(self, host_path: str) -> str | None:
        name = super().link_name(host_path)
        if name is not None:
            self.links[self._key(host_path)] = str(self.path(host_path).readlink())
        return name

    def summary(self) -> dict[str, Any]:
        return {
            "files_read": len(self.files),
            "paths_seen": len(self.present),
            "links": len(self.links),
            "unreadable": list(self.unreadable),
            "too_large": list(self.too_large),
        }
