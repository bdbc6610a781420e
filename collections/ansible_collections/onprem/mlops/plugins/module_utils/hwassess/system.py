"""Operating system: distribution, kernel, boot security, drivers, IOMMU, virtualization."""

from __future__ import annotations

import platform
from typing import Any

from ._fs import HostFS, parse_key_values

EFI_GLOBAL_GUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
# (DMI sys_vendor or product_name fragment, virtualization type)
HYPERVISORS = (
    ("kvm", "kvm"),
    ("qemu", "kvm"),
    ("vmware", "vmware"),
    ("virtualbox", "virtualbox"),
    ("microsoft corporation", "hyper-v"),
    ("xen", "xen"),
    ("amazon ec2", "kvm"),
    ("google compute engine", "kvm"),
    ("openstack", "kvm"),
)
# Binaries that mean "a container runtime is installed" (looked up in the usual directories).
RUNTIME_BINARIES = {
    "docker": "docker",
    "podman": "podman",
    "containerd": "containerd",
    "nerdctl": "nerdctl",
    "nvidia_container_toolkit": "nvidia-ctk",
    "nvidia_container_runtime": "nvidia-container-runtime",
}
BIN_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin", "/sbin", "/snap/bin")


def _secure_boot(fs: HostFS) -> str:
    if not fs.is_dir("/sys/firmware/efi"):
        return "not_applicable"  # legacy BIOS boot: no Secure Boot
    for path in (
        f"/sys/firmware/efi/efivars/SecureBoot-{EFI_GLOBAL_GUID}",
        f"/sys/firmware/efi/vars/SecureBoot-{EFI_GLOBAL_GUID}/data",
    ):
        data = fs.read_bytes(path)
        if data:
            # efivarfs prefixes the value with 4 bytes of attributes.
            value = data[4] if path.endswith(EFI_GLOBAL_GUID) and len(data) > 4 else data[-1]
            return "enabled" if value == 1 else "disabled"
    return "unknown"


def _modules(fs: HostFS) -> set[str]:
    return {line.split()[0] for line in (fs.read("/proc/modules") or "").splitlines() if line}


def _nouveau_blacklisted(fs: HostFS) -> bool:
    for directory in ("/etc/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d"):
        for name in fs.listdir(directory):
            for line in (fs.read(f"{directory}/{name}") or "").splitlines():
                words = line.split()
                if words[:2] == ["blacklist", "nouveau"]:
                    return True
    return "modprobe.blacklist=nouveau" in (fs.read("/proc/cmdline") or "")


def _nvidia_driver_version(fs: HostFS) -> str | None:
    version = fs.read_line("/sys/module/nvidia/version")
    if version:
        return version
    text = fs.read("/proc/driver/nvidia/version") or ""
    for word in text.split():
        if word.count(".") in (1, 2) and word.replace(".", "").isdigit():
            return word
    return None


def _iommu(fs: HostFS) -> dict[str, Any]:
    cmdline = (fs.read("/proc/cmdline") or "").split()
    options = [o for o in cmdline if o.startswith(("intel_iommu=", "amd_iommu=", "iommu="))]
    groups = len(fs.listdir("/sys/kernel/iommu_groups"))
    return {
        "enabled": groups > 0 or bool(fs.listdir("/sys/class/iommu")),
        "groups": groups,
        "passthrough": "iommu=pt" in cmdline,
        "kernel_options": options,
    }


def _virtualization(fs: HostFS, hypervisor_flag: bool) -> str:
    dmi = " ".join(
        (fs.read_line(f"/sys/class/dmi/id/{key}") or "").lower()
        for key in ("sys_vendor", "product_name", "bios_vendor")
    )
    for fragment, kind in HYPERVISORS:
        if fragment in dmi:
            return kind
    return "unknown-hypervisor" if hypervisor_flag else "none"


def _container(fs: HostFS) -> str | None:
    environ = (fs.read("/proc/1/environ") or "").split("\0")
    for item in environ:
        if item.startswith("container="):
            return item.split("=", 1)[1] or "unknown"
    if fs.exists("/.dockerenv"):
        return "docker"
    if fs.exists("/run/.containerenv"):
        return "podman"
    cgroups = fs.read("/proc/1/cgroup") or ""
    for marker, kind in (("kubepods", "kubernetes"), ("docker", "docker"), ("lxc", "lxc")):
        if marker in cgroups:
            return kind
    return None


def _runtimes(fs: HostFS) -> dict[str, bool]:
    return {
        key: any(fs.exists(f"{directory}/{binary}") for directory in BIN_DIRS)
        for key, binary in RUNTIME_BINARIES.items()
    }


def probe(fs: HostFS, hypervisor_flag: bool) -> dict[str, Any]:
    release = parse_key_values(fs.read("/etc/os-release") or fs.read("/usr/lib/os-release"))
    kernel = fs.read_line("/proc/sys/kernel/osrelease") or (platform.release() if fs.live else None)
    modules = _modules(fs)
    container = _container(fs)
    return {
        "distribution": {
            "id": release.get("ID"),
            "version_id": release.get("VERSION_ID"),
            "codename": release.get("VERSION_CODENAME"),
            "pretty_name": release.get("PRETTY_NAME"),
        },
        "kernel": kernel,
        "architecture": fs.read_line("/proc/sys/kernel/arch")
        or (platform.machine() if fs.live else None),
        "boot_mode": "uefi" if fs.is_dir("/sys/firmware/efi") else "bios",
        "secure_boot": _secure_boot(fs),
        "kernel_headers": bool(kernel) and fs.exists(f"/lib/modules/{kernel}/build"),
        "nouveau_loaded": "nouveau" in modules,
        "nouveau_blacklisted": _nouveau_blacklisted(fs),
        "nvidia_module_loaded": "nvidia" in modules,
        "nvidia_driver_version": _nvidia_driver_version(fs),
        "iommu": _iommu(fs),
        "virtualization": _virtualization(fs, hypervisor_flag),
        "container": {"detected": container is not None, "type": container},
        "container_runtimes": _runtimes(fs),
    }
