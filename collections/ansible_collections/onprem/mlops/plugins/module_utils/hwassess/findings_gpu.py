"""Findings about NVIDIA GPUs: driver/NVML visibility, PCIe link, memory health, clocks."""

from __future__ import annotations

from typing import Any

from .findings import finding

HARD_THROTTLE = (
    "hw_slowdown",
    "hw_thermal_slowdown",
    "sw_thermal_slowdown",
    "hw_power_brake_slowdown",
)
RMA_RETIRED_PAGES = 60  # NVIDIA's field guidance: replace the board at 60 retired pages
HOT_C = 85


def label(gpu: dict[str, Any]) -> str:
    name = gpu.get("name") or (gpu.get("known_model") or {}).get("name") or "unknown model"
    where = gpu.get("pci_bus_id") or gpu.get("address")
    index = gpu.get("index")
    prefix = f"GPU {index}" if index is not None else "GPU"
    return f"{prefix} ({name}, {where})" if where else f"{prefix} ({name})"


def nvml_findings(doc: dict[str, Any]) -> list[dict[str, str]]:
    nvml = doc.get("nvml") or {}
    driver_loaded = (doc.get("os") or {}).get("nvidia_module_loaded")
    pci = doc.get("pci_nvidia_devices") or []
    out = []
    if not pci and not doc.get("gpus") and not driver_loaded:
        return [
            finding(
                "gpu-none",
                "info",
                "no NVIDIA GPU found on the PCI bus",
                "Only CPU workloads can run here; see the capacity plan.",
            )
        ]
    status, error = nvml.get("status"), nvml.get("error") or ""
    if driver_loaded and status == "library_missing":
        out.append(
            finding(
                "gpu-nvml-library-missing",
                "warning",
                "the NVIDIA driver is loaded but nvidia-ml-py is not installed for this Python: "
                "GPU health (ECC, PCIe, clocks) was not assessed",
                "Install nvidia-ml-py for the Python Ansible uses on the host (pip install "
                "nvidia-ml-py) and re-run the assessment.",
            )
        )
    elif driver_loaded and status in ("init_failed", "error"):
        remedy = (
            "Reboot (or unload and reload the nvidia modules): the driver was upgraded "
            "without reloading the kernel module."
            if "mismatch" in error.lower()
            else "Check dmesg for NVRM errors and nvidia-smi; reinstall the driver (phase 3) "
            "if it stays broken."
        )
        out.append(finding("gpu-nvml-error", "critical", f"NVML failed: {error}", remedy))
    seen = {g.get("pci_bus_id") for g in doc.get("gpus") or []}
    for dev in pci:
        if dev["address"] in seen:
            continue
        driver = dev.get("driver")
        if driver == "vfio-pci":
            out.append(
                finding(
                    "gpu-passthrough",
                    "info",
                    f"{label(dev)} is bound to vfio-pci (for a VM)",
                    "Leave it if the GPU is meant for a virtual machine; otherwise unbind "
                    "vfio-pci.",
                )
            )
            continue
        why = "no driver bound" if not driver else f"bound to {driver}"
        if driver == "nvidia" and error:
            why += f", NVML: {error}"
        out.append(
            finding(
                "gpu-not-visible-to-nvml",
                "warning" if driver != "nvidia" else "critical",
                f"{label(dev)} is on the PCI bus but not visible to NVML ({why})",
                "Install the NVIDIA driver (phase 3) and reboot; if it is installed, check dmesg "
                "for NVRM errors and that the GPU has its auxiliary power connected.",
            )
        )
    return out


def _pcie(gpu: dict[str, Any]) -> list[dict[str, str]]:
    pcie = gpu.get("pcie") or {}
    cur_w, max_w = pcie.get("current_width"), pcie.get("max_width")
    cur_g, max_g = pcie.get("current_generation"), pcie.get("max_generation")
    out = []
    if cur_w and max_w and cur_w < max_w:
        out.append(
            finding(
                "gpu-pcie-width-degraded",
                "warning",
                f"{label(gpu)} runs at PCIe x{cur_w}, expected x{max_w}",
                "Reseat the card or move it to a full x16 slot, and check the slot's lane "
                "configuration (bifurcation, riser) in the BIOS/UEFI.",
            )
        )
    if cur_g and max_g and cur_g < max_g:
        out.append(
            finding(
                "gpu-pcie-gen-below-max",
                "info",
                f"{label(gpu)} link is PCIe Gen{cur_g}, capable of Gen{max_g}",
                "Links slow down while idle: re-check under load (nvidia-smi -q -d PCIE); if it "
                "stays low, set the slot to Gen Auto / the highest generation in the BIOS.",
            )
        )
    return out


