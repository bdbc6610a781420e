"""Static quality gates: linters and playbook syntax. Each runs the real tool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    # The tools of the virtual environment running the tests, also when pytest is called by
    # its path without that environment on PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "NO_COLOR": "1"}
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env=env, check=False, timeout=900
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


def test_ruff_check():
    assert_ok(run("ruff", "check", "."))


def test_ruff_format():
    assert_ok(run("ruff", "format", "--check", "."))


def test_yamllint():
    assert_ok(run("yamllint", "--strict", "."))


def test_ansible_lint_production_profile():
    result = run("ansible-lint", "--profile", "production", "--offline")
    assert_ok(result)
    assert "0 failure(s), 0 warning(s)" in result.stdout + result.stderr


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_playbook_syntax(playbook: Path):
    for inventory in ("inventories/local/hosts.yml", "inventories/example/hosts.yml"):
        assert_ok(run("ansible-playbook", "--syntax-check", "-i", inventory, str(playbook)))


def test_there_are_playbooks():
    assert any(p.name == "site.yml" for p in PLAYBOOKS)
