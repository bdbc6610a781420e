#!/usr/bin/python
# Copyright: onprem-mlops contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module onprem.mlops.config_files (with the action plugin of the same name)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: config_files
short_description: Write several whole configuration files in one call
version_added: "0.1.0"
description:
  - Renders each file on the control node (a template from the role's C(templates/) or a
    literal C(content)), then writes all of them on the host with one module call. A file is
    replaced only when its content differs, atomically (a temporary file in the same
    directory, checked by O(files[].validate) first, then renamed over the old one); mode,
    owner and group are set either way.
  - "Why: M(ansible.builtin.template) costs two remote round trips per file even when nothing
    changes. A hardening role that writes twenty files spends most of a run that changes
    nothing on those round trips; grouped here, it needs one per group."
  - "Group the files by the handler they notify: the task reports C(changed) when any of its
    files changed, and RV(changed_files) names them."
author:
  - onprem-mlops contributors
options:
  files:
    description: The files to write.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path on the host. Its directory must exist.
        type: path
        required: true
      src:
        description:
          - Template to render on the control node, found like M(ansible.builtin.template)'s
            C(src) (the role's C(templates/) directory first). C(ansible_managed) is available.
          - Exactly one of O(files[].src) and O(files[].content).
        type: str
      content:
        description: The file's text, used as it is.
        type: str
      mode:
        description: Permission bits as an octal string, e.g. C("0600").
        type: str
        default: "0644"
      owner:
        description: Owner's user name.
        type: str
        default: root
      group:
        description: Group name.
        type: str
        default: root
      parents:
        description:
          - Create the file's missing parent directories (root, 0755); otherwise a missing
            directory is an error (its package is usually not installed yet).
        type: bool
        default: false
      validate:
        description:
          - Command that checks the new file before it replaces the old one; C(%s) stands for
            the temporary file's path, e.g. C(/usr/sbin/sshd -t -f %s). A non-zero exit fails
            the task and leaves the old file in place.
          - "As with M(ansible.builtin.template)'s C(validate), the path is filled in with
            Python's C(%) operator; write C(%%) for a literal C(%)."
        type: str
notes:
  - Supports check mode and diff mode. In check mode a file whose directory does not exist
    yet (its package is not installed) is reported as a change, not an error.
  - The contents travel as module arguments; do not use it for files that hold secrets.
"""

EXAMPLES = r"""
- name: Write the PAM settings
  onprem.mlops.config_files:
    files:
      - {src: pwquality.conf.j2, dest: /etc/security/pwquality.conf, mode: "0644"}
      - {src: faillock.conf.j2, dest: /etc/security/faillock.conf, mode: "0644"}
      - {content: "Authorised access only.\n", dest: /etc/issue.net, mode: "0644"}
  notify: Update the PAM configuration

- name: Write the sshd configuration, checked by sshd first
  onprem.mlops.config_files:
    files:
      - src: sshd_config.j2
        dest: /etc/ssh/sshd_config
        mode: "0600"
        validate: /usr/sbin/sshd -t -f %s
"""

RETURN = r"""
changed_files:
  description: Paths whose content, mode or ownership changed (or would change in check mode).
  returned: always
  type: list
  elements: str
"""

import grp
import hashlib
import os
import pwd
import shlex
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule


class ValidateError(Exception):
    """The validate command refused a new file."""


@dataclass
class Wanted:
    dest: str
    content: bytes
    mode: int
    owner: str = "root"
    group: str = "root"
    validate: str | None = None
    parents: bool = False


@dataclass
class Outcome:
    changed_files: list[str] = field(default_factory=list)
    diffs: list[dict[str, str]] = field(default_factory=list)


def parse(entries: list[dict[str, Any]]) -> tuple[list[Wanted], list[str]]:
    """Wanted files and a problem sentence for each bad entry."""
    wanted: list[Wanted] = []
    problems: list[str] = []
    for entry in entries:
        dest = str(entry.get("dest") or "")
        if not Path(dest).is_absolute():
            problems.append(f"dest '{dest}' is not an absolute path")
            continue
        try:
            mode = int(str(entry.get("mode") or "0644"), 8)
        except ValueError:
            mode = -1
        if not 0 <= mode <= 0o7777:
            problems.append(f"{dest}: mode '{entry.get('mode')}' is not an octal mode such as 0644")
            continue
        validate = entry.get("validate") or None
        if validate is not None and not _one_placeholder(validate):
            problems.append(
                f"{dest}: validate '{validate}' must contain %s (the new file) once, "
                "and %% for any literal %"
            )
            continue
        wanted.append(
            Wanted(
                dest=dest,
                content=str(entry.get("content") or "").encode(),
                mode=mode,
                owner=entry.get("owner") or "root",
                group=entry.get("group") or "root",
                validate=validate,
                parents=bool(entry.get("parents")),
            )
        )
    return wanted, problems


def _one_placeholder(command: str) -> bool:
    """The command has exactly one %s and no other % directive (%% is a literal %)."""
    try:
        return command % "\0" != command % "" and (command % "\0").count("\0") == 1
    except (TypeError, ValueError):
        return False


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def apply(
    wanted: list[Wanted],
    check_mode: bool,
    want_diff: bool,
    run_validate: Callable[[str], tuple[int, str]],
) -> Outcome:
    """Write each file that differs; run_validate(command) -> (rc, output).

    An owner or group that does not exist is an error, except in check mode, where an earlier
    task of a real run would have created it: the file is then reported as a change.
    """
    outcome = Outcome()
    for want in wanted:
        try:
            uid, gid = pwd.getpwnam(want.owner).pw_uid, grp.getgrnam(want.group).gr_gid
        except KeyError:
            if not check_mode:
                raise
            outcome.changed_files.append(want.dest)
            continue
        path = Path(want.dest)
        try:
            st = path.lstat()
            old = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
        except FileNotFoundError:
            st, old = None, None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(f"{want.dest} exists and is not a regular file")
        content_differs = old is None or _digest(old) != _digest(want.content)
        attrs_differ = st is not None and (
            stat.S_IMODE(st.st_mode) != want.mode or st.st_uid != uid or st.st_gid != gid
        )
        if not (content_differs or attrs_differ):
            continue
        outcome.changed_files.append(want.dest)
        if want_diff and content_differs:
            outcome.diffs.append(
                {
                    "before_header": want.dest if old is not None else "/dev/null",
                    "after_header": want.dest,
                    "before": _text(old) if old is not None else "",
                    "after": _text(want.content),
                }
            )
        if check_mode:
            continue
        if content_differs:
            _replace(want, uid, gid, run_validate)
        else:
            os.chown(want.dest, uid, gid)
            path.chmod(want.mode)
    return outcome


def _replace(
    want: Wanted, uid: int, gid: int, run_validate: Callable[[str], tuple[int, str]]
) -> None:
    directory = Path(want.dest).parent
    if want.parents and not directory.is_dir():
        directory.mkdir(mode=0o755, parents=True)
    if not directory.is_dir():
        raise FileNotFoundError(f"{want.dest}: directory {directory} does not exist")
    fd, name = tempfile.mkstemp(prefix=".onprem-mlops.", dir=directory)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(want.content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chown(tmp, uid, gid)
        tmp.chmod(want.mode)
        if want.validate:
            rc, output = run_validate(want.validate % shlex.quote(name))
            if rc != 0:
                raise ValidateError(
                    f"{want.dest}: the new file was refused by '{want.validate}' (exit {rc}); "
                    f"the old file is unchanged: {output.strip()}"
                )
        tmp.replace(want.dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "dest": {"type": "path", "required": True},
                    "content": {"type": "str", "default": ""},
                    "mode": {"type": "str", "default": "0644"},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "validate": {"type": "str"},
                    "parents": {"type": "bool", "default": False},
                },
            }
        },
        supports_check_mode=True,
    )
    wanted, problems = parse(module.params["files"])
    if problems:
        module.fail_json(msg="files: " + "; ".join(problems))

    def run_validate(command: str) -> tuple[int, str]:
        rc, out, err = module.run_command(command, use_unsafe_shell=False)
        return rc, (out + err)

    try:
        outcome = apply(wanted, module.check_mode, bool(module._diff), run_validate)
    except ValidateError as err:
        module.fail_json(msg=str(err))
    except KeyError as err:
        module.fail_json(msg=f"files: unknown user or group {err}")
    except OSError as err:
        module.fail_json(msg=f"files: {err}")
    result: dict[str, Any] = {
        "changed": bool(outcome.changed_files),
        "changed_files": outcome.changed_files,
    }
    if outcome.diffs:
        result["diff"] = outcome.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
