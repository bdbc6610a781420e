"""Decisions of the nvidia_driver role: GPU generations, branches, packages per OS and source."""

from __future__ import annotations

import pytest
from ansible_collections.onprem.mlops.plugins.filter import nvidia as nv


def gpu(generation: str, name: str = "GPU") -> dict:
    return {"address": "0000:3b:00.0", "device_id": "", "name": name, "generation": generation}


H100 = gpu("hopper", "H100")
A100 = gpu("ampere", "A100")
B200 = gpu("blackwell", "B200")
V100 = gpu("volta", "V100")
K80 = gpu("kepler", "K80")
T4 = gpu("turing", "T4")


# ----------------------------------------------------------------- GPU generations


@pytest.mark.parametrize(
    ("capability", "generation"),
    [
        ("3.7", "kepler"),
        ("5.2", "maxwell"),
        ("6.0", "pascal"),
        ("7.0", "volta"),
        ("7.5", "turing"),
        ("8.0", "ampere"),
        ("8.6", "ampere"),
        ("8.9", "ada"),
        ("9.0", "hopper"),
        ("10.0", "blackwell"),
        ("12.0", "blackwell"),
        ("2.0", None),
        ("", None),
        (None, None),
        ("x.y", None),
    ],
)
def test_generation_from_compute_capability(capability, generation):
    assert nv.generation_from_compute_capability(capability) == generation


@pytest.mark.parametrize(
    ("device_id", "generation"),
    [
        ("102d", "kepler"),  # K80
        ("13f2", "maxwell"),  # M60
        ("15f8", "pascal"),  # P100 (inside the Maxwell block)
        ("1b38", "pascal"),  # P40
        ("1db4", "volta"),  # V100
        ("1eb8", "turing"),  # T4
        ("2182", "turing"),  # TU116
        ("20b0", "ampere"),  # A100 SXM4
        ("0x20B5", "ampere"),  # A100 80GB PCIe, sysfs spelling
        ("2236", "ampere"),  # A10
        ("2330", "hopper"),  # H100 SXM5
        ("2335", "hopper"),  # H200
        ("26b9", "ada"),  # L40S
        ("27b8", "ada"),  # L4
        ("2901", "blackwell"),  # B200
        ("2b85", "blackwell"),  # RTX 5090
        ("0001", None),
        ("zzzz", None),
        (None, None),
    ],
)
def test_generation_from_pci_id(device_id, generation):
    assert nv.generation_from_pci_id(device_id) == generation


def test_parse_pci_keeps_nvidia_display_controllers_only():
    text = "\n".join(
        [
            "kernel=6.1.0-18-amd64",
            "pci_device=0000:00:00.0 0x8086 0x060000 0x2020",
            "pci_device=0000:3b:00.0 0x10de 0x030200 0x2330",  # H100 (3D controller)
            "pci_device=0000:3b:00.1 0x10de 0x040300 0x22a3",  # its audio function
            "pci_device=0000:86:00.0 0x10de 0x030000 0x1eb8",  # T4 (VGA class)
            "smi=NVIDIA-SMI has failed because it couldn't communicate",
        ]
    )
    gpus = nv.parse_pci(text)
    assert [(g["address"], g["generation"]) for g in gpus] == [
        ("0000:3b:00.0", "hopper"),
        ("0000:86:00.0", "turing"),
    ]


def test_parse_pci_plain_lines_and_empty():
    assert nv.parse_pci("0000:01:00.0 0x10de 0x030000 0x2901")[0]["generation"] == "blackwell"
    assert nv.parse_pci("") == []
    assert nv.parse_pci(None) == []


