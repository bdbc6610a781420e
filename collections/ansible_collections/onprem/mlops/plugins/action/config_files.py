# Copyright: onprem-mlops contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of onprem.mlops.config_files: renders the templates on the control node.

Each entry with ``src`` is rendered like ansible.builtin.template renders its ``src`` (the
role's ``templates/`` directory is searched first, ``ansible_managed`` and the template_*
variables are set, trim_blocks on); the module then receives every file's content and
writes them all in one remote call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

try:  # ansible-core 2.19: where the template action gets ansible_managed and template_*
    from ansible._internal._templating import _template_vars
except ImportError:  # pragma: no cover - other ansible-core versions
    _template_vars = None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        files = self._task.args.get("files")
        if not isinstance(files, list) or not files:
            raise AnsibleActionFail("files must be a non-empty list of {dest, src|content, mode}")
        rendered = []
        for entry in files:
            if not isinstance(entry, dict):
                raise AnsibleActionFail(f"files entry {entry!r} is not a dictionary")
            if ("src" in entry) == ("content" in entry):
                raise AnsibleActionFail(
                    f"files entry for {entry.get('dest', '?')}: give exactly one of src and content"
                )
            item = {k: v for k, v in entry.items() if k != "src"}
            if "src" in entry:
                item["content"] = self._render(str(entry["src"]), str(entry.get("dest")), task_vars)
            rendered.append(item)
        result.update(
            self._execute_module(
                module_name="onprem.mlops.config_files",
                module_args={"files": rendered},
                task_vars=task_vars,
            )
        )
        return result

    def _render(self, src: str, dest: str, task_vars: dict[str, Any]) -> str:
        try:
            source = self._find_needle("templates", src)
        except AnsibleError as err:
            raise AnsibleActionFail(str(err)) from err
        data = trust_as_template(self._loader.get_text_file_contents(source))
        bases = [*task_vars.get("ansible_search_path", []), self._loader._basedir]
        bases.append(str(Path(source).parent))
        searchpath = [q for base in bases for q in (str(Path(base) / "templates"), base)]
        variables = dict(task_vars)
        if _template_vars is not None:
            variables.update(
                _template_vars.generate_ansible_template_vars(
                    path=src,
                    fullpath=source,
                    dest_path=dest,
                    include_ansible_managed="ansible_managed" not in variables,
                )
            )
        else:  # pragma: no cover
            variables.setdefault("ansible_managed", "Ansible managed")
        templar = self._templar.copy_with_new_env(
            searchpath=searchpath, available_variables=variables
        )
        text = templar.template(
            data,
            escape_backslashes=False,
            overrides={"trim_blocks": True, "lstrip_blocks": False, "newline_sequence": "\n"},
        )
        return "" if text is None else str(text)
