"""Read-only facts for the ml_stack role: Python version, machine, glibc, NVIDIA GPUs on PCI.

Run by the role with the interpreter that will create the venv (ml_stack_python); prints JSON.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path


def read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def nvidia_display_controllers() -> int:
    """NVIDIA devices of PCI class 0x03 (display/3D), whether or not a driver is bound."""
    return sum(
        1
        for device in Path("/sys/bus/pci/devices").glob("*")
        if read(device / "vendor") == "0x10de" and read(device / "class").startswith("0x03")
    )


print(
    json.dumps(
        {
            "python_version": platform.python_version(),
            "arch": platform.machine(),
            "glibc": platform.libc_ver()[1] or None,
            "pci_gpu_count": nvidia_display_controllers(),
        }
    )
)