def test_gpus_from_assessment_prefers_nvml_capability():
    assessment = {
        "gpus": [{"pci_bus_id": "0000:3b:00.0", "compute_capability": "9.0", "name": "H100"}],
        "pci_nvidia_devices": [
            {"address": "0000:3b:00.0", "device_id": "ffff", "known_model": None},
            {
                "address": "0000:86:00.0",
                "device_id": "20b5",
                "known_model": {"name": "A100 PCIe 80GB", "compute_capability": "8.0"},
            },
            {"address": "0000:af:00.0", "device_id": "9999", "known_model": None},
        ],
    }
    gpus = nv.gpus_from_assessment(assessment)
    assert [(g["name"], g["generation"]) for g in gpus] == [
        ("H100", "hopper"),
        ("A100 PCIe 80GB", "ampere"),
        (None, "unknown"),
    ]
    assert nv.gpus_from_assessment(None) == []
    assert nv.gpus_from_assessment({"gpus": [], "pci_nvidia_devices": []}) == []


def test_gpus_from_assessment_keeps_nvml_only_gpus():
    assessment = {"gpus": [{"pci_bus_id": "0000:01:00.0", "compute_capability": "8.9"}]}
    assert nv.gpus_from_assessment(assessment)[0]["generation"] == "ada"


# ----------------------------------------------------------------- the plan: packages


def plan(**kw):
    args = {
        "os_id": "Debian",
        "os_version": "12.5",
        "source": "distro",
        "branch": "535",
        "gpus": [H100],
    }
    args.update(kw)
    return nv.driver_plan(**args)


def test_debian_distro_packages():
    p = plan()
    assert p["errors"] == []
    assert p["action"] == "install"
    assert p["packages"] == [
        "nvidia-kernel-dkms",
        "nvidia-smi",
        "libnvidia-ml1",
        "libcuda1",
        "nvidia-persistenced",
        "firmware-misc-nonfree",
    ]
    assert p["module_name"] == "nvidia-current"
    assert p["kernel_modules"] == "proprietary"
    assert p["pin_version"] == "535.*"
    assert p["cuda_repo"] == {}


def test_debian_open_modules_on_request():
    p = plan(kernel_modules="open")
    assert p["packages"][0] == "nvidia-open-kernel-dkms"
    assert p["kernel_modules"] == "open"


def test_debian_exact_version_pins_driver_packages_only():
    p = plan(version="535.261.03")
    assert "nvidia-smi=535.261.03*" in p["packages"]
    # Packaged separately with their own versions: not pinned to the driver version.
    assert "nvidia-persistenced" in p["packages"]
    assert "firmware-misc-nonfree" in p["packages"]
    assert p["pin_version"] == "535.261.03*"


@pytest.mark.parametrize("branch", ["550", "570", "999", "5355", "latest", ""])
def test_debian_distro_has_only_535(branch):
    p = plan(branch=branch)
    assert p["packages"] == []
    assert len(p["errors"]) == 1
    assert f"nvidia_driver_branch '{branch}' does not exist" in p["errors"][0]
    assert "Allowed: 535." in p["errors"][0]


@pytest.mark.parametrize(
    ("version", "branch", "flavour", "expected"),
    [
        ("22.04", "535", "auto", ["nvidia-headless-535-server", "nvidia-utils-535-server"]),
        ("24.04", "570", "auto", ["nvidia-headless-570-server-open", "nvidia-utils-570-server"]),
        (
            "24.04",
            "570",
            "proprietary",
            ["nvidia-headless-570-server", "nvidia-utils-570-server"],
        ),
        ("22.04", "550", "open", ["nvidia-headless-550-server-open", "nvidia-utils-550-server"]),
    ],
)
def test_ubuntu_distro_packages(version, branch, flavour, expected):
    p = plan(os_id="Ubuntu", os_version=version, branch=branch, kernel_modules=flavour)
    assert p["errors"] == []
    assert p["packages"] == expected
    assert p["module_name"] == "nvidia"


def test_ubuntu_exact_version():
    p = plan(os_id="Ubuntu", os_version="22.04", version="535.183.01")
    assert p["packages"] == [
        "nvidia-headless-535-server=535.183.01*",
        "nvidia-utils-535-server=535.183.01*",
    ]


