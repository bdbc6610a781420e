"""Human-readable form of an assessment document (``onprem-mlops assess --report``)."""

from __future__ import annotations

from typing import Any

GIB = 1 << 30


def _gib(value: Any) -> str:
    return f"{value / GIB:.1f} GiB" if isinstance(value, (int, float)) else "?"


def _gpu_line(gpu: dict[str, Any]) -> str:
    pcie = gpu.get("pcie") or {}
    ecc = gpu.get("ecc") or {}
    return (
        f"  GPU {gpu.get('index')}: {gpu.get('name')}  {_gib(gpu.get('memory_total_bytes'))}  "
        f"CC {gpu.get('compute_capability')}  PCIe Gen{pcie.get('current_generation')}"
        f"/{pcie.get('max_generation')} x{pcie.get('current_width')}/{pcie.get('max_width')}  "
        f"ECC {'on' if ecc.get('enabled') else 'off'}  {gpu.get('temperature_c')} C  "
        f"bus {gpu.get('pci_bus_id')}"
    )


def render(doc: dict[str, Any]) -> str:
    cpu, mem, osd = doc.get("cpu") or {}, doc.get("memory") or {}, doc.get("os") or {}
    dist = osd.get("distribution") or {}
    nvml = doc.get("nvml") or {}
    lines = [
        f"Host {(doc.get('host') or {}).get('hostname')}  "
        f"(assessed {doc.get('generated_at')}, schema {doc.get('schema_version')})",
        f"OS      {dist.get('pretty_name')}, kernel {osd.get('kernel')}, {osd.get('boot_mode')}"
        f", Secure Boot {osd.get('secure_boot')}, virtualization {osd.get('virtualization')}",
        f"CPU     {cpu.get('model')}: {cpu.get('sockets')} socket(s), "
        f"{cpu.get('physical_cores')} cores, {cpu.get('logical_cpus')} threads, "
        f"{cpu.get('usable_cpus')} usable; {' '.join(cpu.get('instruction_sets') or [])}",
        f"Memory  {_gib(mem.get('total_bytes'))} total, {_gib(mem.get('available_bytes'))} "
        f"available, ECC {'visible' if (mem.get('ecc') or {}).get('visible') else 'not visible'}",
        "Disks",
    ]
    for m in (doc.get("disks") or {}).get("mounts") or []:
        lines.append(
            f"  {m['mountpoint']:<20} {m['fstype']:<8} {_gib(m.get('size_bytes')):>12} "
            f"size {_gib(m.get('available_bytes')):>12} free  {m.get('media')}"
        )
    lines.append("Network")
    for i in (doc.get("network") or {}).get("interfaces") or []:
        speed = f"{i['speed_mbps']} Mb/s" if i.get("speed_mbps") else "speed ?"
        kind = "physical" if i.get("physical") else "virtual"
        lines.append(
            f"  {i['name']:<12} {i.get('operstate')!s:<6} {speed:<12} MTU {i.get('mtu')} {kind}"
        )
    lines.append(
        f"GPUs    NVML {nvml.get('status')}, driver {nvml.get('driver_version')}, "
        f"CUDA {nvml.get('cuda_driver_version')}"
    )
    lines += [_gpu_line(g) for g in doc.get("gpus") or []]
    for dev in doc.get("pci_nvidia_devices") or []:
        model = (dev.get("known_model") or {}).get("name") or f"10de:{dev.get('device_id')}"
        lines.append(f"  PCI {dev['address']}: {model}, driver {dev.get('driver') or 'none'}")
    if doc.get("benchmarks"):
        lines.append("Benchmarks")
        for name, result in doc["benchmarks"].items():
            if isinstance(result, dict):
                values = ", ".join(f"{k}={v}" for k, v in result.items() if k != "status")
                lines.append(f"  {name:<11} {result.get('status')}: {values}")
    lines.append("Findings")
    for f in doc.get("findings") or []:
        lines.append(f"  [{f['severity']:<8}] {f['id']}: {f['message']}")
        lines.append(f"             -> {f['remedy']}")
    return "\n".join(lines) + "\n"
