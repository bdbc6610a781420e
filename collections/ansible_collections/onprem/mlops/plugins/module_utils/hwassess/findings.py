"""Findings: what the assessment means for an ML platform, each with a remedy.

A finding is ``{"id", "severity", "message", "remedy"}``; severity is ``critical`` (the
host cannot run ML workloads reliably as it is), ``warning`` (fix before production) or
``info``. The ids are stable and listed in docs/assessment.md.
"""

from __future__ import annotations

from typing import Any

SEVERITIES = ("critical", "warning", "info")
SUPPORTED_OS = {("debian", "12"), ("ubuntu", "22.04"), ("ubuntu", "24.04")}
GIB = 1 << 30


def finding(check_id: str, severity: str, message: str, remedy: str) -> dict[str, str]:
    return {"id": check_id, "severity": severity, "message": message, "remedy": remedy}


def sort_findings(items: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(items, key=lambda f: (SEVERITIES.index(f["severity"]), f["id"]))


def has_nvidia_gpu(doc: dict[str, Any]) -> bool:
    return bool(doc.get("gpus") or doc.get("pci_nvidia_devices"))


def cpu_findings(cpu: dict[str, Any], arch: str | None) -> list[dict[str, str]]:
    out = []
    x86 = arch in ("x86_64", "amd64") or cpu.get("vendor") in ("GenuineIntel", "AuthenticAMD")
    if x86 and "avx2" not in cpu.get("instruction_sets", []):
        out.append(
            finding(
                "cpu-avx2-missing",
                "warning",
                f"CPU {cpu.get('model')} has no AVX2",
                "Prebuilt PyTorch, ONNX Runtime and TensorFlow wheels assume AVX2: use a CPU from "
                "Haswell / Zen on for CPU-side preprocessing and inference.",
            )
        )
    usable, logical = cpu.get("usable_cpus"), cpu.get("logical_cpus")
    limit = cpu.get("cgroup_cpu_limit")
    if (usable and logical and usable < logical) or limit:
        out.append(
            finding(
                "cpu-limited",
                "info",
                f"this process may use {usable} of {logical} CPUs"
                + (f" (cgroup quota {limit} CPUs)" if limit else ""),
                "CPU figures for planning use the usable count; lift the affinity/quota if the "
                "ML workloads will run without it.",
            )
        )
    return out


def memory_findings(mem: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    ecc = mem.get("ecc") or {}
    if not ecc.get("visible"):
        out.append(
            finding(
                "memory-ecc-not-visible",
                "info",
                "ECC state of system memory is not visible to the OS",
                "Check in the BIOS/BMC that ECC DIMMs are fitted and ECC is on; load the "
                "platform's EDAC driver (e.g. skx_edac, amd64_edac) so that memory errors can "
                "be monitored.",
            )
        )
    if ecc.get("uncorrected_errors"):
        out.append(
            finding(
                "memory-ecc-uncorrected",
                "critical",
                f"{ecc['uncorrected_errors']} uncorrected memory errors reported by EDAC",
                "Identify the DIMM (edac-util -v, BMC event log) and replace it before production.",
            )
        )
    if ecc.get("corrected_errors"):
        out.append(
            finding(
                "memory-ecc-corrected",
                "warning",
                f"{ecc['corrected_errors']} corrected memory errors reported by EDAC",
                "Watch the count; a rising count on one DIMM predicts failure: plan its "
                "replacement.",
            )
        )
    shm = mem.get("shm_bytes")
    if shm is not None and shm < GIB:
        out.append(
            finding(
                "memory-shm-small",
                "warning",
                f"/dev/shm is only {shm >> 20} MiB",
                "PyTorch data-loader workers pass batches through /dev/shm: give containers "
                "--shm-size=8g (or --ipc=host) and keep the host's default (half of RAM).",
            )
        )
    limit, total = mem.get("cgroup_limit_bytes"), mem.get("total_bytes")
    if limit and total and limit < total:
        out.append(
            finding(
                "memory-cgroup-limited",
                "info",
                f"memory is limited to {limit / GIB:.1f} GiB by the cgroup "
                f"(host: {total / GIB:.1f} GiB)",
                "Planning uses the limit; lift it if the ML workloads will run without it.",
            )
        )
    return out


def disk_findings(disks: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    data = disks.get("data_path") or {}
    path, mountpoint = data.get("path"), data.get("mountpoint")
    if not data.get("exists"):
        out.append(
            finding(
                "disk-data-path-missing",
                "info",
                f"data path {path} does not exist; its filesystem was assessed ({mountpoint})",
                "Create the data directory on the filesystem meant for datasets and models, or "
                "pass the right data path to the assessment.",
            )
        )
    available, size = data.get("available_bytes"), data.get("size_bytes")
    if available is not None and size and (available < 100 * GIB or available < 0.1 * size):
        out.append(
            finding(
                "disk-data-path-low-space",
                "warning",
                f"only {available / GIB:.0f} GiB free on {mountpoint} (data path {path})",
                "Datasets, checkpoints and container images need room: free space or add a disk "
                "for the data path (see the capacity plan for the amount).",
            )
        )
    if data.get("media") == "hdd":
        out.append(
            finding(
                "disk-data-path-rotational",
                "warning",
                f"data path {path} is on a rotational disk",
                "Random reads of training data are slow on HDDs: put the data path on SSD or NVMe.",
            )
        )
    return out


def network_findings(net: dict[str, Any]) -> list[dict[str, str]]:
    physical = [i for i in net.get("interfaces", []) if i.get("physical")]
    up = [i for i in physical if i.get("operstate") == "up"]
    if not physical or any(p.get("state") == "ACTIVE" for p in net.get("infiniband", [])):
        return []
    speeds = [i["speed_mbps"] for i in up if i.get("speed_mbps")]
    if speeds and max(speeds) >= 10000:
        return []
    if not up:
        message = "no physical network link is up"
    elif not speeds:
        message = "the physical links do not report a speed (virtual NICs?)"
    else:
        message = f"fastest physical link is {max(speeds) / 1000:g} Gb/s"
    return [
        finding(
            "network-no-fast-link",
            "info",
            message,
            "Use 10 GbE or faster for shared datasets and model storage, 100 Gb/s InfiniBand or "
            "RoCE for multi-node training.",
        )
    ]


def os_findings(osd: dict[str, Any], gpu_host: bool) -> list[dict[str, str]]:
    out = []
    dist = osd.get("distribution") or {}
    if (dist.get("id"), dist.get("version_id")) not in SUPPORTED_OS:
        out.append(
            finding(
                "os-not-supported",
                "warning",
                f"{dist.get('pretty_name') or 'unknown OS'} is not supported by this project",
                "Install Debian 12, Ubuntu 22.04 or Ubuntu 24.04.",
            )
        )
    container = (osd.get("container") or {}).get("type")
    if container:
        out.append(
            finding(
                "os-container",
                "info",
                f"the assessment ran inside a container ({container})",
                "Kernel, firmware and PCI figures are the host's; CPU, memory and disk are what "
                "the container sees. Assess the host itself for the capacity plan.",
            )
        )
    if osd.get("virtualization") not in (None, "none"):
        out.append(
            finding(
                "os-virtualized",
                "info",
                f"host is a virtual machine ({osd['virtualization']})",
                "GPUs must be passed through (VFIO) or use licensed vGPU; benchmarks reflect "
                "the VM.",
            )
        )
    runtimes = osd.get("container_runtimes") or {}
    if not any(runtimes.get(k) for k in ("docker", "podman", "containerd")):
        out.append(
            finding(
                "os-no-container-runtime",
                "info",
                "no container runtime (docker, podman, containerd)",
                "Phase 3 installs one, with the NVIDIA Container Toolkit on GPU hosts.",
            )
        )
    if gpu_host:
        out += _gpu_host_os_findings(osd, container is not None)
    return out


def _gpu_host_os_findings(osd: dict[str, Any], in_container: bool) -> list[dict[str, str]]:
    out = []
    kernel = osd.get("kernel")
    if osd.get("nouveau_loaded"):
        out.append(
            finding(
                "os-nouveau-loaded",
                "critical",
                "the nouveau driver is loaded",
                "Blacklist nouveau (/etc/modprobe.d), run update-initramfs -u and reboot; phase 3 "
                "does this before installing the NVIDIA driver.",
            )
        )
    if not in_container and not osd.get("kernel_headers") and not osd.get("nvidia_module_loaded"):
        out.append(
            finding(
                "os-kernel-headers-missing",
                "warning",
                f"no headers for the running kernel {kernel}",
                f"DKMS builds the NVIDIA module against them: install linux-headers-{kernel}.",
            )
        )
    if osd.get("secure_boot") == "enabled" and not osd.get("nvidia_module_loaded"):
        out.append(
            finding(
                "os-secure-boot-enabled",
                "warning",
                "Secure Boot is on: unsigned kernel modules will not load",
                "Use signed driver packages (Ubuntu's linux-modules-nvidia) or enrol "
                "a MOK key that signs the DKMS module (mokutil --import), or turn Secure Boot off.",
            )
        )
    elif osd.get("secure_boot") == "unknown":
        out.append(
            finding(
                "os-secure-boot-unknown",
                "info",
                "UEFI boot, but the Secure Boot state is not readable",
                "Check with mokutil --sb-state before installing the NVIDIA driver.",
            )
        )
    iommu = osd.get("iommu") or {}
    if iommu.get("enabled") and not iommu.get("passthrough"):
        out.append(
            finding(
                "os-iommu-translated",
                "info",
                "the IOMMU translates DMA (no iommu=pt)",
                "Unless GPUs are passed to VMs, add iommu=pt to the kernel command line: "
                "translation slows GPU peer-to-peer and GPUDirect RDMA.",
            )
        )
    runtimes = osd.get("container_runtimes") or {}
    if any(runtimes.get(k) for k in ("docker", "podman", "containerd")) and not (
        runtimes.get("nvidia_container_toolkit") or runtimes.get("nvidia_container_runtime")
    ):
        out.append(
            finding(
                "os-nvidia-container-toolkit-missing",
                "info",
                "a container runtime is installed without the NVIDIA Container Toolkit",
                "Phase 3 installs nvidia-container-toolkit so that containers can use the GPUs.",
            )
        )
    return out