def _memory_health(gpu: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    ecc = gpu.get("ecc") or {}
    if ecc.get("supported") and ecc.get("enabled") is False:
        out.append(
            finding(
                "gpu-ecc-disabled",
                "warning",
                f"{label(gpu)} has ECC turned off",
                "Turn it on (nvidia-smi -i <n> -e 1) and reset the GPU or reboot.",
            )
        )
    uncorrected = max((ecc.get(s) or {}).get("uncorrected") or 0 for s in ("volatile", "aggregate"))
    corrected = max((ecc.get(s) or {}).get("corrected") or 0 for s in ("volatile", "aggregate"))
    if uncorrected:
        out.append(
            finding(
                "gpu-ecc-uncorrected",
                "critical",
                f"{label(gpu)} reports {uncorrected} uncorrected ECC errors",
                "Drain the GPU, run dcgmi diag -r 3 and open a support case (RMA) if errors recur.",
            )
        )
    if corrected:
        out.append(
            finding(
                "gpu-ecc-corrected",
                "info",
                f"{label(gpu)} reports {corrected} corrected ECC errors",
                "Corrected errors are handled by the GPU; watch the trend in monitoring.",
            )
        )
    pages = gpu.get("retired_pages") or {}
    retired = (pages.get("single_bit") or 0) + (pages.get("double_bit") or 0)
    if retired >= RMA_RETIRED_PAGES:
        out.append(
            finding(
                "gpu-retired-pages-limit",
                "critical",
                f"{label(gpu)} has {retired} retired pages",
                "The board has reached the retirement limit: replace it (RMA).",
            )
        )
    if pages.get("pending"):
        out.append(
            finding(
                "gpu-retired-pages-pending",
                "warning",
                f"{label(gpu)} has page retirements pending",
                "Reset the GPU (nvidia-smi -r) or reboot to retire the pages.",
            )
        )
    rows = gpu.get("remapped_rows") or {}
    if rows.get("failure"):
        out.append(
            finding(
                "gpu-row-remap-failure",
                "critical",
                f"{label(gpu)} failed to remap a memory row",
                "The GPU memory is degraded beyond repair: replace the board (RMA).",
            )
        )
    if rows.get("pending"):
        out.append(
            finding(
                "gpu-remapped-rows-pending",
                "warning",
                f"{label(gpu)} has row remappings pending",
                "Reset the GPU (nvidia-smi -r) or reboot to apply them.",
            )
        )
    return out


def _operation(gpu: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    hard = [r for r in gpu.get("throttle_reasons") or [] if r in HARD_THROTTLE]
    if hard:
        out.append(
            finding(
                "gpu-throttled",
                "warning",
                f"{label(gpu)} is slowed down: {', '.join(hard)}",
                "Check cooling and airflow, power supply cabling and the BMC's power capping.",
            )
        )
    temp = gpu.get("temperature_c")
    if isinstance(temp, (int, float)) and temp >= HOT_C:
        out.append(
            finding(
                "gpu-temperature-high",
                "warning",
                f"{label(gpu)} is at {temp} °C",
                "Improve cooling (fan profile, airflow, blanking panels) before long "
                "training runs.",
            )
        )
    power = gpu.get("power") or {}
    enforced, default = power.get("enforced_limit_w"), power.get("default_limit_w")
    if enforced and default and enforced < 0.95 * default:
        out.append(
            finding(
                "gpu-power-limit-reduced",
                "warning",
                f"{label(gpu)} is capped at {enforced} W (default {default} W)",
                "Restore the default limit (nvidia-smi -pl) unless the cap is intended.",
            )
        )
    if gpu.get("persistence_mode") is False:
        out.append(
            finding(
                "gpu-persistence-disabled",
                "info",
                f"{label(gpu)} has persistence mode off",
                "Phase 3 runs nvidia-persistenced; without it the driver re-initialises per job.",
            )
        )
    mig = gpu.get("mig") or {}
    if mig and mig.get("enabled") != mig.get("pending"):
        out.append(
            finding(
                "gpu-mig-change-pending",
                "info",
                f"{label(gpu)} has a MIG mode change pending",
                "Reset the GPU or reboot to apply it.",
            )
        )
    if gpu.get("errors"):
        out.append(
            finding(
                "gpu-query-errors",
                "warning",
                f"{label(gpu)}: {len(gpu['errors'])} NVML queries failed ({gpu['errors'][0]})",
                "Check dmesg for Xid errors; run nvidia-smi -q to see which values are missing.",
            )
        )
    return out


def gpu_findings(doc: dict[str, Any]) -> list[dict[str, str]]:
    out = nvml_findings(doc)
    nvml_bus_ids = set()
    for gpu in doc.get("gpus") or []:
        nvml_bus_ids.add(gpu.get("pci_bus_id"))
        out += _pcie(gpu) + _memory_health(gpu) + _operation(gpu)
    # GPUs without a working driver: the PCIe link is still visible in sysfs.
    for dev in doc.get("pci_nvidia_devices") or []:
        if dev["address"] not in nvml_bus_ids:
            out += [f for f in _pcie(dev) if f["id"] == "gpu-pcie-width-degraded"]
    return out


def bench_findings(bench: dict[str, Any] | None) -> list[dict[str, str]]:
    if not bench:
        return []
    out = []
    disk = bench.get("disk") or {}
    if disk.get("status") == "ok" and min(disk["write_mbps"], disk["read_mbps"]) < 200:
        out.append(
            finding(
                "bench-disk-slow",
                "warning",
                f"data path disk: write {disk['write_mbps']} MB/s, read {disk['read_mbps']} MB/s",
                "Under 200 MB/s starves GPU training on image and text data: use SSD/NVMe.",
            )
        )
    for dev in (bench.get("gpu") or {}).get("devices", []):
        for key, cmp in (dev.get("datasheet") or {}).items():
            if isinstance(cmp, dict) and cmp.get("far_below"):
                out.append(
                    finding(
                        "bench-gpu-below-datasheet",
                        "warning",
                        f"GPU {dev.get('index')} ({dev.get('name')}): {key} {dev.get(key)} is "
                        f"{cmp['ratio']:.0%} of the datasheet peak {cmp['peak']}",
                        "Check the power limit, clocks and throttle reasons, PCIe link and "
                        "cooling, and that no other process used the GPU during the benchmark.",
                    )
                )
    return out
