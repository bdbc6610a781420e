"""config.toml of role gitlab_runner, rendered by Ansible from the role's own template, defaults
and vars, and read back with Python's TOML parser. The Molecule scenario compares the shell
executor's file with an expected one on a host; here the Docker executor with GPUs, which no
test host has (no Docker in the scenario's container), and quoting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "gitlab_runner"

PLAYBOOK = """---
- name: Render the runner's config.toml
  hosts: localhost
  gather_facts: false
  vars_files:
    - {role}/defaults/main.yml
    - {role}/vars/main.yml
  tasks:
    - name: Render it
      ansible.builtin.template:
        src: {role}/templates/config.toml.j2
        dest: "{{{{ out }}}}"
        mode: "0600"
"""


def render(tmp_path: Path, **variables: object) -> dict:
    playbook = tmp_path / "render.yml"
    playbook.write_text(PLAYBOOK.format(role=ROLE))
    out = tmp_path / "config.toml"
    extra = {
        "out": str(out),
        "ansible_python_interpreter": sys.executable,
        "__gitlab_runner_auth": {"id": 42, "token": "glrt-abcdefghijklmnopqrst"},
        "gitlab_runner_url": "https://gitlab.example.internal",
        **variables,
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         str(playbook), "-e", json.dumps(extra)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return tomllib.loads(out.read_text())


def test_the_docker_executor_gets_the_gpus_and_the_venv_read_only(tmp_path):
    doc = render(tmp_path, gitlab_runner_executor="docker", gitlab_runner_name="gpu01",
                 gitlab_runner_docker_volumes=["/srv/mlops/datasets:/srv/mlops/datasets:ro"],
                 gitlab_runner_mlflow_tracking_uri="https://mlops01")  # fmt: skip
    assert doc["concurrent"] == 1
    (runner,) = doc["runners"]
    assert (runner["name"], runner["id"], runner["token"]) == (
        "gpu01",
        42,
        "glrt-abcdefghijklmnopqrst",
    )
    assert runner["executor"] == "docker" and "shell" not in runner
    assert "tls-ca-file" not in runner
    docker = runner["docker"]
    assert docker["gpus"] == "all"
    assert docker["image"] == "debian:bookworm-slim"
    assert docker["privileged"] is False
    assert docker["pull_policy"] == ["if-not-present"]
    assert docker["volumes"] == [
        "/cache",
        "/opt/onprem-mlops/venv:/opt/onprem-mlops/venv:ro",
        "/srv/mlops/datasets:/srv/mlops/datasets:ro",
    ]
    assert "MLFLOW_TRACKING_URI=https://mlops01" in runner["environment"]
    assert not any("PASSWORD" in e for e in runner["environment"])


def test_no_gpus_line_without_gpus_and_the_ca_file_with_a_ca(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not read by the template")
    doc = render(tmp_path, gitlab_runner_executor="docker", gitlab_runner_docker_gpus="",
                 gitlab_runner_ca_src=str(ca), gitlab_runner_venv="")  # fmt: skip
    (runner,) = doc["runners"]
    assert "gpus" not in runner["docker"]
    assert runner["docker"]["volumes"] == ["/cache"]
    assert runner["tls-ca-file"] == "/etc/gitlab-runner/certs/gitlab.example.internal.crt"
    assert not any(e.startswith("ONPREM_MLOPS=") for e in runner["environment"])


@pytest.mark.parametrize("name", ['quote"d', "back\\slash"])
def test_strings_are_quoted_for_toml(tmp_path, name):
    doc = render(tmp_path, gitlab_runner_name=name, gitlab_runner_environment=[f"NOTE={name}"])
    (runner,) = doc["runners"]
    assert runner["name"] == name
    assert f"NOTE={name}" in runner["environment"]
