"""Running one Molecule scenario (molecule/<name>/) with its full test sequence.

Sequence (from .config/molecule/config.yml): destroy, syntax, create, check, converge,
idempotence (second run changed=0), verify (Testinfra), destroy. The full output of each
scenario is kept in .cache/molecule-logs/<name>.log.

make test runs pytest with two workers and ``--dist loadscope`` (tests/conftest.py says what a
scope is): every other scenario is a unit of work of its own, every unit and quality test file
one unit, and the scenarios that build or read the control node's wheelhouses
(.cache/wheelhouse, test_wheelhouse_scenarios.py) one unit that runs on one worker in order,
so that no two of them write the same wheelhouse at once. The units start longest first, so
that both workers end at about the same time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
LOGS = ROOT / ".cache" / "molecule-logs"
# In this order: ml_stack builds the torch wheelhouse that model_serving reads again.
WHEELHOUSE_USERS = ["ml_stack", "mlflow", "model_serving"]
# Where make test starts (after the wheelhouse chain, about 34 minutes on the 2-core CI
# machine): the other scenarios, longest first, as measured there (docs/benchmarks.md). A
# scenario not listed starts after these; a stale order costs minutes, never a result.
LONGEST_FIRST = [
    "security", "reverse_proxy", "base", "data_storage", "os_hardening", "nvidia_driver",
    "postgresql", "container_runtime", "ssh_hardening", "firewall", "cuda_toolkit", "fail2ban",
    "assess",
]  # fmt: skip


def work_unit(scenario: str) -> tuple[int, str]:
    """The xdist group of a scenario's test and where it starts (lower: earlier)."""
    if scenario in WHEELHOUSE_USERS:
        return 0, "wheelhouse"
    rank = LONGEST_FIRST.index(scenario) if scenario in LONGEST_FIRST else len(LONGEST_FIRST)
    return 1 + rank, f"molecule-{scenario}"


def run_scenario(scenario: str) -> None:
    assert shutil.which("docker"), "docker is not installed: run `make docker`"
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{scenario}.log"
    # ONPREM_MOLECULE_LOG: a scenario's own tests may read its whole output so far (the
    # platform scenario searches it for secrets).
    env = {
        **os.environ, "NO_COLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0",
        "ONPREM_MOLECULE_LOG": str(log),
    }  # fmt: skip
    with log.open("w") as out:
        result = subprocess.run(
            ["molecule", "test", "-s", scenario],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
            timeout=1800,
        )
    text = log.read_text()
    assert result.returncode == 0, f"molecule test -s {scenario} failed ({log}):\n{text[-8000:]}"
    for step in sequence_of(scenario):
        if step in {"idempotence", "verify"}:
            assert f"{step}: Executed: Successful" in text, f"{scenario}: {step} did not run"


def sequence_of(scenario: str) -> list[str]:
    """The scenario's own test sequence, else the shared one (.config/molecule/config.yml).

    A scenario may leave idempotence out only with a comment in its molecule.yml saying why
    (phase 1 rewrites its reports on every run, for instance); verify is never optional.
    """
    for path in (
        ROOT / "molecule" / scenario / "molecule.yml",
        ROOT / ".config/molecule/config.yml",
    ):
        sequence = (yaml.safe_load(path.read_text()) or {}).get("scenario", {}).get("test_sequence")
        if sequence:
            assert "verify" in sequence, f"{path}: the test sequence has no verify step"
            return sequence
    raise AssertionError("no test_sequence in .config/molecule/config.yml")
