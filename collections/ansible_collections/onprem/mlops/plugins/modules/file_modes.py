#!/usr/bin/python
# Copyright: onprem-mlops contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module onprem.mlops.file_modes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: file_modes
short_description: Set modes and owners of many paths, create directories, remove files, in one call
version_added: "0.1.0"
description:
  - Sets the permission bits, and optionally the owner and group, of each listed path that
    exists; paths that do not exist are reported in C(missing) and left alone (a hardening
    baseline lists files that only some hosts have, such as C(/boot/grub/grub.cfg)).
  - Entries with O(files[].state=directory) are created when missing, in list order (a parent
    listed before its children gets its own mode and owner); entries with
    O(files[].state=absent) are removed when they are a file or a symbolic link.
  - Symbolic links are never followed or changed.
  - "One module call for the whole list: a loop of M(ansible.builtin.file) tasks costs one
    remote round trip per path, which dominates a run that changes nothing."
author:
  - onprem-mlops contributors
options:
  files:
    description: The paths and what they should look like.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      mode:
        description:
          - Permission bits as an octal string, e.g. C("0600").
          - Required unless O(files[].state=absent).
        type: str
      owner:
        description:
          - User name that should own the path; unchanged when omitted (a directory this
            module creates then belongs to the user the module runs as).
        type: str
      group:
        description: Group name that should own the path; unchanged when omitted.
        type: str
      state:
        description:
          - C(exists) sets mode and owner of a path that exists and reports a missing one.
          - C(directory) creates the directory when it is missing (missing parents too, 0755,
            as M(ansible.builtin.file) does), then sets mode and owner; a file in its place is
            an error.
          - C(absent) removes a file or symbolic link; a directory in its place is an error.
        type: str
        choices: [exists, directory, absent]
        default: exists
notes:
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Restrict cron and sudo configuration
  onprem.mlops.file_modes:
    files:
      - {path: /etc/crontab, mode: "0600"}
      - {path: /etc/sudoers.d, mode: "0750"}
      - {path: /etc/shadow, mode: "0640", owner: root, group: shadow}

- name: Create the service's directories, remove a retired file
  onprem.mlops.file_modes:
    files:
      - {path: /srv/app, state: directory, mode: "0755"}
      - {path: /srv/app/state, state: directory, mode: "0750", owner: app, group: app}
      - {path: /etc/app/old.conf, state: absent}
"""

RETURN = r"""
changed_files:
  description: >-
    Each changed path with its state before and after ("0644 root:root", or "absent" for a
    path created or removed).
  returned: always
  type: dict
missing:
  description: Listed paths that do not exist (or are symbolic links), left alone.
  returned: always
  type: list
  elements: str
