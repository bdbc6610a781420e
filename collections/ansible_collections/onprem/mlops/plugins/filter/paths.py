"""Entries for onprem.mlops.file_modes from a role's own list of directories.

Filter (``onprem.mlops.<name>``):

- ``paths_under``: ``[{name, mode, ...}] -> [{path, mode, owner, group, state}]``: each item's
  ``name`` joined to a base directory, the given defaults filled in, keys that
  file_modes does not know (a role's own flags) left out

Documentation for ansible-doc: paths_under.yml next to this file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from ansible.errors import AnsibleFilterError

FILE_MODES_KEYS = ("path", "mode", "owner", "group", "state")


def paths_under(items: Iterable[Mapping[str, Any]], base: str, **defaults: Any) -> list[dict]:
    """``base``/``item.name`` for every item, with ``defaults`` under the item's own values."""
    root = PurePosixPath(str(base))
    if not root.is_absolute():
        raise AnsibleFilterError(f"paths_under: base '{base}' is not an absolute path")
    entries = []
    for item in items:
        name = str(item.get("name") or "")
        if not name or name.startswith("/") or ".." in PurePosixPath(name).parts:
            raise AnsibleFilterError(f"paths_under: name '{name}' is not a path below {base}")
        merged = {**defaults, **item, "path": str(root / name)}
        entries.append({key: merged[key] for key in FILE_MODES_KEYS if key in merged})
    return entries


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"paths_under": paths_under}
