"""Decisions of the nvidia_driver and cuda_toolkit roles, as pure functions.

Everything a role decides about NVIDIA software lives here so that it can be unit-tested
(tests/unit/test_nvidia_*.py) without a GPU: which GPU generation a PCI id or compute
capability means, which driver branch and kernel-module flavour that generation allows,
which packages a source (Debian/Ubuntu archive, NVIDIA's CUDA repository, local .deb files)
provides on which OS, what Secure Boot means for the install, whether a reboot is needed and
whether the loaded kernel module and the user-space libraries disagree (NVML "driver/library
version mismatch").

Filters (``onprem.mlops.<name>``):

- ``nvidia_parse_pci``: ``sysfs scan text -> [gpu]`` (display controllers of vendor 0x10de)
- ``nvidia_gpus_from_assessment``: ``onprem_assessment -> [gpu]``
- ``nvidia_secure_boot_state``: ``(efi_present, base64 SecureBoot efivar) -> state``
- ``nvidia_driver_plan``: everything the role installs, or the errors that stop it
- ``nvidia_parse_probe``: ``key=value probe text -> dict``
- ``nvidia_version_status``: loaded module vs installed module vs user-space libraries
- ``nvidia_reboot_decision``: reboot needed, why, and whether the role may reboot itself
- ``nvidia_owned_packages``: installed package names that belong to the driver (to hold)
- ``cuda_toolkit_plan``: CUDA toolkit packages and paths for a source and version
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

SOURCES = ("distro", "cuda_repo", "local")
KERNEL_MODULE_FLAVOURS = ("auto", "open", "proprietary")
SECURE_BOOT_ACTIONS = ("stop", "enroll_mok")

# Driver branches each source offers per OS ("<id> <version>", lower case).
DISTRO_BRANCHES: dict[str, tuple[str, ...]] = {
    "debian 12": ("535",),
    "ubuntu 22.04": ("470", "535", "550", "570", "580"),
    "ubuntu 24.04": ("535", "550", "570", "580"),
}
CUDA_REPO_BRANCHES: tuple[str, ...] = ("535", "550", "560", "565", "570", "575", "580")
CUDA_REPO_DISTROS = {
    "debian 12": "debian12",
    "ubuntu 22.04": "ubuntu2204",
    "ubuntu 24.04": "ubuntu2404",
}
CUDA_REPO_ARCHES = {"x86_64": "x86_64", "aarch64": "sbsa"}

GENERATIONS = (
    "kepler",
    "maxwell",
    "pascal",
    "volta",
    "turing",
    "ampere",
    "ada",
    "hopper",
    "blackwell",
)
# Oldest driver branch that supports a generation, and the newest (None: still supported).
MIN_BRANCH = {
    "kepler": 390,
    "maxwell": 390,
    "pascal": 390,
    "volta": 390,
    "turing": 418,
    "ampere": 470,
    "ada": 525,
    "hopper": 525,
    "blackwell": 570,
}
MAX_BRANCH = {"kepler": 470, "maxwell": 580, "pascal": 580, "volta": 580}
# Open kernel modules drive Turing and newer; Blackwell is supported by them only.
OPEN_CAPABLE = frozenset({"turing", "ampere", "ada", "hopper", "blackwell"})
OPEN_ONLY = frozenset({"blackwell"})
# From this branch on NVIDIA installs the open modules by default on GPUs that support them.
OPEN_DEFAULT_FROM = 560

# PCI device id ranges (inclusive) of each generation's GPUs (https://pci-ids.ucw.cz, 10de).
# Ordered: the first matching range wins (GP100 sits inside the Maxwell block, GH100 inside
# the GA10x block).
PCI_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x15F0, 0x15FF, "pascal"),
    (0x0FC0, 0x12FF, "kepler"),
    (0x1340, 0x17FF, "maxwell"),
    (0x1B00, 0x1D7F, "pascal"),
    (0x1D80, 0x1DFF, "volta"),
    (0x1E00, 0x1FFF, "turing"),
    (0x2080, 0x20FF, "ampere"),
    (0x2180, 0x21FF, "turing"),
    (0x2300, 0x23FF, "hopper"),
    (0x2200, 0x25FF, "ampere"),
    (0x2600, 0x28FF, "ada"),
    (0x2900, 0x2FFF, "blackwell"),
)

# Package names of the driver (for holds, pins and the unattended-upgrades blacklist) and
# NVIDIA packages that belong to other roles (container toolkit, CUDA toolkit).
_DRIVER_PACKAGE_RE = re.compile(
    r"^(nvidia-|libnvidia-|libcuda1|libnvcuvid1|libnvoptix1|firmware-nvidia-|"
    r"xserver-xorg-video-nvidia|cuda-drivers|linux-modules-nvidia-|linux-objects-nvidia-|"
    r"linux-signatures-nvidia-|glx-alternative-nvidia)"
)
_NOT_DRIVER_RE = re.compile(
    r"^(nvidia-container|libnvidia-container|nvidia-docker|nvidia-cuda-|nvidia-profiler|"
    r"nvidia-opencl-dev|nvidia-visual-profiler|nvidia-openjdk|nvidia-fabricmanager-dev|"
    r"nvidia-cudnn|nvidia-gds)"
)


def _os_key(os_id: str, os_version: str) -> str:
    os_id = os_id.lower()
    version = os_version if os_id == "ubuntu" else os_version.split(".")[0]
    return f"{os_id} {version}"


# --------------------------------------------------------------------------- GPUs


def generation_from_compute_capability(capability: str | None) -> str | None:
    """'9.0' -> 'hopper'; None for an unknown or empty value."""
    if not capability:
        return None
    try:
        major, _, minor = str(capability).partition(".")
        major_i, minor_i = int(major), int(minor or 0)
    except ValueError:
        return None
    table = {3: "kepler", 5: "maxwell", 6: "pascal", 8: "ampere", 9: "hopper"}
    if major_i == 7:
        return "turing" if minor_i >= 5 else "volta"
    if major_i == 8 and minor_i == 9:
        return "ada"
    if major_i in (10, 11, 12):
        return "blackwell"
    return table.get(major_i)


def generation_from_pci_id(device_id: str | None) -> str | None:
    """'2330' or '0x2330' -> 'hopper'; None when the id is in no known range."""
    if not device_id:
        return None
    try:
        value = int(str(device_id).lower().removeprefix("0x"), 16)
    except ValueError:
        return None
    for low, high, generation in PCI_RANGES:
        if low <= value <= high:
            return generation
    return None


def _gpu(
    address: str | None, device_id: str | None, capability: str | None, name: str | None
) -> dict[str, Any]:
    generation = generation_from_compute_capability(capability) or generation_from_pci_id(device_id)
    return {
        "address": address,
        "device_id": device_id,
        "name": name,
        "compute_capability": capability,
        "generation": generation or "unknown",
    }


def parse_pci(text: str) -> list[dict[str, Any]]:
    """NVIDIA display controllers from lines '<address> <vendor> <class> <device>'.

    Lines may carry the probe's 'pci_device=' prefix; when any does, other lines are ignored.
    The role prints these lines from /sys/bus/pci/devices/*; audio functions and bridges of
    the same card (class not 0x03xxxx) are not GPUs.
    """
    lines = (text or "").splitlines()
    prefixed = [x.removeprefix("pci_device=") for x in lines if x.startswith("pci_device=")]
    gpus = []
    for line in prefixed or lines:
        words = line.split()
        if len(words) < 4:
            continue
        address, vendor, pci_class, device = words[:4]
        if vendor.lower() != "0x10de" or not pci_class.lower().startswith("0x03"):
            continue
        gpus.append(_gpu(address, device.lower().removeprefix("0x"), None, None))
    return gpus


def gpus_from_assessment(assessment: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """GPUs of an onprem.mlops.hardware_facts document: PCI devices, enriched by NVML."""
    if not assessment:
        return []
    nvml = {g.get("pci_bus_id"): g for g in assessment.get("gpus") or [] if isinstance(g, Mapping)}
    gpus = []
    for dev in assessment.get("pci_nvidia_devices") or []:
        known = dev.get("known_model") or {}
        seen = nvml.pop(dev.get("address"), {})
        gpus.append(
            _gpu(
                dev.get("address"),
                dev.get("device_id"),
                seen.get("compute_capability") or known.get("compute_capability"),
                seen.get("name") or known.get("name"),
            )
        )
    # GPUs that NVML sees but the PCI scan did not (should not happen; keep them).
    for address, seen in nvml.items():
        gpus.append(_gpu(address, None, seen.get("compute_capability"), seen.get("name")))
    return gpus


# --------------------------------------------------------------------------- Secure Boot


def secure_boot_state(efi_present: bool, efivar_b64: str | None) -> str:
    """'enabled', 'disabled', 'not_applicable' (BIOS boot) or 'unknown'.

    ``efivar_b64`` is the base64 content of efivarfs' SecureBoot-8be4df61-... file: four
    bytes of attributes, then the value (1: enabled).
    """
    if not efi_present:
        return "not_applicable"
    if not efivar_b64:
        return "unknown"
    try:
        data = base64.b64decode(efivar_b64)
    except (binascii.Error, ValueError):
        return "unknown"
    if len(data) < 5:
        return "unknown"
    return "enabled" if data[4] == 1 else "disabled"


def secure_boot_decision(
    state: str,
    action: str,
    in_container: bool = False,
    mok_key: str = "",
    mok_cert: str = "",
) -> dict[str, Any]:
    """What Secure Boot means for this host: proceed, enrol a MOK, or stop (with why)."""
    result: dict[str, Any] = {"proceed": True, "enroll_mok": False, "message": "", "error": ""}
    if in_container:
        result["message"] = "container: Secure Boot belongs to the host, not checked"
        return result
    if state != "enabled":
        if state == "unknown":
            result["message"] = (
                "Secure Boot state could not be read (EFI variables not readable); if it is "
                "enabled, the unsigned NVIDIA module will not load."
            )
        return result
    if action == "enroll_mok":
        if not mok_key or not mok_cert:
            result.update(
                proceed=False,
                error=(
                    "nvidia_driver_secure_boot_action is enroll_mok but nvidia_driver_mok_key "
                    "and nvidia_driver_mok_cert are not both set: give the paths (on the "
                    "control node) of your module signing key and its DER certificate."
                ),
            )
            return result
        result.update(
            enroll_mok=True,
            message=(
                "Secure Boot is enabled: DKMS signs the NVIDIA module with the given key; "
                "its certificate is imported into the MOK list and must be confirmed once "
                "at the console (MOK manager) during the next boot."
            ),
        )
        return result
    result.update(
        proceed=False,
        error=(
            "Secure Boot is enabled: the NVIDIA kernel module built by DKMS is unsigned and "
            "the kernel would refuse to load it. Nothing was changed. Either disable Secure "
            "Boot in the firmware setup, or set nvidia_driver_secure_boot_action: enroll_mok "
            "with nvidia_driver_mok_key / nvidia_driver_mok_cert (a key pair you create, e.g. "
            "openssl req -new -x509 -newkey rsa:2048 -nodes -days 36500 -outform DER "
            "-keyout MOK.priv -out MOK.der -subj '/CN=onprem-mlops module signing/') and "
            "nvidia_driver_mok_password, then confirm the enrolment at the console on the "
            "next boot. Allowed values of nvidia_driver_secure_boot_action: "
            + ", ".join(SECURE_BOOT_ACTIONS)
            + "."
        ),
    )
    return result


# --------------------------------------------------------------------------- the plan


def allowed_branches(source: str, os_id: str, os_version: str) -> tuple[str, ...]:
    key = _os_key(os_id, os_version)
    if source == "distro":
        return DISTRO_BRANCHES.get(key, ())
    if source == "cuda_repo":
        return CUDA_REPO_BRANCHES if key in CUDA_REPO_DISTROS else ()
    return ()  # local: whatever the admin's .deb files hold


def _module_flavour(requested: str, generations: set[str], branch: int, errors: list[str]) -> str:
    open_ok = bool(generations) and generations <= OPEN_CAPABLE
    needs_open = sorted(generations & OPEN_ONLY)
    if requested == "open" and generations and not open_ok:
        old = sorted(generations - OPEN_CAPABLE - {"unknown"})
        if old:
            errors.append(
                f"nvidia_driver_kernel_modules is open, but the open kernel modules do not "
                f"support {', '.join(old)} GPUs (Turing and newer only). Allowed here: "
                f"proprietary, auto."
            )
    if requested == "proprietary" and needs_open:
        errors.append(
            f"nvidia_driver_kernel_modules is proprietary, but {', '.join(needs_open)} GPUs "
            f"work only with the open kernel modules. Allowed here: open, auto."
        )
    if requested != "auto":
        return requested
    if needs_open or (open_ok and branch >= OPEN_DEFAULT_FROM and "unknown" not in generations):
        return "open"
    return "proprietary"


def _packages(
    key: str, source: str, branch: str, version: str, flavour: str
) -> tuple[list[str], str, str]:
    """(package specs, kernel module name, driver package pin glob)."""
    ver = f"={version}*" if version else ""
    if source == "cuda_repo":
        meta = f"nvidia-open-{branch}" if flavour == "open" else f"cuda-drivers-{branch}"
        return [f"{meta}{ver}"], "nvidia", f"{version or branch + '.'}*"
    if key.startswith("ubuntu"):
        suffix = "-open" if flavour == "open" else ""
        return (
            [
                f"nvidia-headless-{branch}-server{suffix}{ver}",
                f"nvidia-utils-{branch}-server{ver}",
            ],
            "nvidia",
            f"{version or branch + '.'}*",
        )
    # Debian's non-free packages: the headless compute set, without the X server.
    kernel = "nvidia-open-kernel-dkms" if flavour == "open" else "nvidia-kernel-dkms"
    return (
        [
            f"{kernel}{ver}",
            f"nvidia-smi{ver}",
            f"libnvidia-ml1{ver}",
            f"libcuda1{ver}",
            "nvidia-persistenced",
            "firmware-misc-nonfree",
        ],
        "nvidia-current",
        f"{version or branch + '.'}*",
    )


def driver_plan(
    os_id: str,
    os_version: str,
    source: str,
    branch: Any,
    version: str = "",
    kernel_modules: str = "auto",
    gpus: Iterable[Mapping[str, Any]] = (),
    force: bool = False,
    in_container: bool = False,
    packages_override: Iterable[str] = (),
    architecture: str = "x86_64",
) -> dict[str, Any]:
    """Everything the role will install, or ``errors`` naming the variable at fault.

    ``action`` is 'install' or 'skip' (no NVIDIA GPU and not forced). In a container
    ``kernel`` is False: DKMS may be installed but no module is built or loaded there.
    """
    errors: list[str] = []
    gpus = list(gpus)
    branch = str(branch).strip()
    version = str(version or "").strip()
    key = _os_key(os_id, os_version)
    plan: dict[str, Any] = {
        "action": "install",
        "message": "",
        "errors": errors,
        "warnings": [],
        "source": source,
        "branch": branch,
        "version": version,
        "kernel_modules": "",
        "module_name": "nvidia",
        "packages": [],
        "pin_version": "",
        "cuda_repo": {},
        "kernel": not in_container,
        "gpus": gpus,
    }
    if source not in SOURCES:
        errors.append(
            f"nvidia_driver_source '{source}' is not known. Allowed: {', '.join(SOURCES)}."
        )
        return plan
    if kernel_modules not in KERNEL_MODULE_FLAVOURS:
        errors.append(
            f"nvidia_driver_kernel_modules '{kernel_modules}' is not known. Allowed: "
            f"{', '.join(KERNEL_MODULE_FLAVOURS)}."
        )
        return plan
    if source != "local" and key not in DISTRO_BRANCHES:
        errors.append(
            f"nvidia_driver_source {source} is not supported on '{key}'. Supported: "
            f"{', '.join(sorted(DISTRO_BRANCHES))}; other systems: nvidia_driver_source local."
        )
        return plan
    allowed = allowed_branches(source, os_id, os_version)
    if not re.fullmatch(r"\d{3}", branch) or (allowed and branch not in allowed):
        errors.append(
            f"nvidia_driver_branch '{branch}' does not exist for nvidia_driver_source {source} "
            f"on {key}. Allowed: {', '.join(allowed) if allowed else 'a three-digit branch'}."
        )
        return plan
    if version and not (
        re.fullmatch(r"\d{3}(\.\d+){1,2}(-[0-9A-Za-z.+~]+)?", version)
        and version.split(".")[0] == branch
    ):
        errors.append(
            f"nvidia_driver_version '{version}' is not a version of branch {branch}: give an "
            f"exact driver version such as {branch}.261.03 (or leave it empty for the newest "
            f"of the branch)."
        )
        return plan
    if source == "cuda_repo" and architecture not in CUDA_REPO_ARCHES:
        errors.append(
            f"nvidia_driver_source cuda_repo has no packages for architecture {architecture}. "
            f"Allowed: {', '.join(CUDA_REPO_ARCHES)}."
        )
        return plan

    if not gpus and not force:
        plan["action"] = "skip"
        plan["message"] = (
            "no NVIDIA GPU found on the PCI bus: driver not installed "
            "(set nvidia_driver_force: true to install it anyway)"
        )
        return plan

    generations = {g.get("generation") or "unknown" for g in gpus}
    branch_i = int(branch)
    for generation in sorted(generations - {"unknown"}):
        low, high = MIN_BRANCH[generation], MAX_BRANCH.get(generation)
        if branch_i < low or (high is not None and branch_i > high):
            allowed_here = [b for b in allowed if low <= int(b) <= (high or 999)]
            names = sorted(
                {
                    g.get("name") or g.get("device_id") or "?"
                    for g in gpus
                    if g.get("generation") == generation
                }
            )
            errors.append(
                f"nvidia_driver_branch {branch} does not support the {generation} GPUs "
                f"({', '.join(names)}) of this host: needs "
                f"{low}{'-' + str(high) if high else ' or newer'}. Allowed for "
                f"nvidia_driver_source {source} here: "
                f"{', '.join(allowed_here) if allowed_here else 'none (use another source)'}."
            )
    if "unknown" in generations:
        plan["warnings"].append(
            "a GPU of unknown generation was found: the branch could not be checked against it"
        )
    flavour = _module_flavour(kernel_modules, generations - {"unknown"}, branch_i, errors)
    if errors:
        return plan

    packages, module, pin = _packages(key, source, branch, version, flavour)
    override = [p for p in packages_override if p]
    if override:
        packages = override
    elif source == "local":
        errors.append(
            "nvidia_driver_source local needs nvidia_driver_packages: the package names "
            "(from nvidia_driver_local_packages_dir) to install, e.g. [nvidia-kernel-dkms, "
            "nvidia-smi, libnvidia-ml1, nvidia-persistenced]."
        )
        return plan
    plan.update(kernel_modules=flavour, module_name=module, packages=packages, pin_version=pin)
    if source == "cuda_repo":
        plan["cuda_repo"] = {
            "distro": CUDA_REPO_DISTROS[key],
            "arch": CUDA_REPO_ARCHES[architecture],
        }
    if not gpus:
        plan["message"] = "no NVIDIA GPU found, installing anyway (nvidia_driver_force)"
    return plan


def headers_packages(os_id: str, kernel: str) -> list[str]:
    """Headers for the running kernel, and the meta package that follows kernel upgrades."""
    packages = [f"linux-headers-{kernel}"]
    # Distribution kernels are named <version>-<abi>-<flavour>: 6.1.0-18-cloud-amd64.
    match = re.fullmatch(r"\d+\.\d+\.\d+-\d+-([a-z0-9-]+)", kernel)
    flavour = match.group(1) if match else ""
    metas = {
        "debian": ("amd64", "arm64", "cloud-amd64", "cloud-arm64", "rt-amd64", "rt-arm64"),
        "ubuntu": ("generic", "lowlatency", "aws", "azure", "gcp", "oracle", "nvidia"),
    }
    if flavour in metas.get(os_id.lower(), ()):
        packages.append(f"linux-headers-{flavour}")
    return packages


# --------------------------------------------------------------------------- after install


def parse_probe(text: str) -> dict[str, str]:
    """The role's probe prints 'key=value' lines; later lines win, blank values stay ''."""
    result: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[a-z_]+", key.strip()):
            result[key.strip()] = value.strip()
    return result


_VERSION_RE = re.compile(r"\b(\d{3}\.\d+(?:\.\d+)?)\b")


def _driver_version(text: str | None) -> str:
    """'535.261.03-1' / 'NVRM version: ... Kernel Module  535.261.03  Tue ...' -> '535.261.03'."""
    match = _VERSION_RE.search(text or "")
    return match.group(1) if match else ""


def version_status(
    loaded: str = "", installed_module: str = "", userspace: str = "", smi_output: str = ""
) -> dict[str, Any]:
    """Compare the loaded kernel module, the module on disk and the user-space NVML library.

    ``loaded``: /sys/module/nvidia/version or /proc/driver/nvidia/version; ``installed_module``:
    ``modinfo -F version``; ``userspace``: the libnvidia-ml package version or library file
    name; ``smi_output``: what nvidia-smi printed (it names the mismatch itself).
    """
    loaded_v = _driver_version(loaded)
    module_v = _driver_version(installed_module)
    user_v = _driver_version(userspace)
    mismatch = False
    messages = []
    if "version mismatch" in (smi_output or "").lower():
        mismatch = True
        messages.append("nvidia-smi reports: Driver/library version mismatch")
    if loaded_v and user_v and loaded_v != user_v:
        mismatch = True
        messages.append(
            f"the loaded kernel module is {loaded_v} but the user-space libraries (NVML) are "
            f"{user_v}: CUDA and nvidia-smi fail until the {user_v} module is loaded (reboot)"
        )
    stale = bool(loaded_v and module_v and loaded_v != module_v)
    if stale:
        messages.append(f"the loaded kernel module is {loaded_v}, the installed one is {module_v}")
    return {
        "loaded": loaded_v,
        "installed_module": module_v,
        "userspace": user_v,
        "mismatch": mismatch,
        "stale_module": stale,
        "message": "; ".join(messages),
    }


def reboot_decision(
    in_container: bool,
    nouveau_loaded: bool,
    nvidia_loaded: bool,
    module_load_failed: bool = False,
    stale_module: bool = False,
    mismatch: bool = False,
    mok_pending: bool = False,
    auto_reboot: bool = False,
) -> dict[str, Any]:
    """Whether the host must reboot for the driver to work, why, and who reboots it.

    A freshly installed driver is loaded with modprobe when nothing holds the GPU; a reboot is
    needed only when nouveau still drives it, an older nvidia module is loaded, the new module
    failed to load, or a MOK enrolment waits for confirmation at the console. The role never
    reboots by itself for a MOK enrolment: someone must be at the console to confirm it.
    """
    reasons = []
    if in_container:
        return {"required": False, "reasons": [], "reboot_now": False, "message": ""}
    if nouveau_loaded:
        reasons.append("nouveau is loaded (now blacklisted; it leaves at the next boot)")
    if stale_module or mismatch:
        reasons.append("an older nvidia kernel module is loaded (driver/library version mismatch)")
    if module_load_failed and not nouveau_loaded and not nvidia_loaded:
        reasons.append("the nvidia kernel module failed to load (see dmesg)")
    if mok_pending:
        reasons.append("the module signing certificate waits for MOK enrolment at the console")
    required = bool(reasons)
    reboot_now = required and auto_reboot and not mok_pending
    if not required:
        message = ""
    elif reboot_now:
        message = "rebooting now (nvidia_driver_reboot: true): " + "; ".join(reasons)
    else:
        hint = (
            "reboot with someone at the console to confirm the MOK enrolment"
            if mok_pending
            else "reboot it when convenient, or set nvidia_driver_reboot: true"
        )
        message = "REBOOT REQUIRED: " + "; ".join(reasons) + f". {hint}, then re-run the play."
    return {"required": required, "reasons": reasons, "reboot_now": reboot_now, "message": message}


def owned_packages(installed: Iterable[str], plan: Mapping[str, Any] | None = None) -> list[str]:
    """Installed packages that belong to the driver: held, pinned, kept from unattended-upgrades.

    NVIDIA packages of other roles (container toolkit, CUDA toolkit) are left alone.
    """
    names = {str(n).split(":")[0] for n in installed}
    # Firmware for every kind of device: it keeps its normal (security) upgrades.
    never = {"firmware-misc-nonfree"}
    extra = {p.split("=")[0] for p in (plan or {}).get("packages", []) if isinstance(p, str)}
    owned = {n for n in names if _DRIVER_PACKAGE_RE.match(n) and not _NOT_DRIVER_RE.match(n)}
    return sorted((owned | (extra & names)) - never)


def apt_policy(text: str) -> dict[str, dict[str, str | None]]:
    """``apt-cache policy NAME...`` -> {name: {installed, candidate}} (None for '(none)')."""
    result: dict[str, dict[str, str | None]] = {}
    name = None
    for line in (text or "").splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            name = line[:-1].split(":")[0]
            result[name] = {"installed": None, "candidate": None}
            continue
        key, _, value = line.strip().partition(": ")
        if name and key in ("Installed", "Candidate"):
            result[name][key.lower()] = None if value == "(none)" else value
    return result


def apt_unsatisfied(specs: Iterable[str], policy: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Package specs ('name' or 'name=version*') that the installed packages do not satisfy.

    The role refreshes the apt cache only when this is not empty: a no-op run stays fast.
    """
    missing = []
    for spec in specs:
        name, _, version = spec.partition("=")
        installed = (policy.get(name) or {}).get("installed")
        if not installed or (version and not fnmatch.fnmatch(installed, version)):
            missing.append(spec)
    return missing


# --------------------------------------------------------------------------- CUDA toolkit

CUDA_DISTRO_VERSIONS = {
    "debian 12": ("11.8",),
    "ubuntu 22.04": ("11.5",),
    "ubuntu 24.04": ("12.0",),
}
CUDA_REPO_VERSIONS = (
    "11.8",
    "12.0",
    "12.1",
    "12.2",
    "12.3",
    "12.4",
    "12.5",
    "12.6",
    "12.8",
    "12.9",
    "13.0",
)
# Oldest driver branch each CUDA major.minor needs (CUDA release notes, Linux x86_64).
CUDA_MIN_DRIVER = {
    "11.5": 495,
    "11.8": 520,
    "12.0": 525,
    "12.1": 530,
    "12.2": 535,
    "12.3": 545,
    "12.4": 550,
    "12.5": 555,
    "12.6": 560,
    "12.8": 570,
    "12.9": 575,
    "13.0": 580,
}


def cuda_toolkit_plan(
    os_id: str, os_version: str, source: str, version: str, driver_branch: Any = ""
) -> dict[str, Any]:
    """Packages, install prefix and environment of the CUDA toolkit, or errors."""
    key = _os_key(os_id, os_version)
    version = str(version).strip()
    errors: list[str] = []
    warnings: list[str] = []
    plan: dict[str, Any] = {"errors": errors, "warnings": warnings, "packages": [], "prefix": ""}
    if source not in ("distro", "cuda_repo"):
        errors.append(f"cuda_toolkit_source '{source}' is not known. Allowed: distro, cuda_repo.")
        return plan
    if key not in CUDA_DISTRO_VERSIONS:
        errors.append(
            f"cuda_toolkit_source {source} is not supported on '{key}'. Supported: "
            f"{', '.join(sorted(CUDA_DISTRO_VERSIONS))}."
        )
        return plan
    allowed = CUDA_DISTRO_VERSIONS[key] if source == "distro" else CUDA_REPO_VERSIONS
    if version not in allowed:
        errors.append(
            f"cuda_toolkit_version '{version}' does not exist for cuda_toolkit_source {source} "
            f"on {key}. Allowed: {', '.join(allowed)}."
        )
        return plan
    if driver_branch and str(driver_branch).isdigit():
        need = CUDA_MIN_DRIVER.get(version, 0)
        if int(driver_branch) < need:
            errors.append(
                f"cuda_toolkit_version {version} needs driver branch {need} or newer, but "
                f"nvidia_driver_branch is {driver_branch}. Raise the driver branch or pick a "
                f"CUDA version for it: "
                + ", ".join(v for v in allowed if CUDA_MIN_DRIVER.get(v, 0) <= int(driver_branch))
                + "."
            )
            return plan
    if source == "distro":
        plan.update(
            packages=["nvidia-cuda-toolkit"],
            pin_packages=[
                "nvidia-cuda-toolkit",
                "nvidia-cuda-dev",
                "nvidia-profiler",
                "nvidia-opencl-dev",
                "nvidia-cuda-toolkit-doc",
            ],
            prefix="/usr",
            bin_dir="/usr/bin",
            lib_dir="",
            pin_version=f"{version}.*",
        )
    else:
        dashed = version.replace(".", "-")
        plan.update(
            packages=[f"cuda-toolkit-{dashed}"],
            pin_packages=[f"cuda-toolkit-{dashed}"],
            prefix=f"/usr/local/cuda-{version}",
            bin_dir=f"/usr/local/cuda-{version}/bin",
            lib_dir=f"/usr/local/cuda-{version}/lib64",
            pin_version="",
            cuda_repo={"distro": CUDA_REPO_DISTROS[key]},
        )
    return plan


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "nvidia_parse_pci": parse_pci,
            "nvidia_gpus_from_assessment": gpus_from_assessment,
            "nvidia_secure_boot_state": secure_boot_state,
            "nvidia_secure_boot_decision": secure_boot_decision,
            "nvidia_driver_plan": driver_plan,
            "nvidia_headers_packages": headers_packages,
            "nvidia_parse_probe": parse_probe,
            "nvidia_version_status": version_status,
            "nvidia_reboot_decision": reboot_decision,
            "nvidia_owned_packages": owned_packages,
            "nvidia_apt_policy": apt_policy,
            "nvidia_apt_unsatisfied": apt_unsatisfied,
            "cuda_toolkit_plan": cuda_toolkit_plan,
        }