"""

import grp
import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ansible.module_utils.basic import AnsibleModule

STATES = ("exists", "directory", "absent")
ABSENT = "absent"


@dataclass(frozen=True)
class Wanted:
    path: str
    mode: int  # -1 for state absent
    owner: str | None = None
    group: str | None = None
    state: str = "exists"


def parse(entries: list[dict[str, Any]]) -> tuple[list[Wanted], list[str]]:
    """The entries as Wanted objects, and a problem sentence for each bad one."""
    wanted: list[Wanted] = []
    problems: list[str] = []
    for entry in entries:
        path, mode = str(entry.get("path") or ""), str(entry.get("mode") or "")
        state = str(entry.get("state") or "exists")
        if not PurePosixPath(path).is_absolute() or PurePosixPath(path) == PurePosixPath("/"):
            problems.append(f"path '{path}' is not absolute (or is /)")
            continue
        if state not in STATES:
            problems.append(f"{path}: state '{state}' is not one of {', '.join(STATES)}")
            continue
        if state == ABSENT:
            wanted.append(Wanted(path, -1, state=state))
            continue
        try:
            bits = int(mode, 8)
        except ValueError:
            bits = -1
        if not 0 <= bits <= 0o7777:
            problems.append(f"{path}: mode '{mode}' is not an octal mode such as 0640")
            continue
        wanted.append(Wanted(path, bits, entry.get("owner"), entry.get("group"), state))
    return wanted, problems


def describe(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o} {_user(st.st_uid)}:{_group(st.st_gid)}"


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


UNKNOWN = -2  # a name that does not exist (yet): only in check mode, see ids()


def ids(want: Wanted, check_mode: bool = False) -> tuple[int, int]:
    """uid and gid to set (-1: leave as it is); KeyError for unknown names.

    In check mode an unknown name is UNKNOWN instead: the user or group is created by an
    earlier task of a real run, so the path is reported as a change, not an error.
    """
    ids_: list[int] = []
    for name, lookup in ((want.owner, pwd.getpwnam), (want.group, grp.getgrnam)):
        if not name:
            ids_.append(-1)
            continue
        try:
            entry = lookup(name)
        except KeyError:
            if not check_mode:
                raise
            ids_.append(UNKNOWN)
            continue
        ids_.append(entry.pw_uid if lookup is pwd.getpwnam else entry.gr_gid)
    return ids_[0], ids_[1]


def _names(want: Wanted, uid: int, gid: int, st: os.stat_result | None) -> str:
    """owner:group as they will be, the wanted names where they do not exist yet."""

    def name(
        wanted: str | None, wanted_id: int, current: int, to_name: Callable[[int], str]
    ) -> str:
        if wanted_id == UNKNOWN:
            return str(wanted)
        return to_name(wanted_id if wanted_id != -1 else current)

    current_uid = st.st_uid if st is not None else os.getuid()
    current_gid = st.st_gid if st is not None else os.getgid()
    return (
        f"{name(want.owner, uid, current_uid, _user)}:{name(want.group, gid, current_gid, _group)}"
    )


class WrongType(Exception):
    """A path is of another type than its state asks for."""


def _remove(want: Wanted, check_mode: bool) -> dict[str, str] | None:
    """Remove a file or symbolic link; the change, or None when it was not there."""
    try:
        st = os.lstat(want.path)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(st.st_mode):
        raise WrongType(f"{want.path} is a directory; state absent removes files and links only")
    if not check_mode:
        Path(want.path).unlink()
    return {"before": describe(st), "after": ABSENT}


def _create_directory(want: Wanted, check_mode: bool) -> bool:
    """Create a missing directory (True), or confirm it exists (False).

    Missing parents are created too, 0755 and owned by the running user, as
    ansible.builtin.file does; list a parent before its children to give it its own mode.
    """
    try:
        st = os.lstat(want.path)
    except FileNotFoundError:
        if not check_mode:
            parent = Path(want.path).parent
            for missing in reversed([parent, *parent.parents]):
                if not missing.exists():
                    missing.mkdir(mode=0o755)
                    missing.chmod(0o755)
            Path(want.path).mkdir(mode=0o700)  # the wanted mode is set below, past the umask
        return True
    if not stat.S_ISDIR(st.st_mode):
        raise WrongType(f"{want.path} exists and is not a directory")
    return False


def apply(
    wanted: list[Wanted],
    check_mode: bool,
    chmod: Callable[[str, int], None] = os.chmod,
    chown: Callable[[str, int, int], None] = os.lchown,
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Bring every path to its wanted state; returns (changed, missing).

    Raises WrongType when a path's type contradicts its state (nothing after it is touched).
    """
    changed: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    for want in wanted:
        if want.state == ABSENT:
            removed = _remove(want, check_mode)
            if removed:
                changed[want.path] = removed
            continue
        if want.state == "directory" and _create_directory(want, check_mode):
            uid, gid = ids(want, check_mode)
            after = f"{want.mode:04o} {_names(want, uid, gid, None)}"
            changed[want.path] = {"before": ABSENT, "after": after}
            if not check_mode:
                if uid != -1 or gid != -1:
                    chown(want.path, uid, gid)
                chmod(want.path, want.mode)
            continue
        try:
            st = os.lstat(want.path)
        except FileNotFoundError:
            missing.append(want.path)
            continue
        if stat.S_ISLNK(st.st_mode):
            missing.append(want.path)
            continue
        uid, gid = ids(want, check_mode)
        needs_owner = (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid)
        needs_mode = stat.S_IMODE(st.st_mode) != want.mode
        if not (needs_owner or needs_mode):
            continue
        after = f"{want.mode:04o} {_names(want, uid, gid, st)}"
        changed[want.path] = {"before": describe(st), "after": after}
        if check_mode:
            continue
        if needs_owner:  # before chmod: chown clears setuid/setgid bits
            chown(want.path, uid, gid)
        chmod(want.path, want.mode)
    return changed, missing


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "path", "required": True},
                    "mode": {"type": "str"},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "state": {"type": "str", "choices": list(STATES), "default": "exists"},
                },
            }
        },
        supports_check_mode=True,
    )
    wanted, problems = parse(module.params["files"])
    if problems:
        module.fail_json(msg="files: " + "; ".join(problems))
    try:
        changed, missing = apply(wanted, module.check_mode)
    except KeyError as err:
        module.fail_json(msg=f"files: unknown user or group {err}")
    except WrongType as err:
        module.fail_json(msg=f"files: {err}")
    except OSError as err:
        module.fail_json(msg=f"files: {err.filename}: {err.strerror}")
    result: dict[str, Any] = {
        "changed": bool(changed),
        "changed_files": changed,
        "missing": missing,
    }
    if module._diff and changed:
        result["diff"] = {
            "before": "".join(f"{p}: {c['before']}\n" for p, c in changed.items()),
            "after": "".join(f"{p}: {c['after']}\n" for p, c in changed.items()),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
