"""No secret in the output of any Ansible run of this scenario, nor in the host's logs.

prepare.yml planted random values for the platform's four secrets; every run of the scenario
was made with -vvv (molecule.yml), which shows the module arguments of every task that is not
no_log. The whole output is the scenario's log, written by tests/molecule/scenarios.py
(ONPREM_MOLECULE_LOG). The host's logs are copied out and searched here, so that no secret
is ever put on a command line.
"""

import io
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

CREDENTIALS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials"
NAMES = [
    "postgresql-mlflow.password",
    "mlflow-admin.password",
    "mlflow-secret.key",
    "mlflow-model-serving.password",
]


@pytest.fixture(scope="module")
def secrets(host) -> dict[str, str]:
    directory = CREDENTIALS / host.backend.get_hostname()
    values = {name: (directory / name).read_text().strip() for name in NAMES}
    assert all(len(value) >= 32 for value in values.values())
    return values


@pytest.fixture(scope="module")
def output() -> str:
    log = os.environ.get("ONPREM_MOLECULE_LOG")
    if not log:
        pytest.skip("run through tests/molecule (make test-molecule): it records the output")
    return Path(log).read_text(errors="replace")


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Which secrets occur in text, with a little context, the value itself masked."""
    found = []
    for name, value in secrets.items():
        at = text.find(value)
        if at >= 0:
            context = text[max(0, at - 120) : at + len(value) + 40].replace(value, "<" + name + ">")
            found.append(f"{name}: ...{context}...")
    return found


def test_the_output_would_show_a_leak(output):
    """The scan means something only if module arguments were printed (-vvv)."""
    # The yaml callback's format: `module_args:` under `invocation:`, and no_log's censoring.
    assert output.count("module_args:") > 100
    assert re.search(r"the output has been hidden due to the fact that '+no_log: true'+", output)
    for step in ("converge", "idempotence"):
        assert f"model_serving > {step}] Executed: Successful" in output


def test_no_secret_in_the_playbook_output(output, secrets):
    assert leaks(output, secrets) == []


def test_no_secret_in_the_hosts_logs(host, secrets):
    container = host.backend.get_hostname()
    journal = subprocess.run(
        ["docker", "exec", container, "journalctl", "--no-pager", "-o", "verbose"],
        capture_output=True, check=True, timeout=120,
    ).stdout.decode(errors="replace")  # fmt: skip
    assert "mlflow" in journal  # the services' logs are in there
    assert leaks(journal, secrets) == []
    archive = subprocess.run(
        ["docker", "exec", container, "tar", "-C", "/", "-cf", "-", "var/log", "root", "tmp"],
        capture_output=True, check=False, timeout=120,
    ).stdout  # fmt: skip
    files = 0
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            if not member.isfile():
                continue
            files += 1
            text = tar.extractfile(member).read().decode(errors="replace")
            assert leaks(text, secrets) == [], member.name
    assert files > 10
