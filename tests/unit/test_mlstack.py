"""Decisions of the ml_stack role (filter plugin onprem.mlops.mlstack_*)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.onprem.mlops.plugins.filter import mlstack as m

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/hwassess"

BUILDS = ["cu126", "cu128", "cu130"]


def smi(*rows: str) -> dict:
    return m.gpu_info({}, "\n".join(rows))


# ------------------------------------------------------------------ GPU facts


def test_gpu_info_without_anything_is_a_cpu_host():
    info = m.gpu_info(None, "")
    assert info["gpu_host"] is False
    assert info["source"] == "none"
    assert info["driver_version"] is None


def test_gpu_info_from_nvidia_smi_with_compute_cap():
    info = smi("NVIDIA H100 PCIe, 550.54.15, 9.0", "NVIDIA H100 PCIe, 550.54.15, 9.0")
    assert info["source"] == "nvidia-smi"
    assert info["gpu_count"] == 2
    assert info["driver_version"] == "550.54.15"
    assert info["compute_capabilities"] == ["9.0", "9.0"]
    assert info["names"] == ["NVIDIA H100 PCIe"] * 2


def test_gpu_info_from_old_nvidia_smi_without_compute_cap():
    info = smi("Tesla V100-SXM2-16GB, 470.256.02")
    assert info["driver_version"] == "470.256.02"
    assert info["compute_capabilities"] == []


def test_nvidia_smi_error_text_is_not_a_gpu():
    info = smi(
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
        "Field 'compute_cap' is not a valid field to query.",
    )
    assert info["gpu_host"] is False


def test_gpu_info_from_assessment_beats_nvidia_smi():
    assessment = {
        "nvml": {"driver_version": "570.86.15", "cuda_driver_version": "12.8"},
        "gpus": [{"name": "NVIDIA L40S", "compute_capability": "8.9"}],
        "pci_nvidia_devices": [{"address": "0000:3b:00.0"}],
    }
    info = m.gpu_info(assessment, "X, 535.1, 8.0")
    assert info["source"] == "assessment"
    assert info["driver_version"] == "570.86.15"
    assert info["cuda_driver_version"] == "12.8"
    assert info["compute_capabilities"] == ["8.9"]


def test_gpu_on_pci_without_driver_is_a_gpu_host():
    info = m.gpu_info({"pci_nvidia_devices": [{}, {}], "nvml": {"status": "library_missing"}})
    assert info["gpu_host"] is True
    assert info["gpu_count"] == 2
    assert info["source"] == "pci"
    assert m.gpu_info({}, "", pci_gpu_count=1)["gpu_host"] is True


@pytest.mark.parametrize("scenario", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()))
def test_gpu_info_accepts_every_fixture_assessment_shape(scenario):
    """The NVML fixtures (synthetic) use the assessment's field names; any shape must parse."""
    nvml = json.loads((FIXTURES / scenario / "nvml.json").read_text())
    assessment = {
        "nvml": {
            "driver_version": nvml.get("driver_version"),
            "cuda_driver_version": None,
        },
        "gpus": [
            {
                "name": d.get("name"),
                "compute_capability": ".".join(map(str, d["compute_capability"])),
            }
            for d in nvml.get("devices") or []
            if d.get("compute_capability")
        ],
    }
    info = m.gpu_info(assessment)
    choice = m.torch_variant("auto", info, BUILDS)
    assert choice["variant"] in {"cpu", *BUILDS}
    if not info["gpu_host"]:
        assert choice == {**choice, "variant": "cpu", "ok": True}


# ------------------------------------------------------------------ torch variant


@pytest.mark.parametrize(
    ("driver", "cc", "expected", "compat"),
    [
        ("580.65.06", "9.0", "cu130", "full"),  # CUDA 13.0 driver: newest build
        ("575.51.03", "9.0", "cu128", "full"),  # 12.9 driver: 12.8 fully, 13.0 not at all
        ("570.26", "8.0", "cu128", "full"),
        ("560.35.05", "8.6", "cu126", "full"),
        ("550.54.15", "8.9", "cu126", "minor"),  # 12.4 driver: 12.6 via minor compatibility
        ("535.183.01", "8.0", "cu126", "minor"),  # Debian 12's driver
        ("525.60.13", "7.5", "cu126", "minor"),  # exactly the 12.x minor-compat minimum
        ("580.95.05", "7.0", "cu128", "full"),  # Volta: CUDA 13 dropped it
        ("580.95.05", "6.1", "cu128", "full"),  # Pascal
        ("580.95.05", "12.0", "cu130", "full"),  # Blackwell workstation
        ("535.183.01", "7.0", "cu126", "minor"),  # Volta on Debian 12's driver
    ],
)
def test_auto_variant_by_driver_and_compute_capability(driver, cc, expected, compat):
    choice = m.torch_variant("auto", smi(f"GPU, {driver}, {cc}"), BUILDS)
    assert choice["variant"] == expected
    assert choice["compat"] == compat
    assert choice["ok"] is (expected != "cpu")