def test_ubuntu_2404_has_no_470():
    p = plan(os_id="Ubuntu", os_version="24.04", branch="470", gpus=[V100])
    assert "Allowed: 535, 550, 570, 580." in p["errors"][0]


def test_ubuntu_2204_470_for_volta():
    p = plan(os_id="Ubuntu", os_version="22.04", branch="470", gpus=[V100])
    assert p["errors"] == []
    assert p["packages"][0] == "nvidia-headless-470-server"


@pytest.mark.parametrize(
    ("os_id", "version", "distro"),
    [
        ("Debian", "12", "debian12"),
        ("Ubuntu", "22.04", "ubuntu2204"),
        ("Ubuntu", "24.04", "ubuntu2404"),
    ],
)
def test_cuda_repo(os_id, version, distro):
    p = plan(os_id=os_id, os_version=version, source="cuda_repo", branch="550")
    assert p["errors"] == []
    assert p["packages"] == ["cuda-drivers-550"]
    assert p["cuda_repo"] == {"distro": distro, "arch": "x86_64"}
    assert p["module_name"] == "nvidia"


def test_cuda_repo_open_from_560_and_arm():
    p = plan(source="cuda_repo", branch="570", architecture="aarch64")
    assert p["packages"] == ["nvidia-open-570"]
    assert p["cuda_repo"]["arch"] == "sbsa"


def test_cuda_repo_version_and_unknown_arch():
    p = plan(source="cuda_repo", branch="550", version="550.163.01")
    assert p["packages"] == ["cuda-drivers-550=550.163.01*"]
    p = plan(source="cuda_repo", branch="550", architecture="ppc64le")
    assert "architecture ppc64le" in p["errors"][0]


def test_cuda_repo_branch_unknown():
    p = plan(source="cuda_repo", branch="545")
    assert "Allowed: 535, 550, 560, 565, 570, 575, 580." in p["errors"][0]


def test_unknown_source_names_variable_and_allowed():
    p = plan(source="ppa")
    assert p["errors"] == [
        "nvidia_driver_source 'ppa' is not known. Allowed: distro, cuda_repo, local."
    ]


def test_unknown_kernel_module_flavour():
    p = plan(kernel_modules="nouveau")
    assert "nvidia_driver_kernel_modules 'nouveau' is not known" in p["errors"][0]


def test_unsupported_os_distro_and_cuda_repo():
    for source in ("distro", "cuda_repo"):
        p = plan(os_id="Debian", os_version="11", source=source)
        assert "not supported on 'debian 11'" in p["errors"][0]
        assert "nvidia_driver_source local" in p["errors"][0]


def test_local_needs_packages_and_accepts_any_branch():
    p = plan(source="local", branch="560")
    assert "nvidia_driver_source local needs nvidia_driver_packages" in p["errors"][0]
    p = plan(source="local", branch="560", packages_override=["nvidia-open", "cuda-drivers"])
    assert p["errors"] == []
    assert p["packages"] == ["nvidia-open", "cuda-drivers"]
    # local on an OS without archive support
    p = plan(os_id="Debian", os_version="13", source="local", packages_override=["x"])
    assert p["errors"] == []


def test_packages_override_on_distro():
    p = plan(packages_override=["nvidia-driver", ""])
    assert p["packages"] == ["nvidia-driver"]


@pytest.mark.parametrize("version", ["550.54.14", "535", "535.x", "latest"])
def test_version_must_belong_to_branch(version):
    p = plan(version=version)
    assert f"nvidia_driver_version '{version}' is not a version of branch 535" in p["errors"][0]


def test_branch_given_as_int():
    assert plan(branch=535)["errors"] == []


# ----------------------------------------------------------------- GPU constraints


