"""Helpers shared by the Testinfra tests of every Molecule scenario.

``converge_with(extra_vars)`` runs the scenario's converge playbook once more from the
control node, against the scenario's container (Molecule's own inventory), with extra
variables, and returns the result with the parsed play recap. Bad-input tests use it to show
that a wrong variable fails with a clear message before anything changes on the host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr with white space folded, for message matching."""
        return " ".join((self.stdout + self.stderr).split())

    @property
    def recap(self) -> dict[str, int]:
        """Totals of the PLAY RECAP lines, over every host (localhost included)."""
        totals: dict[str, int] = {}
        for line in self.stdout.splitlines():
            if re.search(r"\bok=\d+.*\bchanged=\d+", line):
                for key, value in re.findall(r"(\w+)=(\d+)", line):
                    totals[key] = totals.get(key, 0) + int(value)
        assert totals, f"no PLAY RECAP in the output:\n{self.stdout[-3000:]}"
        return totals


def run_playbook(playbook: Path, extra_vars: dict | None = None, *args: str) -> PlaybookRun:
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    result = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=900, check=False)
    return PlaybookRun(result.returncode, result.stdout, result.stderr)


@pytest.fixture(scope="session")
def converge_with() -> Callable[..., PlaybookRun]:
    converge = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"

    def _run(extra_vars: dict | None = None, *args: str) -> PlaybookRun:
        return run_playbook(converge, extra_vars, *args)

    return _run


def assert_fails_before_change(run: PlaybookRun, expected: str) -> None:
    """The run failed on one host, printed ``expected`` (a regex) and changed nothing."""
    assert run.returncode != 0, run.output[-2000:]
    assert re.search(expected, run.output), run.output[-2000:]
    assert run.recap["failed"] == 1, run.recap
    assert run.recap["changed"] == 0, run.recap
