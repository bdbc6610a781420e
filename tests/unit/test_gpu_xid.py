"""NVIDIA Xid records from the kernel log: parsing, and the non-blocking /dev/kmsg reader on
files and pipes standing in for the device."""

import errno
import os
import time

import pytest

from onprem_mlops.hwassess import xid

KMSG_79 = (
    "4,1893,86400123456,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=2731, name=python3, "
    "GPU has fallen off the bus.\n"
)
KMSG_48 = (
    "4,1894,86400223456,-;NVRM: Xid (PCI:0000:86:00): 48, pid='<unknown>', name=<unknown>, "
    "An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at "
    "partition 6, subpartition 0.\n"
    " SUBSYSTEM=pci\n"
    " DEVICE=+pci:0000:86:00.0\n"
)
DMESG = """\
[    4.120331] nvidia-nvlink: Nvlink Core is being initialized, major device number 508
[    4.421880] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024
[ 8812.551093] NVRM: GPU at PCI:0000:3b:00: GPU-4f2a9c1e-0b7d-4c55-9e1f-3a6d2b8c7e10
[ 8812.551096] NVRM: GPU Board Serial Number: 1654922001234
[ 8812.551098] NVRM: Xid (PCI:0000:3b:00): 13, pid=4242, name=train.py, Graphics SM Warp Exception on (GPC 1, TPC 0, SM 1): Out Of Range Address
[ 8812.551120] NVRM: Xid (PCI:0000:3b:00): 13, pid=4242, name=train.py, Graphics Exception: ESR 0x50e730=0x102000e 0x50e734=0x24 0x50e728=0x4c1eb72 0x50e72c=0x174
[ 9120.002211] NVRM: Xid (PCI:0000:3B:00): 31, pid=4242, name=train.py, Ch 00000008, intr 00000000. MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted @ 0x7f2a_d0000000.
[ 9311.000001] NVRM: Xid (0000:86:00): 62, 0cb2(2dc8) 00000000 00000000
"""  # noqa: E501 (kernel lines as the driver writes them)


def test_parse_kmsg_record_and_normalize_the_bus_id():
    assert xid.parse_line(KMSG_79) == ("0000:3b:00.0", 79)
    assert xid.parse_line(KMSG_48.splitlines()[0]) == ("0000:86:00.0", 48)
    # Continuation lines of a record and other driver messages are no Xid.
    assert xid.parse_line(" DEVICE=+pci:0000:86:00.0") is None
    assert xid.parse_line("6,12,4421880,-;NVRM: GPU at PCI:0000:3b:00: GPU-4f2a9c1e") is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("kernel: NVRM: Xid (PCI:0000:3B:00): 79, pid=1, GPU has fallen off the bus.", 79),
        ("NVRM: Xid (PCI:00000000:3b:00): 94, pid=1, Contained ECC error.", 94),  # 8-digit domain
        ("NVRM: Xid (PCI:0000:3b:00.0): 119, pid=1, Timeout waiting for RPC from GSP!", 119),
        ("NVRM: Xid (0000:3b:00): 13, Graphics Exception: ChID 0010", 13),  # older drivers
    ],
)
def test_parse_line_variants(line, expected):
    assert xid.parse_line(line) == ("0000:3b:00.0", expected)


def test_parse_dmesg_text():
    assert xid.parse_text(DMESG) == {
        ("0000:3b:00.0", 13): 2,
        ("0000:3b:00.0", 31): 1,
        ("0000:86:00.0", 62): 1,
    }
    assert xid.parse_text("") == {}


def test_reader_on_a_file_reads_the_start_then_what_was_appended(tmp_path):
    log = tmp_path / "kmsg"
    log.write_text(KMSG_79 + DMESG)
    reader = xid.KmsgReader(str(log))
    assert reader.ok is False  # not opened before the first poll
    counts = reader.poll()
    assert reader.ok and reader.error is None
    assert counts == {
        ("0000:3b:00.0", 79): 1,
        ("0000:3b:00.0", 13): 2,
        ("0000:3b:00.0", 31): 1,
        ("0000:86:00.0", 62): 1,
    }
    assert reader.poll() == counts  # nothing new: the same counts, nothing counted twice
    with log.open("a") as handle:  # a record arrives in two pieces
        handle.write(KMSG_79[:40])
    assert reader.poll()[("0000:3b:00.0", 79)] == 1
    with log.open("a") as handle:
        handle.write(KMSG_79[40:] + KMSG_48)
    counts = reader.poll()
    assert counts[("0000:3b:00.0", 79)] == 2 and counts[("0000:86:00.0", 48)] == 1
    reader.close()
    assert reader.poll() == counts and not reader.ok  # closed: no reopening, no recount


