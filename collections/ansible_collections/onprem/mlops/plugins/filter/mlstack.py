"""Decisions of the ml_stack role, as pure functions exposed as Jinja filters.

Everything the role decides (which PyTorch build a host gets, where pip looks for it, which
wheel platforms a wheelhouse is built for, whether an install source is usable, whether the
post-install check passed) is computed here, so that each decision is unit tested
(tests/unit/test_mlstack*.py) instead of being buried in Jinja expressions.

Filters (``onprem.mlops.<name>``):

- ``mlstack_gpu_info(assessment, nvidia_smi_stdout)``: GPUs, driver and CUDA version of a host
- ``mlstack_torch_variant(requested, gpu_info, cuda_builds)``: ``cpu`` or a ``cuXYZ`` build tag
- ``mlstack_torch_requirement(version, variant, pypi_cuda_build, torch_index_base)``
- ``mlstack_torch_index_url(torch_index_base, variant, pypi_cuda_build)``
- ``mlstack_install_source_errors(mode, wheelhouse_dir, index_url, ...)``: bad-input messages
- ``mlstack_pip_args(...)``: pip options for the index or the offline wheelhouse mode
- ``mlstack_pip_platforms(arch, glibc)``: ``--platform`` values for ``pip download``
- ``mlstack_wheelhouse_key(python_version, arch, variant)``: e.g. ``cp311-x86_64-cpu``
- ``mlstack_wheelhouse_builds(specs)``: one build per wheelhouse key from the hosts' specs
- ``mlstack_wheelhouse_lock(filenames)``: exact ``name==version`` lines from wheel file names
- ``mlstack_check_problems(check_result, require_cuda, torch_version)``: what is wrong after
  install; ``mlstack_import_names(requirements)``: the modules that check imports
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

# Minimum Linux x86_64 driver for each CUDA toolkit release, as shipped with its GA release
# ("CUDA Toolkit and Corresponding Driver Versions", table 3 of NVIDIA's CUDA Toolkit release
# notes, https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html). A driver at or
# above this runs every feature of that CUDA version ("full" compatibility).
CUDA_TOOLKIT_MIN_DRIVER: dict[tuple[int, int], str] = {
    (11, 8): "520.61.05",
    (12, 1): "530.30.02",
    (12, 4): "550.54.14",
    (12, 6): "560.28.03",
    (12, 8): "570.26",
    (12, 9): "575.51.03",
    (13, 0): "580.65.06",
}

# Minor version compatibility (table 2 of the same notes): applications built with any CUDA
# 11.x / 12.x / 13.x toolkit run on a driver of at least this version, except for features
# that need a newer driver (PTX JIT of code newer than the driver). Used only as a fallback.
CUDA_MINOR_COMPAT_MIN_DRIVER: dict[int, str] = {
    11: "450.80.02",
    12: "525.60.13",
    13: "580.65.06",
}

# CUDA 13.0 removed support for GPUs before Turing (compute capability < 7.5: Maxwell,
# Pascal, Volta); Blackwell (10.x, 12.x) needs CUDA 12.8 or newer; Hopper (9.0) CUDA 11.8.
CC_MAX_CUDA_BELOW_TURING = (12, 9)
CC_MIN_CUDA: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((10, 0), (12, 8)),
    ((9, 0), (11, 8)),
)

VARIANT_RE = re.compile(r"^(cpu|cu(\d{3}))$")
INSTALL_MODES = ("index", "wheelhouse")


def parse_version(text: Any) -> tuple[int, ...] | None:
    """'550.54.15' -> (550, 54, 15); None for anything that is not dotted digits."""
    if text is None:
        return None
    match = re.match(r"^\s*(\d+(?:\.\d+)*)", str(text))
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def cuda_of_tag(tag: str) -> tuple[int, int]:
    """'cu126' -> (12, 6); 'cu118' -> (11, 8); 'cu130' -> (13, 0)."""
    match = VARIANT_RE.match(tag)
    if not match or not match.group(2):
        raise ValueError(f"not a CUDA build tag: {tag!r} (expected cuXYZ, e.g. cu126)")
    digits = match.group(2)
    return int(digits[:-1]), int(digits[-1])


def _cc(value: Any) -> tuple[int, int] | None:
    version = parse_version(value)
    if not version:
        return None
    return (version[0], version[1] if len(version) > 1 else 0)


def parse_nvidia_smi(stdout: str) -> list[dict[str, str | None]]:
    """Rows of ``nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader``.

    Older nvidia-smi without ``compute_cap`` is queried for two fields only; both forms parse.
    """
    gpus: list[dict[str, str | None]] = []
    for line in (stdout or "").splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 2 or not parse_version(fields[1]):
            continue
        cap = fields[2] if len(fields) > 2 and parse_version(fields[2]) else None
        gpus.append({"name": fields[0], "driver_version": fields[1], "compute_capability": cap})
    return gpus


def gpu_info(
    assessment: Mapping[str, Any] | None, nvidia_smi_stdout: str = "", pci_gpu_count: int = 0
) -> dict[str, Any]:
    """What the role needs to know about a host's GPUs.

    ``assessment`` is ``ansible_facts.onprem_assessment`` (schema 1.0, from
    onprem.mlops.hardware_facts) or empty; ``nvidia_smi_stdout`` the output of nvidia-smi's
    query (used when the assessment has no NVML data); ``pci_gpu_count`` the number of NVIDIA
    display controllers in /sys/bus/pci. NVIDIA GPUs on the PCI bus that no driver serves
    still count as GPUs: such a host is a GPU host without a usable driver.
    """
    assessment = assessment or {}
    nvml = assessment.get("nvml") or {}
    gpus = [g for g in assessment.get("gpus") or [] if isinstance(g, Mapping)]
    pci = assessment.get("pci_nvidia_devices") or []
    info: dict[str, Any] = {
        "source": "none",
        "gpu_count": 0,
        "names": [],
        "driver_version": None,
        "cuda_driver_version": None,
        "compute_capabilities": [],
    }
    if gpus or nvml.get("driver_version"):
        info.update(
            source="assessment",
            gpu_count=len(gpus),
            names=[g.get("name") for g in gpus if g.get("name")],
            driver_version=nvml.get("driver_version"),
            cuda_driver_version=nvml.get("cuda_driver_version"),
            compute_capabilities=[
                g["compute_capability"] for g in gpus if g.get("compute_capability")
            ],
        )
    smi = parse_nvidia_smi(nvidia_smi_stdout)
    if smi and not info["driver_version"]:
        info.update(
            source="nvidia-smi",
            gpu_count=len(smi),
            names=[g["name"] for g in smi],
            driver_version=smi[0]["driver_version"],
            compute_capabilities=[g["compute_capability"] for g in smi if g["compute_capability"]],
        )
    on_bus = max(len(pci), int(pci_gpu_count or 0))
    if on_bus > info["gpu_count"]:
        info["gpu_count"] = on_bus
        if info["source"] == "none":
            info["source"] = "pci"
    info["gpu_host"] = info["gpu_count"] > 0
    return info


def _driver_supports(driver: tuple[int, ...], cuda: tuple[int, int]) -> str | None:
    """'full', 'minor' (minor version compatibility only) or None for a driver and CUDA."""
    need = CUDA_TOOLKIT_MIN_DRIVER.get(cuda)  # a release not in the table: minor compat only
    if need is not None and driver >= (parse_version(need) or ()):
        return "full"
    minor = CUDA_MINOR_COMPAT_MIN_DRIVER.get(cuda[0])
    if minor is not None and driver >= (parse_version(minor) or ()):
        return "minor"
    return None


def _cc_allows(ccs: Iterable[tuple[int, int]], cuda: tuple[int, int]) -> bool:
    for cc in ccs:
        if cc < (7, 5) and cuda > CC_MAX_CUDA_BELOW_TURING:
            return False
        for min_cc, min_cuda in CC_MIN_CUDA:
            if cc >= min_cc and cuda < min_cuda:
                return False
    return True


def torch_variant(
    requested: str,
    info: Mapping[str, Any] | None,
    cuda_builds: Sequence[str],
) -> dict[str, Any]:
    """Choose the PyTorch build for a host.

    ``requested``: ``auto``, ``cpu`` or a ``cuXYZ`` tag (taken as given). ``auto`` picks ``cpu``
    on a host without GPU, otherwise the newest of ``cuda_builds`` (the builds published for
    the pinned torch version) that the driver fully supports (its CUDA version, or the
    toolkit's minimum driver, see CUDA_TOOLKIT_MIN_DRIVER) and that every GPU's compute
    capability allows; if none, the newest one usable through CUDA minor version
    compatibility (the oldest of those); if none either, ``cpu`` with ``ok: false`` and the reason.

    Returns ``{variant, ok, compat, reason}``; ``compat`` is ``full``, ``minor`` or None.
    """
    info = info or {}
    requested = str(requested).strip()
    if requested != "auto":
        if not VARIANT_RE.match(requested):
            raise ValueError(f"unknown torch variant {requested!r}: expected auto, cpu or cuXYZ")
        return {"variant": requested, "ok": True, "compat": None, "reason": "set explicitly"}
    if not info.get("gpu_host"):
        return {"variant": "cpu", "ok": True, "compat": None, "reason": "no NVIDIA GPU found"}
    driver = parse_version(info.get("driver_version"))
    if not driver:
        return {
            "variant": "cpu",
            "ok": False,
            "compat": None,
            "reason": "NVIDIA GPU found but no working driver (nvidia-smi/NVML gave no version)",
        }
    ccs = [c for c in (_cc(x) for x in info.get("compute_capabilities") or []) if c]
    # NVML's CUDA driver version (the newest CUDA the driver supports) beats the table.
    driver_cuda = _cc(info.get("cuda_driver_version"))
    builds = sorted({b for b in cuda_builds if VARIANT_RE.match(b) and b != "cpu"}, key=cuda_of_tag)
    candidates: dict[str, list[str]] = {"full": [], "minor": []}
    for tag in builds:
        cuda = cuda_of_tag(tag)
        if not _cc_allows(ccs, cuda):
            continue
        if driver_cuda is not None and cuda <= driver_cuda:
            candidates["full"].append(tag)
            continue
        level = _driver_supports(driver, cuda)
        if level == "full" and driver_cuda is not None:
            level = "minor"  # the table says yes but the driver itself reports less
        if level:
            candidates[level].append(tag)
    for level in ("full", "minor"):
        if candidates[level]:
            # Full support: the newest build. Minor version compatibility only: the build
            # closest to what the driver supports, which needs the least forward compatibility.
            tag = candidates[level][-1 if level == "full" else 0]
            cuda = ".".join(map(str, cuda_of_tag(tag)))
            how = "" if level == "full" else " through CUDA minor version compatibility"
            return {
                "variant": tag,
                "ok": True,
                "compat": level,
                "reason": f"driver {info.get('driver_version')} runs CUDA {cuda}{how}",
            }
    oldest = cuda_of_tag(builds[0]) if builds else None
    need = CUDA_TOOLKIT_MIN_DRIVER.get(oldest) if oldest else None
    return {
        "variant": "cpu",
        "ok": False,
        "compat": None,
        "reason": (
            f"driver {info.get('driver_version')} (compute capability "
            f"{', '.join(info.get('compute_capabilities') or ['unknown'])}) runs none of the "
            f"torch builds {', '.join(builds) or '(none listed in ml_stack_torch_cuda_builds)'}"
            + (
                f"; CUDA {'.'.join(map(str, oldest))} needs driver >= {need}"
                if oldest and need
                else ""
            )
        ),
    }


def _uses_pypi_default(variant: str, pypi_cuda_build: str, torch_index_base: str) -> bool:
    return not torch_index_base and variant == pypi_cuda_build


def torch_requirement(
    version: str, variant: str, pypi_cuda_build: str = "", torch_index_base: str = ""
) -> str:
    """The pip requirement that selects exactly one torch build.

    PyTorch's own index names its builds with a local version label (``2.13.0+cpu``,
    ``2.13.0+cu126``). PyPI's Linux x86_64 torch is one CUDA build without a label; it is
    chosen with arbitrary equality (``===``) because ``==2.13.0`` also matches ``2.13.0+cpu``
    (and pip would prefer that one where both are offered).
    """
    if not VARIANT_RE.match(variant):
        raise ValueError(f"unknown torch variant {variant!r}")
    if _uses_pypi_default(variant, pypi_cuda_build, torch_index_base):
        return f"torch==={version}"
    return f"torch=={version}+{variant}"


def torch_index_url(torch_index_base: str, variant: str, pypi_cuda_build: str = "") -> str:
    """``<base>/<variant>`` (PyTorch's layout https://download.pytorch.org/whl/<tag>) or ''.

    Empty when ``torch_index_base`` is empty: torch then comes from the main index (PyPI or a
    mirror that carries the wanted build).
    """
    if not torch_index_base:
        return ""
    if not VARIANT_RE.match(variant):
        raise ValueError(f"unknown torch variant {variant!r}")
    return f"{torch_index_base.rstrip('/')}/{variant}"


def install_source_errors(
    mode: str,
    wheelhouse_dir: str = "",
    index_url: str = "",
    extra_index_urls: Sequence[str] = (),
    wheelhouse_exists: bool | None = None,
    wheelhouse_key: str = "",
) -> list[str]:
    """Messages for an unusable install source; empty when the source is fine."""
    errors: list[str] = []
    if mode not in INSTALL_MODES:
        return [
            f"ml_stack_install_mode '{mode}' is not a known install source. "
            f"Allowed: {', '.join(INSTALL_MODES)}."
        ]
    for name, url in [("ml_stack_index_url", index_url)] + [
        ("ml_stack_extra_index_urls", u) for u in extra_index_urls
    ]:
        if url and not re.match(r"^(https?|file)://\S+$", str(url)):
            errors.append(f"{name} '{url}' is not an http://, https:// or file:// URL.")
    if mode == "wheelhouse":
        if not wheelhouse_dir:
            errors.append(
                "ml_stack_install_mode 'wheelhouse' needs ml_stack_wheelhouse_dir: a directory on "
                "the control node built by playbooks/build_wheelhouse.yml. Allowed install modes: "
                "index (online, ml_stack_index_url) or wheelhouse (offline)."
            )
        elif wheelhouse_exists is False:
            errors.append(
                f"ml_stack_wheelhouse_dir '{wheelhouse_dir}' has no wheelhouse "
                f"'{wheelhouse_key}' with a SHA256SUMS manifest for this host: run "
                "playbooks/build_wheelhouse.yml against it first."
            )
    return errors


def pip_args(
    mode: str,
    wheelhouse_path: str = "",
    index_url: str = "",
    extra_index_urls: Sequence[str] = (),
    torch_index: str = "",
    ca_bundle: str = "",
) -> list[str]:
    """pip options for an install: offline (``--no-index --find-links``) or from indexes."""
    if mode == "wheelhouse":
        return ["--no-index", "--find-links", wheelhouse_path]
    if mode != "index":
        raise ValueError(f"unknown install mode {mode!r}")
    args: list[str] = []
    if index_url:
        args += ["--index-url", index_url]
    for url in [*extra_index_urls, *([torch_index] if torch_index else [])]:
        args += ["--extra-index-url", url]
    if ca_bundle:
        args += ["--cert", ca_bundle]
    return args


def pip_platforms(arch: str, glibc: str | None = None) -> list[str]:
    """``--platform`` values for a glibc Linux target, newest first.

    pip download does not widen ``manylinux_2_36`` to older manylinux tags by itself, so each
    glibc minor version down to 2.17 is listed, plus the legacy aliases.
    """
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    version = parse_version(glibc) or (2, 28)
    if version[0] != 2:
        raise ValueError(f"unexpected glibc version {glibc!r}")
    minor = version[1] if len(version) > 1 else 0
    tags = [f"manylinux_2_{m}_{arch}" for m in range(max(minor, 17), 16, -1)]
    tags.append(f"manylinux2014_{arch}")
    if arch in ("x86_64", "i686"):
        tags += [f"manylinux_2_12_{arch}", f"manylinux2010_{arch}"]
        tags += [f"manylinux_2_5_{arch}", f"manylinux1_{arch}"]
    return tags


def python_tag(python_version: str) -> str:
    """'3.11.2' -> 'cp311'."""
    version = parse_version(python_version)
    if not version or len(version) < 2:
        raise ValueError(f"not a Python version: {python_version!r}")
    return f"cp{version[0]}{version[1]}"


def wheelhouse_key(python_version: str, arch: str, variant: str) -> str:
    """Subdirectory of a wheelhouse for one target kind, e.g. ``cp311-x86_64-cpu``."""
    if not VARIANT_RE.match(variant):
        raise ValueError(f"unknown torch variant {variant!r}")
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    return f"{python_tag(python_version)}-{arch}-{variant}"


def wheelhouse_builds(specs: Iterable[Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """Merge the per-host wheelhouse specs (set by the role's plan.yml) into one build per key.

    Hosts of one key (same Python, machine and torch variant) share a wheelhouse; it is built
    for the oldest glibc among them. Different requirements or indexes for one key are an
    error: one directory cannot hold two sets of pins.
    """
    builds: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if not spec:
            continue
        key = spec["key"]
        current = builds.get(key)
        if current is None:
            builds[key] = {**spec, "hosts": list(spec.get("hosts") or [])}
            continue
        for field in ("path", "requirements", "pip_args"):
            if current.get(field) != spec.get(field):
                raise ValueError(
                    f"hosts {', '.join(current['hosts'])} and {', '.join(spec.get('hosts') or [])} "
                    f"need the wheelhouse {key} with different {field}: "
                    f"{current.get(field)} / {spec.get(field)}; give them the same ml_stack_* "
                    "settings or separate ml_stack_wheelhouse_dir values"
                )
        current["hosts"] += list(spec.get("hosts") or [])
        if (parse_version(spec.get("glibc")) or (99,)) < (
            parse_version(current.get("glibc")) or (99,)
        ):
            current["glibc"] = spec.get("glibc")
            current["platforms"] = spec.get("platforms")
    return [builds[k] for k in sorted(builds)]


WHEEL_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def wheelhouse_lock(filenames: Iterable[str]) -> list[str]:
    """Sorted ``name==version`` lines from wheel file names (PEP 427; name normalised)."""
    lines = set()
    for filename in filenames:
        match = WHEEL_RE.match(filename.rsplit("/", 1)[-1])
        if match:
            name = re.sub(r"[-_.]+", "-", match.group("name")).lower()
            lines.add(f"{name}=={match.group('version')}")
    return sorted(lines)


def requirement_errors(requirements: Sequence[str]) -> list[str]:
    """Entries of ml_stack_packages that are not pinned to one exact version."""
    return [
        r
        for r in requirements
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[0-9][^\s,;*]*$", r)
    ]


# Distribution names whose import name differs from the name with '-' turned into '_'.
IMPORT_NAMES = {
    "scikit-learn": "sklearn",
    "mlflow-skinny": "mlflow",
    "pyyaml": "yaml",
    "pillow": "PIL",
    "opencv-python": "cv2",
    "opencv-python-headless": "cv2",
    "beautifulsoup4": "bs4",
    "protobuf": "google.protobuf",
}


def import_names(requirements: Iterable[str]) -> list[str]:
    """Module names to import for requirements: ``scikit-learn==1.7.2`` -> ``sklearn``."""
    names: list[str] = []
    for requirement in requirements:
        dist = re.split(r"[\[=<>!~;\s]", str(requirement).strip(), maxsplit=1)[0].lower()
        dist = re.sub(r"[-_.]+", "-", dist)
        module = IMPORT_NAMES.get(dist, dist.replace("-", "_"))
        if dist and module not in names:
            names.append(module)
    return names


def _as_bool(value: Any, gpu_host: bool) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return gpu_host
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ValueError(f"ml_stack_require_cuda must be auto, true or false, got {value!r}")


def require_cuda(value: Any, info: Mapping[str, Any] | None) -> bool:
    """``ml_stack_require_cuda`` resolved: ``auto`` means 'this host has an NVIDIA GPU'."""
    return _as_bool(value, bool((info or {}).get("gpu_host")))


def check_problems(
    result: Mapping[str, Any] | str, must_have_cuda: bool, torch_version: str = ""
) -> list[str]:
    """What is wrong with the post-install check's JSON; empty when all is well."""
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            return [f"the check printed no JSON: {result[:200]!r}"]
    errors = result.get("import_errors") or {}
    problems = [f"{name} failed to import: {error}" for name, error in errors.items()]
    if torch_version and str(result.get("torch_version", "")).split("+")[0] != torch_version:
        problems.append(
            f"torch {result.get('torch_version')} installed, ml_stack_torch_version is "
            f"{torch_version}"
        )
    if not result.get("cpu_matmul_ok"):
        problems.append("a matrix product on the CPU failed")
    if must_have_cuda and not result.get("cuda_available"):
        problems.append(
            "no CUDA: torch.cuda.is_available() is false on a GPU host "
            f"(torch built for CUDA {result.get('torch_cuda') or 'none: a CPU build'}"
            f"{'; ' + result['cuda_error'] if result.get('cuda_error') else ''}). Check that "
            "the NVIDIA driver is loaded (nvidia-smi), that the torch build matches it "
            "(ml_stack_torch_variant) and reboot after a driver upgrade; set "
            "ml_stack_require_cuda: false to accept a CPU-only install."
        )
    if must_have_cuda and result.get("cuda_available") and not result.get("cuda_matmul_ok"):
        problems.append("CUDA is available but a matrix product on the GPU failed")
    return problems


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "mlstack_gpu_info": gpu_info,
            "mlstack_torch_variant": torch_variant,
            "mlstack_torch_requirement": torch_requirement,
            "mlstack_torch_index_url": torch_index_url,
            "mlstack_install_source_errors": install_source_errors,
            "mlstack_pip_args": pip_args,
            "mlstack_pip_platforms": pip_platforms,
            "mlstack_python_tag": python_tag,
            "mlstack_wheelhouse_key": wheelhouse_key,
            "mlstack_wheelhouse_lock": wheelhouse_lock,
            "mlstack_wheelhouse_builds": wheelhouse_builds,
            "mlstack_requirement_errors": requirement_errors,
            "mlstack_require_cuda": require_cuda,
            "mlstack_check_problems": check_problems,
            "mlstack_import_names": import_names,
        }
