"""Bad input stops os_hardening before it changes anything, naming the variable."""

import pytest
from conftest import assert_fails_before_change


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"os_hardening_sysctl_extra": {"vm.swappiness": "low", "bad key": 1}},
            r"os_hardening_sysctl_extra keys must be sysctl names .* "
            r"not usable: bad key, vm.swappiness",
        ),
        (
            {"os_hardening_modules_allowed": ["usb-storage", "nvidia"]},
            r"os_hardening_modules_allowed may only name modules of the role's list "
            r"\(unknown: \['nvidia'\]",
        ),
        (
            {"os_hardening_auditd_extra_rules": ["watch /srv"]},
            r"os_hardening_auditd_extra_rules must be auditctl rules .*\['watch /srv'\]",
        ),
        (
            {"os_hardening_umask": "0888"},
            r"os_hardening_umask three octal digits such as 027 \('0888'\)",
        ),
        ({"os_hardening_password_min_classes": 5}, r"os_hardening_password_min_classes 1-4 \(5\)"),
    ],
    ids=["sysctl", "modules", "audit_rule", "umask", "classes"],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars), expected)
