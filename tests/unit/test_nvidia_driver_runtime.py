"""Decisions of the nvidia_driver role at run time: Secure Boot, reboots, version mismatch."""

from __future__ import annotations

import base64

import pytest
from ansible_collections.onprem.mlops.plugins.filter import nvidia as nv


def efivar(value: int) -> str:
    # efivarfs: 4 bytes of attributes (NV+BS+RT = 0x07), then the one-byte value.
    return base64.b64encode(bytes([7, 0, 0, 0, value])).decode()


# ----------------------------------------------------------------- Secure Boot state


@pytest.mark.parametrize(
    ("efi", "var", "state"),
    [
        (False, "", "not_applicable"),
        (False, efivar(1), "not_applicable"),
        (True, efivar(1), "enabled"),
        (True, efivar(0), "disabled"),
        (True, "", "unknown"),
        (True, None, "unknown"),
        (True, "!!notbase64!!", "unknown"),
        (True, base64.b64encode(b"\x07\x00").decode(), "unknown"),
    ],
)
def test_secure_boot_state(efi, var, state):
    assert nv.secure_boot_state(efi, var) == state


# ----------------------------------------------------------------- Secure Boot decision


def test_secure_boot_disabled_proceeds():
    for state in ("disabled", "not_applicable"):
        d = nv.secure_boot_decision(state, "stop")
        assert d == {"proceed": True, "enroll_mok": False, "message": "", "error": ""}


def test_secure_boot_unknown_proceeds_with_warning():
    d = nv.secure_boot_decision("unknown", "stop")
    assert d["proceed"]
    assert "could not be read" in d["message"]


def test_secure_boot_enabled_stops_with_guidance():
    d = nv.secure_boot_decision("enabled", "stop")
    assert not d["proceed"]
    assert not d["enroll_mok"]
    for words in (
        "Secure Boot is enabled",
        "Nothing was changed",
        "disable Secure Boot",
        "nvidia_driver_secure_boot_action: enroll_mok",
        "nvidia_driver_mok_key",
        "openssl req",
        "Allowed values of nvidia_driver_secure_boot_action: stop, enroll_mok.",
    ):
        assert words in d["error"], words


def test_secure_boot_enroll_needs_key_and_cert():
    for key, cert in (("", ""), ("/k", ""), ("", "/c")):
        d = nv.secure_boot_decision("enabled", "enroll_mok", mok_key=key, mok_cert=cert)
        assert not d["proceed"]
        assert "nvidia_driver_mok_key and nvidia_driver_mok_cert" in d["error"]


def test_secure_boot_enroll_with_key():
    d = nv.secure_boot_decision("enabled", "enroll_mok", mok_key="/k", mok_cert="/c")
    assert d["proceed"]
    assert d["enroll_mok"]
    assert "MOK manager" in d["message"]


def test_secure_boot_enroll_only_when_enabled():
    d = nv.secure_boot_decision("disabled", "enroll_mok", mok_key="/k", mok_cert="/c")
    assert d["proceed"]
    assert not d["enroll_mok"]


def test_secure_boot_ignored_in_container():
    d = nv.secure_boot_decision("enabled", "stop", in_container=True)
    assert d["proceed"]
    assert "container" in d["message"]


# ----------------------------------------------------------------- probe and versions


PROBE = """kernel=6.1.0-18-amd64
arch=x86_64
nouveau_loaded=no
nvidia_loaded=yes
loaded_version=535.183.01
module_version=535.261.03
userspace_version=libnvidia-ml.so.535.261.03
smi=Failed to initialize NVML: Driver/library version mismatch
efi=yes
secure_boot_var=
initramfs=yes
pci_device=0000:3b:00.0 0x10de 0x030200 0x2330
"""


def test_parse_probe():
    info = nv.parse_probe(PROBE)
    assert info["kernel"] == "6.1.0-18-amd64"
    assert info["nvidia_loaded"] == "yes"
    assert info["secure_boot_var"] == ""
    assert info["smi"] == "Failed to initialize NVML: Driver/library version mismatch"
    assert nv.parse_probe("") == {}
    assert nv.parse_probe("no equals sign\nKEY=upper-case is ignored") == {}


def test_version_mismatch_after_upgrade():
    info = nv.parse_probe(PROBE)
    status = nv.version_status(
        info["loaded_version"], info["module_version"], info["userspace_version"], info["smi"]
    )
    assert status["loaded"] == "535.183.01"
    assert status["installed_module"] == "535.261.03"
    assert status["userspace"] == "535.261.03"
    assert status["mismatch"]
    assert status["stale_module"]
    assert "Driver/library version mismatch" in status["message"]
    assert "loaded kernel module is 535.183.01 but the user-space libraries" in status["message"]


def test_versions_in_agreement():
    status = nv.version_status(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.261.03  Wed Jun 11 2025",
        "535.261.03",
        "libnvidia-ml.so.535.261.03",
        "535.261.03",
    )
    assert status == {
        "loaded": "535.261.03",
        "installed_module": "535.261.03",
        "userspace": "535.261.03",
        "mismatch": False,
        "stale_module": False,
        "message": "",
    }


def test_versions_nothing_loaded_yet():
    status = nv.version_status("", "535.261.03", "535.261.03-1", "")
    assert not status["mismatch"]
    assert not status["stale_module"]


def test_mismatch_reported_by_smi_alone():
    status = nv.version_status(
        "", "", "", "Failed to initialize NVML: Driver/library version mismatch"
    )
    assert status["mismatch"]


# ----------------------------------------------------------------- reboot decision


def decide(**kw):
    args = {"in_container": False, "nouveau_loaded": False, "nvidia_loaded": True}
    args.update(kw)
    return nv.reboot_decision(**args)


def test_no_reboot_when_module_loaded_and_current():
    d = decide()
    assert d == {"required": False, "reasons": [], "reboot_now": False, "message": ""}


def test_no_reboot_in_container_whatever_happens():
    d = decide(in_container=True, nouveau_loaded=True, mismatch=True, auto_reboot=True)
    assert not d["required"]
    assert not d["reboot_now"]


def test_nouveau_loaded_needs_reboot():
    d = decide(nouveau_loaded=True, nvidia_loaded=False)
    assert d["required"]
    assert not d["reboot_now"]
    assert d["message"].startswith("REBOOT REQUIRED: nouveau is loaded")
    assert "nvidia_driver_reboot: true" in d["message"]


def test_new_install_loaded_by_modprobe_needs_no_reboot():
    d = decide(nvidia_loaded=True, module_load_failed=False)
    assert not d["required"]


def test_module_load_failure_needs_reboot():
    d = decide(nvidia_loaded=False, module_load_failed=True)
    assert d["required"]
    assert "failed to load" in d["reasons"][0]


def test_upgrade_with_old_module_loaded_needs_reboot():
    for kw in ({"stale_module": True}, {"mismatch": True}):
        d = decide(**kw)
        assert d["required"]
        assert "version mismatch" in d["reasons"][0]


def test_auto_reboot_opt_in():
    d = decide(stale_module=True, auto_reboot=True)
    assert d["reboot_now"]
    assert d["message"].startswith("rebooting now")


def test_mok_enrolment_never_reboots_automatically():
    d = decide(mok_pending=True, auto_reboot=True)
    assert d["required"]
    assert not d["reboot_now"]
    assert "console" in d["message"]


def test_several_reasons_are_all_reported():
    d = decide(nouveau_loaded=True, nvidia_loaded=False, mok_pending=True)
    assert len(d["reasons"]) == 2
