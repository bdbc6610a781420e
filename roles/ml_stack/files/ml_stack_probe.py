"""Read-only facts for the ml_stack role: Python version, machine, glibc, NVIDIA GPUs on PCI
and what nvidia-smi says about the driver (one remote call for all of it).

Run by the role with the interpreter that will create the venv (ml_stack_python); prints JSON.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path

SMI_QUERIES = ("name,driver_version,compute_cap", "name,driver_version")


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


def nvidia_smi() -> str:
    """CSV lines name, driver version[, compute capability] per GPU; '' without a driver.

    Older drivers do not know compute_cap: the query without it is tried next.
    """
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ""
    for query in SMI_QUERIES:
        try:
            done = subprocess.run(
                [smi, f"--query-gpu={query}", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return ""
        if done.returncode == 0:
            return done.stdout
    return ""


print(
    json.dumps(
        {
            "python_version": platform.python_version(),
            "arch": platform.machine(),
            "glibc": platform.libc_ver()[1] or None,
            "pci_gpu_count": nvidia_display_controllers(),
            "nvidia_smi": nvidia_smi(),
        }
    )
)
