"""Bad input must stop the base role before it changes anything on the host.

These run ansible-playbook from the control node against the scenario's container, with the
same inventory and configuration Molecule uses, and read the play recap.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])


def run_converge(extra_vars: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(SCENARIO / "converge.yml"),
            "-e",
            json.dumps(extra_vars),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def recap(output: str) -> dict[str, int]:
    line = next(x for x in output.splitlines() if re.search(r"\bok=\d+.*changed=\d+", x))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({"base_timezone": "Mars/Olympus"}, r"base_timezone 'Mars/Olympus' is not a time zone"),
        ({"base_timezone": "../../etc/passwd"}, r"base_timezone '\.\./\.\./etc/passwd'"),
        # Pretend only Debian 11 were supported: the real facts of the host are then unsupported.
        (
            {"__base_supported_os": ["Debian 11"]},
            r"Unsupported operating system 'Debian 12'.*Supported: Debian 11",
        ),
        ({"base_apt_components": ["universe"]}, r"base_apt_components \['universe'\] not known"),
        (
            {"base_proxy_http": "proxy:3128"},
            r"base_proxy_http and base_proxy_https must each be empty or an http",
        ),
        ({"base_admin_group": "Admins!"}, r"base_admin_group 'Admins!' is not a valid group name"),
        ({"base_ca_certificates": [{"name": "x"}]}, r"base_ca_certificates entry 'x'"),
        ({"base_time_sync_enabled": "maybe"}, r"base_time_sync_enabled.*bool"),
    ],
)
def test_bad_input_fails_before_any_change(extra_vars, expected):
    result = run_converge(extra_vars)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-2000:]
    assert re.search(expected, output), output[-2000:]
    counts = recap(result.stdout)
    assert counts["failed"] == 1
    assert counts["changed"] == 0


def test_proxy_credentials_not_logged():
    result = run_converge({"base_proxy_http": "http://user:S3cretProxyPass@127.0.0.1:3128"})
    # The run itself may succeed or fail (no proxy listens); the secret must not be printed.
    assert "S3cretProxyPass" not in result.stdout + result.stderr
    # Put the scenario's proxy back for the other checks.
    assert run_converge({}).returncode == 0