def test_reader_on_a_pipe_returns_at_eagain(tmp_path):
    read_end, write_end = os.pipe()
    opened = []

    def opener(path, flags):
        assert flags & os.O_NONBLOCK and not flags & (os.O_WRONLY | os.O_RDWR)
        opened.append(path)
        os.set_blocking(read_end, False)
        return read_end

    try:
        reader = xid.KmsgReader("/dev/kmsg", opener=opener)
        start = time.monotonic()
        assert reader.poll() == {}  # writer open, nothing written: EAGAIN, no blocking
        os.write(write_end, (KMSG_79 + KMSG_48).encode())
        assert reader.poll() == {("0000:3b:00.0", 79): 1, ("0000:86:00.0", 48): 1}
        assert reader.poll() == {("0000:3b:00.0", 79): 1, ("0000:86:00.0", 48): 1}
        assert time.monotonic() - start < 2
        assert opened == ["/dev/kmsg"] and reader.ok
    finally:
        os.close(write_end)
        reader.close()


def test_reader_continues_after_epipe(monkeypatch):
    """/dev/kmsg answers EPIPE when records were overwritten before the reader got them; the
    next read goes on with the oldest record still there."""
    script = [
        KMSG_79.encode(),
        OSError(errno.EPIPE, "Broken pipe"),
        KMSG_48.encode(),
        BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"),
    ]

    def read(fd, size):
        assert fd == 99 and size >= 8192
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    monkeypatch.setattr(xid.os, "read", read)
    reader = xid.KmsgReader("/dev/kmsg", opener=lambda path, flags: 99)
    assert reader.poll() == {("0000:3b:00.0", 79): 1, ("0000:86:00.0", 48): 1}
    assert reader.overwritten == 1 and reader.ok and script == []
    reader._fd = None  # fd 99 was never a real file


@pytest.mark.parametrize(
    "failure",
    [
        FileNotFoundError(errno.ENOENT, "No such file or directory"),
        PermissionError(errno.EPERM, "Operation not permitted"),
    ],
)
def test_unopenable_kmsg_is_reported_once_and_counts_nothing(failure):
    calls = []

    def opener(path, flags):
        calls.append(path)
        raise failure

    reader = xid.KmsgReader("/dev/kmsg", opener=opener)
    assert reader.poll() == {} and reader.poll() == {}
    assert calls == ["/dev/kmsg"]  # tried once
    assert not reader.ok
    assert reader.error == f"cannot open /dev/kmsg: {failure.strerror}"


def test_missing_path_without_injected_opener(tmp_path):
    reader = xid.KmsgReader(str(tmp_path / "no-kmsg"))
    assert reader.poll() == {}
    assert reader.error.startswith("cannot open") and "No such file" in reader.error


def test_read_error_keeps_the_counts_and_stops_reading(monkeypatch):
    script = [KMSG_79.encode(), OSError(errno.EIO, "Input/output error")]

    def read(fd, size):
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    monkeypatch.setattr(xid.os, "read", read)
    monkeypatch.setattr(xid.os, "close", lambda fd: None)
    reader = xid.KmsgReader("/dev/kmsg", opener=lambda path, flags: 99)
    assert reader.poll() == {("0000:3b:00.0", 79): 1}
    assert not reader.ok and reader.error == "cannot read /dev/kmsg: Input/output error"
    assert reader.poll() == {("0000:3b:00.0", 79): 1}


def test_the_real_dev_kmsg_is_read_without_blocking():
    reader = xid.KmsgReader()
    start = time.monotonic()
    reader.poll()
    if not reader.ok:
        pytest.skip(f"this machine's kernel log is not readable: {reader.error}")
    reader.poll()
    reader.close()
    assert time.monotonic() - start < 10