def test_blackwell_on_old_driver_gets_minor_compat_cu128():
    choice = m.torch_variant("auto", smi("NVIDIA B200, 565.57.01, 10.0"), BUILDS)
    assert choice["variant"] == "cu128"
    assert choice["compat"] == "minor"


def test_driver_too_old_for_every_build_is_not_ok_and_says_why():
    choice = m.torch_variant("auto", smi("Tesla T4, 470.256.02, 7.5"), BUILDS)
    assert choice["variant"] == "cpu"
    assert choice["ok"] is False
    assert "470.256.02" in choice["reason"]
    assert "CUDA 12.6 needs driver >= 560.28.03" in choice["reason"]


def test_gpu_without_driver_is_not_ok():
    choice = m.torch_variant("auto", m.gpu_info({}, "", pci_gpu_count=1), BUILDS)
    assert choice == {**choice, "variant": "cpu", "ok": False}
    assert "no working driver" in choice["reason"]


def test_nvml_cuda_version_caps_the_table():
    info = {"gpu_host": True, "driver_version": "999.1", "cuda_driver_version": "12.8"}
    assert m.torch_variant("auto", info, BUILDS)["variant"] == "cu128"


def test_no_gpu_gets_cpu():
    assert m.torch_variant("auto", m.gpu_info({}, ""), BUILDS) == {
        "variant": "cpu",
        "ok": True,
        "compat": None,
        "reason": "no NVIDIA GPU found",
    }


def test_older_torch_builds_cu118_cu121_cu124():
    builds = ["cu118", "cu121", "cu124"]
    assert m.torch_variant("auto", smi("A, 535.54.03, 8.0"), builds)["variant"] == "cu121"
    assert m.torch_variant("auto", smi("A, 550.54.14, 8.0"), builds)["variant"] == "cu124"
    assert m.torch_variant("auto", smi("A, 520.61.05, 8.0"), builds)["variant"] == "cu118"
    assert m.torch_variant("auto", smi("A, 470.82.01, 8.0"), builds)["compat"] == "minor"


@pytest.mark.parametrize("requested", ["cpu", "cu118", "cu126", "cu130"])
def test_explicit_variant_is_taken_as_given(requested):
    choice = m.torch_variant(requested, smi("A, 535.54.03, 8.0"), BUILDS)
    assert choice["variant"] == requested
    assert choice["ok"] is True


@pytest.mark.parametrize("requested", ["cuda", "cu12", "gpu", "CPU", ""])
def test_unknown_variant_raises(requested):
    with pytest.raises(ValueError, match="unknown torch variant"):
        m.torch_variant(requested, {}, BUILDS)


@pytest.mark.parametrize(
    ("tag", "cuda"), [("cu118", (11, 8)), ("cu126", (12, 6)), ("cu130", (13, 0))]
)
def test_cuda_of_tag(tag, cuda):
    assert m.cuda_of_tag(tag) == cuda


def test_driver_table_is_ordered():
    versions = [m.parse_version(v) for _, v in sorted(m.CUDA_TOOLKIT_MIN_DRIVER.items())]
    assert versions == sorted(versions)


# ------------------------------------------------------------------ requirement and index


@pytest.mark.parametrize(
    ("variant", "base", "expected"),
    [
        ("cpu", "https://download.pytorch.org/whl", "torch==2.13.0+cpu"),
        ("cu128", "https://download.pytorch.org/whl", "torch==2.13.0+cu128"),
        ("cu130", "https://download.pytorch.org/whl", "torch==2.13.0+cu130"),
        ("cpu", "", "torch==2.13.0+cpu"),  # a mirror that carries the CPU build
        ("cu130", "", "torch===2.13.0"),  # PyPI's own build, not 2.13.0+cpu
        ("cu128", "", "torch==2.13.0+cu128"),
    ],
)
def test_torch_requirement(variant, base, expected):
    assert m.torch_requirement("2.13.0", variant, "cu130", base) == expected


def test_torch_index_url():
    base = "https://download.pytorch.org/whl/"
    assert m.torch_index_url(base, "cu128") == "https://download.pytorch.org/whl/cu128"
    assert m.torch_index_url(base, "cpu") == "https://download.pytorch.org/whl/cpu"
    assert m.torch_index_url("", "cu128") == ""
    with pytest.raises(ValueError):
        m.torch_index_url(base, "gpu")