def test_no_gpu_is_skipped_unless_forced():
    p = plan(gpus=[])
    assert p["action"] == "skip"
    assert "no NVIDIA GPU found" in p["message"]
    assert "nvidia_driver_force" in p["message"]
    p = plan(gpus=[], force=True)
    assert p["action"] == "install"
    assert p["packages"]
    assert "installing anyway" in p["message"]


def test_bad_input_is_reported_even_without_gpu():
    # Validation comes before the skip: a typo never hides behind "no GPU".
    assert plan(gpus=[], branch="999")["errors"]


def test_container_has_no_kernel_work():
    assert plan(in_container=True)["kernel"] is False
    assert plan()["kernel"] is True


def test_blackwell_needs_570_and_open_modules():
    p = nv.driver_plan("Ubuntu", "24.04", "distro", "550", gpus=[B200])
    assert "does not support the blackwell GPUs (B200)" in p["errors"][0]
    assert "needs 570 or newer" in p["errors"][0]
    assert "Allowed for nvidia_driver_source distro here: 570, 580." in p["errors"][0]
    p = nv.driver_plan("Ubuntu", "24.04", "distro", "570", gpus=[B200])
    assert p["errors"] == []
    assert p["kernel_modules"] == "open"
    p = nv.driver_plan(
        "Ubuntu", "24.04", "distro", "570", gpus=[B200], kernel_modules="proprietary"
    )
    assert "work only with the open kernel modules" in p["errors"][0]


def test_blackwell_on_debian_distro_is_impossible():
    p = plan(gpus=[B200])
    assert (
        "Allowed for nvidia_driver_source distro here: none (use another source)"
        in (p["errors"][0])
    )


def test_hopper_needs_525():
    p = nv.driver_plan("Ubuntu", "22.04", "distro", "470", gpus=[H100])
    assert "needs 525 or newer" in p["errors"][0]
    assert "535, 550, 570, 580" in p["errors"][0]
    assert plan(gpus=[H100])["errors"] == []


def test_kepler_is_not_supported_by_535():
    p = plan(gpus=[K80])
    assert "kepler" in p["errors"][0]
    assert "needs 390-470" in p["errors"][0]


def test_volta_dropped_after_580():
    p = nv.driver_plan("Ubuntu", "24.04", "distro", "580", gpus=[V100])
    assert p["errors"] == []
    assert p["kernel_modules"] == "proprietary"  # open modules do not drive Volta


def test_open_modules_refused_for_pre_turing():
    p = plan(gpus=[V100], kernel_modules="open")
    assert "do not support volta GPUs" in p["errors"][0]
    assert "Allowed here: proprietary, auto." in p["errors"][0]


@pytest.mark.parametrize(
    ("gpus", "branch", "expected"),
    [
        ([T4], "550", "proprietary"),
        ([T4], "570", "open"),
        ([A100, H100], "580", "open"),
        ([A100, V100], "580", "proprietary"),  # one pre-Turing GPU keeps the host proprietary
        ([B200], "580", "open"),
        ([], "570", "proprietary"),  # forced without GPU: the conservative choice
        ([gpu("unknown")], "570", "proprietary"),
    ],
)
def test_auto_kernel_modules(gpus, branch, expected):
    p = nv.driver_plan("Ubuntu", "24.04", "distro", branch, gpus=gpus, force=True)
    assert p["errors"] == []
    assert p["kernel_modules"] == expected


def test_unknown_gpu_gives_a_warning_not_an_error():
    p = plan(gpus=[gpu("unknown")])
    assert p["errors"] == []
    assert "unknown generation" in p["warnings"][0]


# ----------------------------------------------------------------- headers, owned packages


