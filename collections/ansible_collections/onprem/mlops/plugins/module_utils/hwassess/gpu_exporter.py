"""GPU collector for node exporter's textfile collector (a systemd service on GPU hosts).

    python3 -m hwassess.gpu_exporter --textfile /var/lib/prometheus/node-exporter/onprem_gpu.prom

(with the directory holding ``hwassess`` on PYTHONPATH; in this repository also
``python -m onprem_mlops.hwassess.gpu_exporter``). Every ``--interval`` seconds: the NVIDIA GPUs
on the PCI bus (sysfs under ``--root``), NVML through ``pynvml`` (one session kept across rounds,
ended and opened again after a failure), the Xid records that arrived in ``--kmsg``; the metrics
(gpu_metrics.py) replace the text file atomically. On a host without NVIDIA GPU the file is
empty. SIGTERM or SIGINT end the loop after the current round. Changes of state (NVML failing
or back, the kernel log unreadable, GPUs counted, write errors) are logged to stderr once each.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import gpu_metrics, gpu_nvml, pci, xid
from ._fs import HostFS

PROG = "onprem-gpu-exporter"
DEFAULT_INTERVAL_S = 15.0
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def log(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


class _OpenSession:
    """The pynvml module as gpu_nvml.probe sees it: nvmlInit only opens the session once,
    nvmlShutdown leaves it open (NvmlSession.reset ends it)."""

    def __init__(self, session: NvmlSession, module: Any) -> None:
        self._session = session
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def nvmlInit(self) -> None:
        if not self._session.initialised:
            self._module.nvmlInit()
            self._session.initialised = True

    def nvmlShutdown(self) -> None:
        """Kept open for the next round."""


class NvmlSession:
    """One NVML session across rounds instead of nvmlInit/nvmlShutdown per round."""

    def __init__(self, loader: Callable[[], Any] = gpu_nvml.import_pynvml) -> None:
        self._loader = loader
        self._module: Any = None
        self.initialised = False

    def loader(self) -> Any:
        """A loader for gpu_nvml.probe; an import that failed is tried again next round."""
        if self._module is None:
            self._module = self._loader()
        return _OpenSession(self, self._module)

    def reset(self) -> None:
        """End the session (after a failure): the next round initialises NVML again."""
        if self.initialised:
            with contextlib.suppress(Exception):
                self._module.nvmlShutdown()
        self.initialised = False


class Collector:
    """One collection round: :meth:`collect` returns the text file's content."""

    def __init__(
        self,
        root: str = "/",
        kmsg: str = "/dev/kmsg",
        nvml_loader: Callable[[], Any] = gpu_nvml.import_pynvml,
    ) -> None:
        self.fs = HostFS(root)
        self.reader = xid.KmsgReader(kmsg)
        self.nvml = NvmlSession(nvml_loader)
        self.known_buses: dict[str, int] = {}
        self.state: dict[str, str] = {}  # what was logged last, per subject

    def note(self, subject: str, value: str, *, usual: str | None = None) -> None:
        """Log ``subject: value`` when it differs from the value logged last; a first value
        that is the ``usual`` one (no errors) is not worth a line."""
        previous = self.state.get(subject)
        if previous != value:
            if previous is not None:
                log(f"{subject}: {previous} -> {value}")
            elif value != usual:
                log(f"{subject}: {value}")
            self.state[subject] = value

    def collect(self) -> str:
        start = time.perf_counter()
        pci_devices = pci.probe(self.fs)
        status, gpus = gpu_nvml.probe(self.nvml.loader)
        errors = [f"gpu {g.get('index')}: {e}" for g in gpus for e in g.get("errors") or []]
        if status["status"] != "ok" or errors:
            self.nvml.reset()
        counts = self.reader.poll()
        text = gpu_metrics.render(
            pci_devices, status, gpus, counts, self.reader.ok, known_buses=self.known_buses
        )
        self.known_buses = gpu_metrics.bus_indexes(
            gpus if status["status"] == "ok" else [], self.known_buses
        )
        if text:
            text += gpu_metrics.render_duration(time.perf_counter() - start)

        nvml_state = status["status"]
        if status.get("error"):
            nvml_state += f" ({status['error']})"
        self.note("NVML", nvml_state)
        self.note("NVML query errors", "; ".join(errors[:3]) or "none", usual="none")
        self.note("kernel log", "ok" if self.reader.ok else self.reader.error or "not read")
        answered = sum(1 for g in gpus if "pci_bus_id" in g) if status["status"] == "ok" else 0
        self.note("GPUs", f"{len(pci_devices)} on the PCI bus, {answered} in NVML")
        return text

    def close(self) -> None:
        self.nvml.reset()
        self.reader.close()


def write_textfile(path: str, text: str) -> None:
    """Replace ``path`` atomically: a temporary file in its directory (a name node exporter's
    textfile collector ignores, it reads ``*.prom`` only), mode 0644, fsync, rename."""
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.fsync(handle.fileno())
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def one_round(collector: Collector, textfile: str) -> bool:
    """Collect and write; False (logged once per kind of failure) when that failed."""
    try:
        text = collector.collect()
    except Exception as exc:  # a bug in a probe must not end the service
        collector.note("collection", f"failed: {exc!r}")
        return False
    collector.note("collection", "ok", usual="ok")
    try:
        write_textfile(textfile, text)
    except OSError as exc:
        collector.note("writing", f"cannot write {textfile}: {exc}")
        return False
    collector.note("writing", "ok", usual="ok")
    return True


def run(collector: Collector, textfile: str, interval: float) -> int:
    """Rounds every ``interval`` seconds until SIGTERM or SIGINT (blocked meanwhile and taken
    with sigtimedwait, so a round is never cut short)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        while True:
            start = time.monotonic()
            one_round(collector, textfile)
            timeout = max(0.0, interval - (time.monotonic() - start))
            received = signal.sigtimedwait(STOP_SIGNALS, timeout)
            if received is not None:
                log(f"stopping on {signal.Signals(received.si_signo).name}")
                return 0
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _interval(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Write NVIDIA GPU metrics for node exporter's textfile collector."
    )
    parser.add_argument(
        "--textfile",
        required=True,
        help="the .prom file to write, e.g. /var/lib/prometheus/node-exporter/onprem_gpu.prom",
    )
    parser.add_argument(
        "--interval",
        type=_interval,
        default=DEFAULT_INTERVAL_S,
        help=f"seconds between rounds (default {DEFAULT_INTERVAL_S:g})",
    )
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("--root", default="/", help="the host's file system root (default /)")
    parser.add_argument("--kmsg", default="/dev/kmsg", help="kernel log device (default /dev/kmsg)")
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None = None,
    *,
    nvml_loader: Callable[[], Any] = gpu_nvml.import_pynvml,
) -> int:
    args = parse_args(argv)
    collector = Collector(args.root, args.kmsg, nvml_loader)
    try:
        if args.once:
            return 0 if one_round(collector, args.textfile) else 1
        log(f"writing {args.textfile} every {args.interval:g} s")
        return run(collector, args.textfile, args.interval)
    finally:
        collector.close()


if __name__ == "__main__":
    sys.exit(main())