# ------------------------------------------------------------------ install source


def test_install_source_index_is_fine():
    assert m.install_source_errors("index") == []
    assert m.install_source_errors("index", "", "https://mirror.example/simple") == []
    assert m.install_source_errors("index", "", "file:///srv/simple") == []


@pytest.mark.parametrize("mode", ["ftp", "offline", "", "Index"])
def test_unknown_install_source_names_variable_and_allowed_values(mode):
    (error,) = m.install_source_errors(mode)
    assert f"ml_stack_install_mode '{mode}'" in error
    assert "Allowed: index, wheelhouse." in error


def test_wheelhouse_mode_without_directory():
    (error,) = m.install_source_errors("wheelhouse", "")
    assert "needs ml_stack_wheelhouse_dir" in error
    assert "index" in error and "wheelhouse" in error


def test_wheelhouse_mode_with_missing_build():
    (error,) = m.install_source_errors(
        "wheelhouse", "/srv/wh", wheelhouse_exists=False, wheelhouse_key="cp311-x86_64-cpu"
    )
    assert "'/srv/wh' has no wheelhouse 'cp311-x86_64-cpu'" in error
    assert m.install_source_errors("wheelhouse", "/srv/wh", wheelhouse_exists=True) == []
    assert m.install_source_errors("wheelhouse", "/srv/wh", wheelhouse_exists=None) == []


def test_bad_index_urls():
    errors = m.install_source_errors("index", "", "mirror/simple", ["https://ok/simple", "ftp://x"])
    assert errors == [
        "ml_stack_index_url 'mirror/simple' is not an http://, https:// or file:// URL.",
        "ml_stack_extra_index_urls 'ftp://x' is not an http://, https:// or file:// URL.",
    ]


def test_pip_args_offline():
    assert m.pip_args("wheelhouse", "/opt/wh/cp311-x86_64-cpu", "https://ignored") == [
        "--no-index",
        "--find-links",
        "/opt/wh/cp311-x86_64-cpu",
    ]


def test_pip_args_index_with_mirror_torch_index_and_ca():
    args = m.pip_args(
        "index",
        "",
        "https://mirror/simple",
        ["https://extra/simple"],
        "https://download.pytorch.org/whl/cu128",
        "/etc/ssl/certs/ca-certificates.crt",
    )
    assert args == [
        "--index-url",
        "https://mirror/simple",
        "--extra-index-url",
        "https://extra/simple",
        "--extra-index-url",
        "https://download.pytorch.org/whl/cu128",
        "--cert",
        "/etc/ssl/certs/ca-certificates.crt",
    ]
    assert m.pip_args("index") == []
    with pytest.raises(ValueError):
        m.pip_args("ftp")


# ------------------------------------------------------------------ wheelhouse


def test_pip_platforms_cover_every_older_manylinux():
    tags = m.pip_platforms("x86_64", "2.36")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_28_x86_64" in tags  # torch
    assert "manylinux_2_17_x86_64" in tags  # numpy, scipy
    assert "manylinux2014_x86_64" in tags
    assert tags[-1] == "manylinux1_x86_64"
    assert len(tags) == len(set(tags))


def test_pip_platforms_aarch64_and_default_glibc():
    tags = m.pip_platforms("arm64", None)
    assert tags[0] == "manylinux_2_28_aarch64"
    assert tags[-1] == "manylinux2014_aarch64"
    assert not any("manylinux1" in t for t in tags)


@pytest.mark.parametrize(
    ("python", "arch", "variant", "key"),
    [
        ("3.11.2", "x86_64", "cpu", "cp311-x86_64-cpu"),
        ("3.10.12", "x86_64", "cu128", "cp310-x86_64-cu128"),
        ("3.12", "amd64", "cu130", "cp312-x86_64-cu130"),
    ],
)
def test_wheelhouse_key(python, arch, variant, key):
    assert m.wheelhouse_key(python, arch, variant) == key


def test_wheelhouse_lock_from_file_names():
    files = [
        "/x/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "scikit_learn-1.7.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "Jinja2-3.1.6-py3-none-any.whl",
        "pytz-2026.6-py2.py3-none-any.whl",
        "foo-1.0-1build-py3-none-any.whl",
        "SHA256SUMS",
    ]
    assert m.wheelhouse_lock(files) == [
        "foo==1.0",
        "jinja2==3.1.6",
        "pytz==2026.6",
        "scikit-learn==1.7.2",
        "torch==2.13.0+cpu",
    ]


