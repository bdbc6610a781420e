"""A per-model lock file, so two pipelines never move one alias at the same time.

``fcntl.flock`` on ``<dir>/<model>.<alias>.lock``: the kernel drops the lock when the holder
exits, even on a crash, so a stale lock cannot block the next pipeline. All pipelines that
promote the same model must share the directory: the same host by default, or a directory on
a shared file system (NFS with lockd) for CI runners on several hosts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_DIR_ENV = "ONPREM_MLOPS_PIPELINE_LOCK_DIR"


class LockTimeout(RuntimeError):
    """Another pipeline held the lock for longer than we were willing to wait."""


def default_lock_dir() -> Path:
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "onprem-mlops" / "locks"


def lock_path(directory: Path, model: str, alias: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{model}.{alias}")
    return directory / f"{safe}.lock"


@contextlib.contextmanager
def held(path: Path, timeout: float, poll: float = 0.1) -> Iterator[None]:
    """Hold the exclusive lock on ``path``, waiting at most ``timeout`` seconds for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"another pipeline has held {path} for more than {timeout:g} s"
                    ) from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
