"""Every task that passes a secret to a module runs with no_log, and never in its environment.

A task's arguments are shown by ``ansible-playbook -vvv`` (and in failure messages) unless the
task has ``no_log``. This gate reads every task of the roles and playbooks and finds the
Jinja expressions in its arguments that use a variable named like a secret (password,
secret, token); such a task must set ``no_log``. A task's ``environment`` is worse: Ansible
puts it on the command line it runs (``sh -c 'PGPASSWORD=... python3'``), which -vvv prints
even with ``no_log`` and the host's process list shows; secrets go on stdin instead. The
platform scenario then shows at run time that no planted secret reaches the output or the
hosts' logs (molecule/model_serving/tests/test_secrets.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    [
        *ROOT.glob("roles/*/tasks/*.yml"),
        *ROOT.glob("roles/*/handlers/*.yml"),
        *ROOT.glob("playbooks/*.yml"),
        *ROOT.glob("playbooks/tasks/*.yml"),
    ]
)
# Keys of a task that are not module arguments (or cannot carry a value to a module).
NOT_ARGUMENTS = {
    "name", "when", "no_log", "tags", "register", "loop_control", "changed_when",
    "failed_when", "until", "notify", "listen", "delegate_to", "become", "become_user",
    "check_mode", "run_once", "ignore_errors", "retries", "delay", "block", "rescue",
    "always", "vars", "environment_description",
}  # fmt: skip
# Modules whose arguments are never sent anywhere or shown by -vvv as module arguments.
LOCAL_ONLY = {"ansible.builtin.import_tasks", "ansible.builtin.include_tasks",
              "ansible.builtin.import_playbook", "ansible.builtin.import_role",
              "ansible.builtin.include_role", "ansible.builtin.meta"}  # fmt: skip
SECRET = re.compile(r"\b(\w*(password|secret|token)\w*)\b")
# Names that contain those words but hold no secret: where a secret is kept, password
# policies (lengths, ages, history), flags, and the placeholder.
NOT_SECRET = re.compile(
    r"(_file|_dir|_path|_src|_length|_classes|_days|_remember|_hash_cost|_placeholder"
    r"|_enabled|_authentication)$"
)
JINJA = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.S)


def tasks_of(node, path: Path):
    """Every task (dict with a module) in a play, block or task list, depth first."""
    if isinstance(node, list):
        for item in node:
            yield from tasks_of(item, path)
    elif isinstance(node, dict):
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
            if key in node:
                yield from tasks_of(node[key], path)
        if not {"hosts", "block", "import_playbook", "ansible.builtin.import_playbook"} & set(node):
            yield node


def expressions(value) -> list[str]:
    if isinstance(value, str):
        return [a or b for a, b in JINJA.findall(value)]
    if isinstance(value, dict):
        return [e for v in value.values() for e in expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in expressions(v)]
    return []


def secret_names(value) -> set[str]:
    names = set()
    for expression in expressions(value):
        # String literals inside an expression are text, not variables.
        code = re.sub(r"'[^']*'|\"[^\"]*\"", "''", expression)
        names |= {m.group(1) for m in SECRET.finditer(code) if not NOT_SECRET.search(m.group(1))}
    return names


def violations(path: Path) -> list[str]:
    found = []
    for task in tasks_of(yaml.safe_load(path.read_text()) or [], path):
        where = f"{path.relative_to(ROOT)}: task {task.get('name', '?')!r}"
        arguments = {k: v for k, v in task.items() if k not in NOT_ARGUMENTS | LOCAL_ONLY}
        in_environment = secret_names(task.get("environment", {}))
        if in_environment:
            found.append(f"{where} puts {sorted(in_environment)} in its environment")
        elif secret_names(arguments) and not task.get("no_log"):
            found.append(f"{where} uses {sorted(secret_names(arguments))}")
    return found


def test_the_gate_finds_a_secret_without_no_log(tmp_path):
    task = tmp_path / "main.yml"
    task.write_text(
        "- name: Set the password\n  ansible.builtin.command:\n"
        '    cmd: "app --password {{ app_admin_password }}"\n'
        "- name: Set it quietly\n  ansible.builtin.command:\n"
        '    cmd: "app --password {{ app_admin_password }}"\n  no_log: true\n'
        "- name: Mention it\n  ansible.builtin.debug:\n"
        "    msg: \"{{ 'app_admin_password' }} lives in {{ app_password_file }}\"\n"
        "- name: Hand it over in the environment\n  ansible.builtin.command:\n    cmd: app\n"
        '  environment:\n    APP_PASSWORD: "{{ app_admin_password }}"\n  no_log: true\n'
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert violations(task) == [
            "main.yml: task 'Set the password' uses ['app_admin_password']",
            "main.yml: task 'Hand it over in the environment' puts ['app_admin_password'] in its"
            " environment",
        ]
    finally:
        ROOT = saved


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_tasks_that_pass_secrets_use_no_log(path: Path):
    assert violations(path) == []