def spec(host, key="cp311-x86_64-cpu", glibc="2.36", reqs=("torch==2.13.0+cpu",)):
    return {
        "key": key,
        "path": f"/wh/{key}",
        "hosts": [host],
        "glibc": glibc,
        "platforms": m.pip_platforms("x86_64", glibc),
        "requirements": list(reqs),
        "pip_args": [],
    }


def test_wheelhouse_builds_merge_hosts_of_one_key_for_the_oldest_glibc():
    builds = m.wheelhouse_builds(
        [spec("a"), spec("b", glibc="2.35"), spec("c", key="cp310-x86_64-cu128"), None]
    )
    assert [b["key"] for b in builds] == ["cp310-x86_64-cu128", "cp311-x86_64-cpu"]
    merged = builds[1]
    assert merged["hosts"] == ["a", "b"]
    assert merged["glibc"] == "2.35"
    assert merged["platforms"][0] == "manylinux_2_35_x86_64"


def test_wheelhouse_builds_refuse_different_pins_for_one_key():
    with pytest.raises(ValueError, match="different requirements"):
        m.wheelhouse_builds([spec("a"), spec("b", reqs=("torch==2.12.0+cpu",))])


# ------------------------------------------------------------------ packages and checks


def test_requirement_errors_flag_unpinned_entries():
    good = ["numpy==2.2.6", "mlflow-skinny==3.17.2", "uvicorn[standard]==0.30.0"]
    assert m.requirement_errors(good) == []
    bad = ["numpy", "pandas>=2", "scipy==1.*", "torch==2.13.0; python_version<'3.12'", "a == 1"]
    assert m.requirement_errors(good + bad) == bad


def test_import_names():
    assert m.import_names(
        [
            "numpy==2.2.6",
            "scikit-learn==1.7.2",
            "mlflow-skinny==3.17.2",
            "PyYAML==6.0",
            "typing_extensions==4",
        ]
    ) == ["numpy", "sklearn", "mlflow", "yaml", "typing_extensions"]


@pytest.mark.parametrize(
    ("value", "gpu_host", "expected"),
    [("auto", True, True), ("auto", False, False), (True, False, True), ("false", True, False)],
)
def test_require_cuda(value, gpu_host, expected):
    assert m.require_cuda(value, {"gpu_host": gpu_host}) is expected


def test_require_cuda_rejects_other_values():
    with pytest.raises(ValueError, match="auto, true or false"):
        m.require_cuda("maybe", {})


GOOD_CPU = {
    "torch_version": "2.13.0+cpu",
    "torch_cuda": None,
    "cuda_available": False,
    "devices": [],
    "cpu_matmul_ok": True,
    "cuda_matmul_ok": False,
    "import_errors": {},
}


def test_check_passes_on_cpu_host():
    assert m.check_problems(GOOD_CPU, False, "2.13.0") == []
    assert m.check_problems(json.dumps(GOOD_CPU), False, "2.13.0") == []


def test_no_cuda_on_gpu_host_is_a_failure_with_guidance():
    (problem,) = m.check_problems(GOOD_CPU, True, "2.13.0")
    assert problem.startswith("no CUDA")
    assert "a CPU build" in problem
    assert "ml_stack_require_cuda: false" in problem


def test_check_passes_on_gpu_host_with_cuda():
    result = {
        **GOOD_CPU,
        "torch_version": "2.13.0+cu128",
        "torch_cuda": "12.8",
        "cuda_available": True,
        "devices": ["NVIDIA H100"],
        "cuda_matmul_ok": True,
    }
    assert m.check_problems(result, True, "2.13.0") == []
    assert m.check_problems({**result, "cuda_matmul_ok": False}, True, "2.13.0") == [
        "CUDA is available but a matrix product on the GPU failed"
    ]


def test_check_reports_import_errors_version_drift_and_garbage():
    result = {**GOOD_CPU, "import_errors": {"sklearn": "ImportError: x"}, "torch_version": "2.12.0"}
    assert m.check_problems(result, False, "2.13.0") == [
        "sklearn failed to import: ImportError: x",
        "torch 2.12.0 installed, ml_stack_torch_version is 2.13.0",
    ]
    assert m.check_problems("Traceback (most recent call last)", False)[0].startswith(
        "the check printed no JSON"
    )


def test_filters_are_registered():
    filters = m.FilterModule().filters()
    assert {
        "mlstack_gpu_info",
        "mlstack_torch_variant",
        "mlstack_torch_requirement",
        "mlstack_install_source_errors",
        "mlstack_pip_platforms",
        "mlstack_wheelhouse_builds",
        "mlstack_check_problems",
    } <= set(filters)
