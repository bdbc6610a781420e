"""NVIDIA Xid errors from the kernel log (/dev/kmsg records or ``dmesg`` text).

The driver logs ``NVRM: Xid (PCI:0000:3b:00): 79, pid=..., GPU has fallen off the bus.``;
the bus id has no PCI function there, so ``.0`` is assumed (GPUs are function 0).
:class:`KmsgReader` counts them per (bus id, Xid) from the start of the kernel's ring
buffer onwards, reading without blocking, and never raises.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Callable

from .pci import normalize_bus_id

# "NVRM: Xid (PCI:0000:3b:00): 79, ..." and the older "NVRM: Xid (0000:3b:00): 13, ...".
_XID = re.compile(
    r"NVRM: Xid \((?:PCI:)?(?P<bus>(?:[0-9a-fA-F]{1,8}:)?[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}"
    r"(?:\.[0-7])?)[^)]*\):\s*(?P<xid>\d+)"
)
READ_SIZE = 16384  # larger than one /dev/kmsg record (the kernel's limit is 8 KiB)
MAX_READS_PER_POLL = 100_000  # a kernel flooding its log cannot keep poll() busy forever
MAX_LINE = 65536  # a stand-in file without newlines cannot grow the buffer without end

XidKey = tuple[str, int]  # (bus id "0000:3b:00.0", Xid)


def parse_line(line: str) -> XidKey | None:
    """(bus id, Xid) of one kernel log line (kmsg record or dmesg text), or None."""
    match = _XID.search(line)
    if match is None:
        return None
    bus = match.group("bus")
    if "." not in bus:
        bus += ".0"
    return normalize_bus_id(bus), int(match.group("xid"))


def parse_text(text: str) -> dict[XidKey, int]:
    """Xid counts in a whole log (e.g. the output of ``dmesg``)."""
    counts: dict[XidKey, int] = {}
    for line in text.splitlines():
        key = parse_line(line)
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return counts


Opener = Callable[[str, int], int]


class KmsgReader:
    """Counts Xid records of /dev/kmsg (or a file or pipe standing in for it).

    The device is opened at the first :meth:`poll`, which reads the ring buffer from its oldest
    record (everything since boot unless the buffer wrapped); each poll reads what arrived since.
    ``error`` says why the log cannot be read (no /dev/kmsg in a container, no permission);
    then ``ok`` is false, the counts stay empty and poll() never raises.
    """

    def __init__(self, path: str = "/dev/kmsg", opener: Opener = os.open) -> None:
        self.path = path
        self.counts: dict[XidKey, int] = {}
        self.error: str | None = None
        self.overwritten = 0  # EPIPE: records overwritten before they could be read
        self._opener = opener
        self._fd: int | None = None
        self._pending = b""  # an incomplete last line (files and pipes; kmsg reads whole records)
        self._closed = False

    @property
    def ok(self) -> bool:
        return self._fd is not None and self.error is None

    def _open(self) -> None:
        try:
            self._fd = self._opener(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            self.error = f"cannot open {self.path}: {exc.strerror or exc}"

    def poll(self) -> dict[XidKey, int]:
        """Read every record available now; the running counts (the same dict each time)."""
        if self._fd is None and self.error is None and not self._closed:
            self._open()
        if self._fd is None:
            return self.counts
        for _ in range(MAX_READS_PER_POLL):
            try:
                chunk = os.read(self._fd, READ_SIZE)
            except BlockingIOError:  # EAGAIN: nothing more for now
                break
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # the ring buffer overwrote unread records
                    self.overwritten += 1
                    continue
                self.error = f"cannot read {self.path}: {exc.strerror or exc}"
                self.close()
                break
            if not chunk:  # end of a regular file, or a pipe without writer
                break
            self._feed(chunk)
        return self.counts

    def _feed(self, chunk: bytes) -> None:
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_LINE:
            self._pending = b""
        for raw in lines:
            if b"Xid" not in raw:
                continue
            key = parse_line(raw.decode("utf-8", "replace"))
            if key is not None:
                self.counts[key] = self.counts.get(key, 0) + 1

    def close(self) -> None:
        """Stop reading; later polls return the counts as they are."""
        self._closed = True
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
