"""The rollout journal: append-only JSON Lines per inventory, and the lock of a running run.

Every ``rollout run`` writes a ``start`` line before ansible-runner starts and one ``result``
line per host when it ends, each batch with a single ``write`` on a file opened with
O_APPEND, then fsync: a crash leaves whole lines only. A ``start`` without results (the
process was killed) reads as interrupted. Nothing is ever rewritten.

Line fields (``v`` 1):
  start:  run, event, phase, hosts, check, forced, start, user, commit, inventory,
          inventory_hash, phase_hash, artifacts
  result: run, event, phase, host, check, forced, start, end, result (done | failed | check |
          interrupted), recap {ok, changed, failed, unreachable, skipped, rescued, ignored},
          changed_tasks, reason, reboot_required, user, commit, inventory_hash, phase_hash,
          artifacts
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

VERSION = 1
RESULTS = ("done", "failed", "check", "interrupted")


class JournalLocked(RuntimeError):
    """Another ``rollout run`` holds this inventory's lock."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Journal:
    """The journal of one inventory: ``<directory>/<name>.jsonl`` and ``<name>.lock``."""

    directory: Path
    name: str

    @property
    def path(self) -> Path:
        return self.directory / f"{self.name}.jsonl"

    @property
    def lock_path(self) -> Path:
        return self.directory / f"{self.name}.lock"

    def append(self, *entries: dict[str, Any]) -> None:
        """Append whole lines in one write (never a half-written line), then fsync."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data = "".join(
            json.dumps({"v": VERSION, **entry}, sort_keys=True) + "\n" for entry in entries
        ).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            if written != len(data):  # a full disk: say so rather than leave half a line
                raise OSError(errno.ENOSPC, f"journal {self.path}: only {written} bytes written")
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The entries, and one problem per line that does not parse (the rest is read)."""
        if not self.path.is_file():
            return [], []
        entries: list[dict[str, Any]] = []
        problems: list[str] = []
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as error:
                    problems.append(f"{self.path} line {number}: not JSON ({error.msg}); skipped")
                    continue
                problem = _invalid(entry)
                if problem:
                    problems.append(f"{self.path} line {number}: {problem}; skipped")
                    continue
                entries.append(entry)
        return entries, problems

    def holder(self) -> str | None:
        """Who holds the lock now (its description), or None when nobody does."""
        if not self.lock_path.exists():
            return None
        with self.lock_path.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                return handle.read().strip() or "another process"
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None

    @contextmanager
    def lock(self, description: str) -> Iterator[None]:
        """Hold the inventory's lock; JournalLocked when another run holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise JournalLocked(
                    f"another rollout run on this inventory is in progress ({holder}); "
                    f"wait for it to end. Lock: {self.lock_path}"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(description)
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)


def _invalid(entry: Any) -> str:
    """What is wrong with a parsed line ("" when nothing)."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    event = entry.get("event")
    required = {"start": ("run", "phase", "hosts", "start"), "result": ("run", "phase", "host")}
    if event not in required:
        return f"unknown event {event!r}"
    missing = [key for key in required[event] if key not in entry]
    if missing:
        return f"{event} entry without {', '.join(missing)}"
    if event == "result" and entry.get("result") not in RESULTS:
        return f"result {entry.get('result')!r} is not one of {', '.join(RESULTS)}"
    return ""
