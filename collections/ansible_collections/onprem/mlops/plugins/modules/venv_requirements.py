#!/usr/bin/python
# Copyright: onprem-mlops contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module onprem.mlops.venv_requirements."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: venv_requirements
short_description: Tell which pinned requirements a virtual environment does not satisfy
version_added: "0.1.0"
description:
  - Asks the venv's own Python, through C(importlib.metadata), which version of each
    requirement's distribution is installed, and lists the requirements it does not satisfy.
    Reads only; never changes anything.
  - "Why: M(ansible.builtin.pip) answers the same question by starting pip (C(pip freeze)),
    several seconds per venv even when nothing is to be installed. A role calls this module
    first and M(ansible.builtin.pip) only for a venv that lacks something."
author:
  - onprem-mlops contributors
options:
  venv:
    description: Path of the virtual environment (the directory holding C(bin/python)).
    type: path
    required: true
  requirements:
    description:
      - Pinned requirements, C(name==version), optionally with extras (C(mlflow[auth]==3.17.2))
        and a local version label (C(torch==2.13.0+cpu)). Other specifiers are refused.
      - Extras are not checked (their dependencies are ordinary requirements of the venv).
    type: list
    elements: str
    required: true
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Ask the venv what it lacks
  onprem.mlops.venv_requirements:
    venv: /opt/mlflow/venv
    requirements: ["mlflow[auth]==3.17.2", "psycopg2-binary==2.9.11"]
  register: __mlflow_venv

- name: Install what is missing
  ansible.builtin.pip:
    name: "{{ __mlflow_venv.unmet }}"
    virtualenv: /opt/mlflow/venv
  when: __mlflow_venv.unmet | length > 0
"""

RETURN = r"""
exists:
  description: Whether the venv's Python exists and runs.
  returned: always
  type: bool
python_version:
  description: The venv's Python version, e.g. C(3.11.2); empty when the venv does not exist.
  returned: always
  type: str
installed:
  description: Installed version of each requirement's distribution (null when not installed).
  returned: always
  type: dict
unmet:
  description: The requirements, as given, that the venv does not satisfy (all of them when it
    does not exist).
  returned: always
  type: list
  elements: str
"""

import json
import re
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule

PINNED = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[A-Za-z0-9._,\s-]*\])?\s*==\s*"
    r"(?P<version>[A-Za-z0-9.+!_-]+)\s*$"
)
# Runs with the venv's Python: the installed version of each distribution name, or None.
QUERY = r"""
import importlib.metadata as m, json, platform, sys
found = {}
for name in json.loads(sys.argv[1]):
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = None
print(json.dumps({"python_version": platform.python_version(), "installed": found}))
"""


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of '-', '_' and '.' as one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(requirements: list[str]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(requirement, canonical name, version) for each pin, and the requirements refused."""
    pins: list[tuple[str, str, str]] = []
    refused: list[str] = []
    for requirement in requirements:
        match = PINNED.match(requirement)
        if match is None:
            refused.append(requirement)
            continue
        pins.append((requirement, canonical(match["name"]), match["version"]))
    return pins, refused


def unmet(pins: list[tuple[str, str, str]], installed: dict[str, str | None]) -> list[str]:
    """The requirements whose distribution is missing or has another version."""
    return [
        requirement
        for requirement, name, version in pins
        if (installed.get(name) or "").lower() != version.lower()
    ]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "venv": {"type": "path", "required": True},
            "requirements": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=True,
    )
    pins, refused = parse(module.params["requirements"])
    if refused:
        module.fail_json(
            msg="requirements must be pinned as name==version (extras allowed), not: "
            + ", ".join(refused)
        )
    python = Path(module.params["venv"]) / "bin" / "python"
    result: dict[str, Any] = {
        "changed": False,
        "exists": False,
        "python_version": "",
        "installed": {name: None for _, name, _ in pins},
        "unmet": [requirement for requirement, _, _ in pins],
    }
    if not python.exists():
        module.exit_json(**result)
    names = sorted({name for _, name, _ in pins})
    rc, out, err = module.run_command([str(python), "-c", QUERY, json.dumps(names)])
    if rc != 0:
        # A venv whose Python no longer starts (its base interpreter was upgraded away) is as
        # good as missing: pip recreates what it can, and the caller's check reports the rest.
        module.warn(f"{python} did not run (rc {rc}): {err.strip()[-300:]}")
        module.exit_json(**result)
    data = json.loads(out)
    result.update(
        exists=True,
        python_version=data["python_version"],
        installed=data["installed"],
        unmet=unmet(pins, data["installed"]),
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
