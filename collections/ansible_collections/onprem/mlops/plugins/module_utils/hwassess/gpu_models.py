"""Known NVIDIA data-centre and workstation GPUs: PCI ids, memory and datasheet peaks.

Peaks are the datasheet's dense tensor-core figures (without structured sparsity) and the
memory bandwidth, used to judge measured micro-benchmarks. PCI device ids come from the PCI
ID database (https://pci-ids.ucw.cz/read/PC/10de); they let the capacity plan size a GPU
before its driver is installed. A GPU missing here is reported as "unknown model".
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple


class GpuModel(NamedTuple):
    key: str
    name: str
    pattern: str  # regex on the NVML name, upper case, '-' read as blank
    pci_device_ids: tuple[str, ...]
    memory_gib: float
    compute_capability: str
    bf16_tflops: float | None  # None: no bf16 tensor cores
    fp16_tflops: float
    memory_bandwidth_gbs: float
    source: str


_H100 = "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet"
_A100 = (
    "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
    "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"
)
_V100 = (
    "https://images.nvidia.com/content/technologies/volta/pdf/"
    "volta-v100-datasheet-update-us-1165301-r5.pdf"
)

# Most specific patterns first: the first match wins.
MODELS: tuple[GpuModel, ...] = (
    GpuModel(
        "h200",
        "H200 141GB",
        r"\bH200\b",
        ("2335",),
        141,
        "9.0",
        989,
        989,
        4800,
        "https://www.nvidia.com/en-us/data-center/h200/",
    ),
    GpuModel(
        "h100-nvl",
        "H100 NVL 94GB",
        r"\bH100\b.*\bNVL\b",
        ("2321",),
        94,
        "9.0",
        835,
        835,
        3900,
        _H100,
    ),
    GpuModel(
        "h100-pcie",
        "H100 PCIe 80GB",
        r"\bH100\b.*\bPCIE\b",
        ("2331",),
        80,
        "9.0",
        756,
        756,
        2000,
        _H100,
    ),
    GpuModel(
        "h100-sxm", "H100 SXM5 80GB", r"\bH100\b", ("2330",), 80, "9.0", 989, 989, 3350, _H100
    ),
    GpuModel(
        "a100-sxm-80",
        "A100 SXM4 80GB",
        r"\bA100\b(?=.*\bSXM)(?=.*\b80GB\b)",
        ("20b2",),
        80,
        "8.0",
        312,
        312,
        2039,
        _A100,
    ),
    GpuModel(
        "a100-sxm-40",
        "A100 SXM4 40GB",
        r"\bA100\b(?=.*\bSXM)",
        ("20b0",),
        40,
        "8.0",
        312,
        312,
        1555,
        _A100,
    ),
    GpuModel(
        "a100-pcie-80",
        "A100 PCIe 80GB",
        r"\bA100\b(?=.*\b80GB\b)",
        ("20b5",),
        80,
        "8.0",
        312,
        312,
        1935,
        _A100,
    ),
    GpuModel(
        "a100-pcie-40",
        "A100 PCIe 40GB",
        r"\bA100\b",
        ("20b1", "20f1"),
        40,
        "8.0",
        312,
        312,
        1555,
        _A100,
    ),
    GpuModel(
        "a30",
        "A30 24GB",
        r"\bA30\b",
        ("20b7",),
        24,
        "8.0",
        165,
        165,
        933,
        "https://www.nvidia.com/en-us/data-center/products/a30-gpu/",
    ),
    GpuModel(
        "a40",
        "A40 48GB",
        r"\bA40\b",
        ("2235",),
        48,
        "8.6",
        149.7,
        149.7,
        696,
        "https://www.nvidia.com/en-us/data-center/a40/",
    ),
    GpuModel(
        "a10",
        "A10 24GB",
        r"\bA10G?\b",
        ("2236", "2237"),
        24,
        "8.6",
        125,
        125,
        600,
        "https://www.nvidia.com/en-us/data-center/products/a10-gpu/",
    ),
    GpuModel(
        "rtx-a6000",
        "RTX A6000 48GB",
        r"\bA6000\b",
        ("2230",),
        48,
        "8.6",
        154.8,
        154.8,
        768,
        "https://www.nvidia.com/en-us/design-visualization/rtx-a6000/",
    ),
    GpuModel(
        "l40s",
        "L40S 48GB",
        r"\bL40S\b",
        ("26b9",),
        48,
        "8.9",
        362,
        362,
        864,
        "https://www.nvidia.com/en-us/data-center/l40s/",
    ),
    GpuModel(
        "l40",
        "L40 48GB",
        r"\bL40\b",
        ("26b5",),
        48,
        "8.9",
        181,
        181,
        864,
        "https://www.nvidia.com/en-us/data-center/l40/",
    ),
    GpuModel(
        "l4",
        "L4 24GB",
        r"\bL4\b",
        ("27b8",),
        24,
        "8.9",
        121,
        121,
        300,
        "https://www.nvidia.com/en-us/data-center/l4/",
    ),
    GpuModel(
        "rtx-4090",
        "GeForce RTX 4090 24GB",
        r"\bRTX 4090\b",
        ("2684",),
        24,
        "8.9",
        165.2,
        165.2,
        1008,
        "NVIDIA Ada Lovelace architecture whitepaper v2.1, appendix A",
    ),
    GpuModel(
        "t4",
        "T4 16GB",
        r"\bT4\b",
        ("1eb8",),
        16,
        "7.5",
        None,
        65,
        320,
        "https://www.nvidia.com/en-us/data-center/tesla-t4/",
    ),
    GpuModel(
        "v100-sxm2",
        "V100 SXM2",
        r"\bV100\b(?=.*\bSXM)",
        ("1db1", "1db5"),
        16,
        "7.0",
        None,
        125,
        900,
        _V100,
    ),
    GpuModel(
        "v100-pcie", "V100 PCIe", r"\bV100\b", ("1db4", "1db6"), 16, "7.0", None, 112, 900, _V100
    ),
)


def by_name(name: str | None) -> GpuModel | None:
    if not name:
        return None
    normalized = name.upper().replace("-", " ")
    return next((m for m in MODELS if re.search(m.pattern, normalized)), None)


def by_pci_id(device_id: str | None) -> GpuModel | None:
    if not device_id:
        return None
    wanted = device_id.lower().removeprefix("0x")
    return next((m for m in MODELS if wanted in m.pci_device_ids), None)


def summary(model: GpuModel | None) -> dict[str, Any] | None:
    return (
        None
        if model is None
        else {
            "key": model.key,
            "name": model.name,
            "memory_gib": model.memory_gib,
            "compute_capability": model.compute_capability,
        }
    )
