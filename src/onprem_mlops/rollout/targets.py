"""Which hosts a phase targets, and the fingerprints that make a passed gate stale.

The hosts come from the phase playbook's own ``hosts:`` patterns (following
``import_playbook``), resolved against the inventory by Ansible's inventory manager, so the
rollout never keeps a second list of who gets what. A pattern that is a Jinja expression
(a play whose hosts a variable chooses) is left out: the playbook's other plays name the
hosts it serves.

Fingerprints (SHA-256, first 16 hex digits):
  inventory: the inventory file (or every file of an inventory directory) plus the
             group_vars/ and host_vars/ beside it;
  phase:     the phase playbook, every playbook and task file it imports, and every role
             directory it names; so a changed role makes the phases that use it stale.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

INCLUDE = re.compile(
    r"(?:import_playbook|import_tasks|include_tasks|ansible\.builtin\.import_playbook|"
    r"ansible\.builtin\.import_tasks|ansible\.builtin\.include_tasks):\s*[\"']?([\w./-]+\.ya?ml)"
)
WORD = re.compile(r"[A-Za-z_][\w]*")


def inventory_hosts(inventory: Path) -> tuple[list[str], Any]:
    """Every host of the inventory (in inventory order) and Ansible's inventory manager."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    return [host.name for host in manager.get_hosts("all")], manager


def play_patterns(playbook: Path) -> list[str]:
    """The ``hosts:`` of every play, following ``import_playbook`` (templated ones left out)."""
    patterns: list[str] = []
    for play in yaml.safe_load(playbook.read_text(encoding="utf-8")) or []:
        if not isinstance(play, dict):
            continue
        imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if imported:
            patterns += play_patterns(playbook.parent / str(imported))
            continue
        hosts = play.get("hosts")
        hosts = ":".join(hosts) if isinstance(hosts, list) else str(hosts or "")
        if hosts and "{{" not in hosts:
            patterns.append(hosts)
    return patterns


def phase_hosts(playbook: Path, manager: Any) -> list[str]:
    """The inventory's hosts that the phase's plays target, in inventory order."""
    known = [host.name for host in manager.get_hosts("all")]
    wanted: set[str] = set()
    for pattern in play_patterns(playbook):
        wanted |= {host.name for host in manager.get_hosts(pattern)}
    return [host for host in known if host in wanted]


def _digest(files: Iterable[Path], root: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(set(files)):
        if path.is_file():
            sha.update(str(path.relative_to(root) if path.is_relative_to(root) else path).encode())
            sha.update(b"\0")
            sha.update(path.read_bytes())
            sha.update(b"\0")
    return sha.hexdigest()[:16]


def _tree(path: Path) -> list[Path]:
    if path.is_dir():
        return [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return [path] if path.is_file() else []


def inventory_fingerprint(inventory: Path) -> str:
    base = inventory if inventory.is_dir() else inventory.parent
    files = _tree(inventory) + _tree(base / "group_vars") + _tree(base / "host_vars")
    return _digest(files, base)


def phase_files(playbook: Path, roles_dir: Path) -> list[Path]:
    """The playbook, what it imports (recursively) and the role directories it names."""
    seen: set[Path] = set()
    roles = {p.name for p in roles_dir.iterdir() if p.is_dir()} if roles_dir.is_dir() else set()
    files: list[Path] = []
    todo = [playbook]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        files.append(path)
        text = path.read_text(encoding="utf-8")
        todo += [(path.parent / name).resolve() for name in INCLUDE.findall(text)]
        for role in sorted(roles & set(WORD.findall(text))):
            if roles_dir / role not in seen:
                seen.add(roles_dir / role)
                files += _tree(roles_dir / role)
    return files


def phase_fingerprint(playbook: Path, roles_dir: Path) -> str:
    return _digest(phase_files(playbook, roles_dir), playbook.parent.parent)