@pytest.mark.parametrize(
    ("os_id", "kernel", "expected"),
    [
        ("Debian", "6.1.0-18-amd64", ["linux-headers-6.1.0-18-amd64", "linux-headers-amd64"]),
        (
            "Debian",
            "6.1.0-18-cloud-amd64",
            ["linux-headers-6.1.0-18-cloud-amd64", "linux-headers-cloud-amd64"],
        ),
        ("Debian", "6.1.0-18-arm64", ["linux-headers-6.1.0-18-arm64", "linux-headers-arm64"]),
        (
            "Ubuntu",
            "5.15.0-91-generic",
            ["linux-headers-5.15.0-91-generic", "linux-headers-generic"],
        ),
        (
            "Ubuntu",
            "6.8.0-1008-nvidia",
            ["linux-headers-6.8.0-1008-nvidia", "linux-headers-nvidia"],
        ),
        ("Debian", "6.18.44-custom", ["linux-headers-6.18.44-custom"]),
    ],
)
def test_headers_packages(os_id, kernel, expected):
    assert nv.headers_packages(os_id, kernel) == expected


def test_owned_packages_leave_other_roles_alone():
    installed = [
        "nvidia-smi",
        "libnvidia-ml1:amd64",
        "libcuda1:amd64",
        "nvidia-kernel-dkms",
        "firmware-nvidia-gsp",
        "glx-alternative-nvidia",
        "nvidia-container-toolkit",
        "libnvidia-container1",
        "nvidia-cuda-toolkit",
        "nvidia-cuda-dev",
        "firmware-misc-nonfree",
        "site-driver-bundle",
        "bash",
    ]
    plan = {"packages": ["site-driver-bundle=1*", "firmware-misc-nonfree"]}
    owned = nv.owned_packages(installed, plan)
    assert owned == [
        "firmware-nvidia-gsp",
        "glx-alternative-nvidia",
        "libcuda1",
        "libnvidia-ml1",
        "nvidia-kernel-dkms",
        "nvidia-smi",
        "site-driver-bundle",  # named in the plan (local source, override)
    ]
    assert "site-driver-bundle" not in nv.owned_packages(installed)


# ----------------------------------------------------------------- apt policy


POLICY = """nvidia-smi:
  Installed: 535.261.03-1
  Candidate: 535.261.03-1
  Version table:
 *** 535.261.03-1 1001
        500 http://mirror/debian bookworm/non-free amd64 Packages
libcuda1:
  Installed: (none)
  Candidate: 535.261.03-1
  Version table:
     535.261.03-1 1001
nvidia-open-570:
  Installed: (none)
  Candidate: (none)
  Version table:
"""


def test_apt_policy_parse():
    policy = nv.apt_policy(POLICY)
    assert policy["nvidia-smi"] == {"installed": "535.261.03-1", "candidate": "535.261.03-1"}
    assert policy["libcuda1"] == {"installed": None, "candidate": "535.261.03-1"}
    assert policy["nvidia-open-570"] == {"installed": None, "candidate": None}
    assert nv.apt_policy("") == {}


def test_apt_unsatisfied():
    policy = nv.apt_policy(POLICY)
    assert nv.apt_unsatisfied(["nvidia-smi"], policy) == []
    assert nv.apt_unsatisfied(["nvidia-smi=535.261.03*"], policy) == []
    # The upgrade path: a new pinned version is not satisfied by the installed one.
    assert nv.apt_unsatisfied(["nvidia-smi=535.274.02*"], policy) == ["nvidia-smi=535.274.02*"]
    assert nv.apt_unsatisfied(["libcuda1", "unknown-pkg"], policy) == ["libcuda1", "unknown-pkg"]


def test_filter_plugin_exports():
    filters = nv.FilterModule().filters()
    for name in (
        "nvidia_driver_plan",
        "nvidia_parse_pci",
        "nvidia_gpus_from_assessment",
        "nvidia_secure_boot_state",
        "nvidia_secure_boot_decision",
        "nvidia_reboot_decision",
        "nvidia_version_status",
        "nvidia_parse_probe",
        "nvidia_owned_packages",
        "nvidia_headers_packages",
        "nvidia_apt_policy",
        "nvidia_apt_unsatisfied",
        "cuda_toolkit_plan",
    ):
        assert callable(filters[name])
