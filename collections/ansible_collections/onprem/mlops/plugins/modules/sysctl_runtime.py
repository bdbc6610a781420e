#!/usr/bin/python
# Copyright: onprem-mlops contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module onprem.mlops.sysctl_runtime."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sysctl_runtime
short_description: Set kernel parameters (sysctl) at run time, also inside containers
version_added: "0.1.0"
description:
  - Reads each kernel parameter from C(/proc/sys) and writes the ones whose value differs.
    Only the running kernel changes; persistence (a file in C(/etc/sysctl.d)) is the role's
    job, not this module's.
  - Values are compared after splitting on whitespace, so C(32768 60999) equals
    C("32768\t60999") for multi-value parameters such as C(net.ipv4.ip_local_port_range).
  - Parameters this kernel does not have are reported in RV(missing), not an error unless
    O(fail_on_missing=true).
  - Containers (Docker, Podman) mount C(/proc/sys) read-only. With O(scope=network) the module
    then writes the C(net.*) parameters, which belong to the container's own network
    namespace, through a private C(proc) mount (C(mount -t proc proc <tempdir>)), which it
    unmounts and removes afterwards; mounting C(proc) needs C(CAP_SYS_ADMIN) in the container.
    With O(scope=all) a read-only C(/proc/sys) is an error when a value must change.
  - After each write the value is read back; when the kernel reports another value (it
    rounded or clamped it) the module warns and returns the value the kernel reports.
author:
  - onprem-mlops contributors
options:
  values:
    description:
      - Kernel parameters to set, as dotted sysctl names (C(kernel.kptr_restrict),
        C(net.ipv4.conf.all.rp_filter)) mapped to their value (a string or an integer;
        several values separated by whitespace).
      - Dots are replaced by slashes to find the file under C(<proc_root>/sys); names with a
        dot inside one part (an interface called C(eth0.100)) cannot be given.
    type: dict
    required: true
  scope:
    description:
      - V(all) sets every parameter of O(values).
      - V(network) sets only the parameters of the network namespace (names starting with
        C(net.)) and reports every other one in RV(skipped_keys). Use it inside containers, where
        kernel-wide parameters belong to the host.
    type: str
    choices: [all, network]
    default: all
  fail_on_missing:
    description:
      - Fail, naming them, when parameters of O(values) do not exist on this kernel (a module
        that is not loaded, an older kernel). Otherwise they are only reported in RV(missing).
    type: bool
    default: false
  proc_root:
    description:
      - Where procfs is mounted. Meant for tests with a fake tree.
    type: path
    default: /proc
notes:
  - Supports check mode and diff mode. In check mode nothing is written and no procfs is
    mounted.
  - Writing kernel parameters needs root; use C(become).
requirements:
  - Python 3.10 or newer on the target; the standard library is enough
  - C(mount) and C(umount) on the target when writing through a private procfs mount.
seealso:
  - module: ansible.posix.sysctl
    description: Sets a parameter and persists it in a sysctl.conf file.
"""

EXAMPLES = r"""
- name: Apply the hardening parameters now (the role templates /etc/sysctl.d for boot)
  onprem.mlops.sysctl_runtime:
    values:
      kernel.kptr_restrict: 2
      net.ipv4.conf.all.rp_filter: 1
      net.ipv4.ip_local_port_range: "32768 60999"
  become: true

- name: Inside a container, set only what belongs to its network namespace
  onprem.mlops.sysctl_runtime:
    values: "{{ hardening_sysctls }}"
    scope: "{{ 'network' if ansible_facts is onprem.mlops.container else 'all' }}"
  become: true
"""

RETURN = r"""
changed_keys:
  description: Parameters written (or, in check mode, that would be written), with the value
    before and after, whitespace normalised.
  returned: always
  type: dict
  sample:
    net.ipv4.conf.all.rp_filter:
      before: "2"
      after: "1"
skipped_keys:
  description: Parameters not set because of O(scope), with the reason.
  returned: always
  type: dict
  sample:
    kernel.kptr_restrict: "kernel-wide parameter, not in the network namespace (scope: network):
      set it on the host"
missing:
  description: Parameters that do not exist on this kernel, sorted.
  returned: always
  type: list
  elements: str
  sample: [net.ipv4.tcp_mtu_probe_floor]
diff:
  description: One C(key = value) line per changed parameter, before and after.
  returned: in diff mode
  type: dict
  sample:
    before: "net.ipv4.conf.all.rp_filter = 2\n"
    after: "net.ipv4.conf.all.rp_filter = 1\n"
"""

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule

SCOPES = ("all", "network")
NETWORK_PREFIX = "net."
# Dotted names; each part is what a /proc/sys directory or file may be called, minus dots,
# slashes, whitespace and NUL (so a key can never leave <proc_root>/sys).
_KEY_RE = re.compile(r"[^./\s\x00]+(?:\.[^./\s\x00]+)*")

SKIP_REASON = (
    "kernel-wide parameter, not in the network namespace (scope: network): set it on the host"
)
READ_ONLY_HINT = (
    "kernel parameters are read-only here (/proc/sys is mounted read-only, as in a container): "
    "cannot set {keys}. Set them on the host, or use scope: network, which is what a "
    "container can do: it sets only the net.* parameters of its own network namespace."
)
MOUNT_HINT = (
    "writing {keys} through a private procfs mount failed: {error}. Mounting proc inside a "
    "container needs CAP_SYS_ADMIN (and no AppArmor or SELinux rule against it); otherwise set "
    "these parameters when the container is created (docker run --sysctl)."
)

# (path, text) -> None; write_value or a fake in tests.
Writer = Callable[[Path, str], None]
# path -> bool; is_read_only or a fake in tests.
ReadOnlyCheck = Callable[[Path], bool]
# mount point -> None; raises OSError on failure.
MountFunction = Callable[[str], None]


@dataclass
class Change:
    """One parameter whose value differs: normalised before/after and the text to write."""

    before: str
    after: str
    text: str
    read_only: bool = False


@dataclass
class Plan:
    """What the module found and would do, before anything is written."""

    changes: dict[str, Change] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Applied:
    """What was written: key -> value the kernel reports afterwards, warnings and errors."""

    after: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def normalise(value: Any) -> str:
    """Whitespace-separated values joined by single spaces: '32768\\t60999\\n' -> '32768 60999'."""
    return " ".join(str(value).split())


def key_path(proc_root: str | Path, key: str) -> Path:
    """'net.ipv4.ip_forward' -> <proc_root>/sys/net/ipv4/ip_forward."""
    return Path(proc_root, "sys", *key.split("."))


def read_value(proc_root: str | Path, key: str) -> str | None:
    """The parameter's current value, whitespace normalised; None when this kernel lacks it.

    Other read errors (permission denied, a write-only parameter, a directory) raise OSError.
    """
    try:
        return normalise(key_path(proc_root, key).read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None


def is_read_only(path: Path) -> bool:
    """Whether the filesystem mount that ``path`` lives on is read-only.

    statvfs(2) reports the flags of the mount the file is reached through, read-only bind
    mounts included: Docker and Podman bind-mount /proc/sys onto itself read-only, and
    ST_RDONLY then shows on every file below it. Unlike trying a write, this works in check
    mode and before anything is changed; unlike parsing /proc/self/mountinfo it needs no
    path matching (mount points relative to the namespace's root, octal escapes, stacked
    mounts) and asks exactly about the mount the file is on. apply() still treats EROFS from
    a write as read-only, in case the two ever disagree.
    """
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def validate(values: Mapping[Any, Any]) -> list[str]:
    """Errors for keys that are not dotted sysctl names and values that are not str or int."""
    errors = []
    for key, value in values.items():
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            errors.append(
                f"{key!r} is not a sysctl name: give dotted names like kernel.kptr_restrict "
                "(no slashes, spaces or empty parts)"
            )
        elif isinstance(value, bool) or not isinstance(value, (str, int)):
            errors.append(
                f"{key}: value {value!r} must be a string or an integer"
                + (" (write 1 or 0, not a boolean)" if isinstance(value, bool) else "")
            )
    return errors


def _read_error(proc_root: str | Path, key: str, err: OSError) -> str:
    reason = err.strerror or str(err)
    if err.errno == errno.EISDIR:
        reason = "it is a group of parameters, not a parameter"
    elif err.errno in (errno.EACCES, errno.EPERM):
        reason += " (a write-only parameter, or not root: use become)"
    return f"{key}: cannot read {key_path(proc_root, key)}: {reason}"


def plan(
    values: Mapping[str, Any],
    proc_root: str | Path,
    scope: str = "all",
    read_only: ReadOnlyCheck = is_read_only,
) -> Plan:
    """Compare ``values`` (already validated) with the kernel; write nothing.

    With scope ``all``, parameters that must change on a read-only /proc/sys are an error.
    """
    result = Plan()
    for key, value in values.items():
        if scope == "network" and not key.startswith(NETWORK_PREFIX):
            result.skipped[key] = SKIP_REASON
            continue
        try:
            current = read_value(proc_root, key)
        except OSError as err:
            result.errors.append(_read_error(proc_root, key, err))
            continue
        if current is None:
            result.missing.append(key)
            continue
        wanted = normalise(value)
        if current == wanted:
            result.unchanged.append(key)
            continue
        ro = read_only(key_path(proc_root, key))
        result.changes[key] = Change(current, wanted, f"{value}\n", ro)
    result.missing.sort()
    blocked = [k for k, c in result.changes.items() if c.read_only]
    if blocked and scope != "network":
        result.errors.append(READ_ONLY_HINT.format(keys=", ".join(blocked)))
    return result


# --------------------------------------------------------------------------- writing


def write_value(path: Path, text: str) -> None:
    """Write ``text`` in one write(2) call, as the kernel's sysctl handlers expect."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


@contextlib.contextmanager
def private_proc(
    mount: MountFunction, umount: MountFunction, parent: str | None = None
) -> Iterator[Path]:
    """A fresh procfs mounted on a temporary directory, unmounted and removed afterwards.

    A new proc instance is writable even where /proc/sys is a read-only bind mount, and its
    sys/net shows the network namespace of the process that reads or writes it: the
    container's own. When unmounting fails the directory stays (a mount point cannot be
    removed) and the unmount error is raised.
    """
    directory = Path(tempfile.mkdtemp(prefix="sysctl_runtime.", dir=parent))
    mounted = False
    try:
        mount(str(directory))
        mounted = True
        yield directory
    finally:
        if mounted:
            umount(str(directory))
        directory.rmdir()


def _write_error(key: str, change: Change, err: OSError) -> str:
    reason = err.strerror or str(err)
    if err.errno == errno.EINVAL:
        reason += " (the kernel rejects this value)"
    elif err.errno in (errno.EACCES, errno.EPERM):
        reason += " (a read-only parameter, or not root: use become)"
    return f"{key}: writing {change.after!r} failed: {reason}"


def _write_one(root: Path, key: str, change: Change, write: Writer, done: Applied) -> None:
    """Write one parameter below ``root`` and record what the kernel reports afterwards."""
    write(key_path(root, key), change.text)
    try:
        now = read_value(root, key)
    except OSError:
        now = None
    if now is None:
        now = change.after
    elif now != change.after:
        done.warnings.append(
            f"{key}: wrote {change.after!r} but the kernel reports {now!r} (rounded or "
            "clamped): set the value the kernel reports to stay idempotent"
        )
    done.after[key] = now


def apply(
    changes: Mapping[str, Change],
    proc_root: str | Path,
    scope: str = "all",
    write: Writer = write_value,
    private: Callable[[], contextlib.AbstractContextManager[Path]] | None = None,
) -> Applied:
    """Write the changes: directly where /proc/sys is writable, else through ``private()``.

    ``private`` yields the root of a private procfs mount (see private_proc); it is used only
    with scope ``network``, for parameters found read-only by plan() or failing with EROFS.
    Errors are collected per parameter; the others are still written.
    """
    done = Applied()
    via_mount = [k for k, c in changes.items() if c.read_only]
    for key, change in changes.items():
        if change.read_only:
            continue
        try:
            _write_one(Path(proc_root), key, change, write, done)
        except OSError as err:
            if err.errno == errno.EROFS:
                via_mount.append(key)
            else:
                done.errors.append(_write_error(key, change, err))
    if not via_mount:
        return done
    if scope != "network" or private is None:
        done.errors.append(READ_ONLY_HINT.format(keys=", ".join(via_mount)))
        return done
    try:
        with private() as root:
            for key in via_mount:
                try:
                    _write_one(root, key, changes[key], write, done)
                except OSError as err:
                    done.errors.append(_write_error(key, changes[key], err))
    except OSError as err:
        done.errors.append(MOUNT_HINT.format(keys=", ".join(via_mount), error=err))
    return done


# --------------------------------------------------------------------------- module


def diff_text(changed: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Before/after text, one 'key = value' line per changed parameter, sorted by key."""
    keys = sorted(changed)
    return {
        "before": "".join(f"{k} = {changed[k]['before']}\n" for k in keys),
        "after": "".join(f"{k} = {changed[k]['after']}\n" for k in keys),
    }


def is_forwarding_key(key: str) -> bool:
    """IP forwarding switches: the kernel resets other parameters when they change."""
    return key == "net.ipv4.ip_forward" or key.endswith(".forwarding")


def stages(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The forwarding switches first, then everything else.

    Changing net.ipv4.conf.*.forwarding makes the kernel set accept_redirects to the
    opposite (router vs host behaviour, inet_forward_change()), so those must be compared
    and written only after forwarding has its final value.
    """
    first = {k: v for k, v in values.items() if is_forwarding_key(k)}
    rest = {k: v for k, v in values.items() if not is_forwarding_key(k)}
    return [stage for stage in (first, rest) if stage]


def run(
    params: Mapping[str, Any],
    check_mode: bool = False,
    diff: bool = False,
    write: Writer = write_value,
    read_only: ReadOnlyCheck = is_read_only,
    private: Callable[[], contextlib.AbstractContextManager[Path]] | None = None,
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The whole module without AnsibleModule: (result, warnings, errors)."""
    values = params["values"] or {}
    errors = validate(values)
    result: dict[str, Any] = {
        "changed": False,
        "changed_keys": {},
        "skipped_keys": {},
        "missing": [],
    }
    if errors:
        return result, [], errors
    # Every key is checked before anything is written: a missing key or a read-only
    # /proc/sys fails the whole call with nothing changed.
    found = plan(values, params["proc_root"], params["scope"], read_only)
    result["skipped_keys"] = found.skipped
    result["missing"] = found.missing
    errors = list(found.errors)
    if found.missing and params["fail_on_missing"]:
        errors.append(
            "kernel parameters missing on this kernel (fail_on_missing): "
            + ", ".join(found.missing)
        )
    if errors:
        return result, [], errors
    changed: dict[str, dict[str, str]] = {}
    warnings: list[str] = []
    if check_mode:
        changed = {k: {"before": c.before, "after": c.after} for k, c in found.changes.items()}
    else:
        for stage in stages(values) if found.changes else []:
            todo = plan(stage, params["proc_root"], params["scope"], read_only).changes
            if not todo:
                continue
            done = apply(todo, params["proc_root"], params["scope"], write, private)
            changed.update(
                {k: {"before": todo[k].before, "after": v} for k, v in done.after.items()}
            )
            warnings += done.warnings
            if done.errors:
                result["changed"] = bool(changed)
                result["changed_keys"] = changed
                return result, warnings, done.errors
    result["changed"] = bool(changed)
    result["changed_keys"] = changed
    if diff:
        result["diff"] = diff_text(changed)
    return result, warnings, []


def _command(module: AnsibleModule, argv: list[str]) -> None:
    """Run a command (mount, umount); raise OSError with its message when it fails."""
    argv = [module.get_bin_path(argv[0]) or argv[0], *argv[1:]]
    rc, out, err = module.run_command(argv)
    if rc != 0:
        raise OSError(f"{' '.join(argv)} exited {rc}: {(err or out).strip()}")


def _private_proc_of(module: AnsibleModule) -> contextlib.AbstractContextManager[Path]:
    """private_proc() with the target's mount and umount commands."""
    return private_proc(
        lambda path: _command(
            module, ["mount", "-t", "proc", "-o", "nosuid,nodev,noexec", "proc", path]
        ),
        lambda path: _command(module, ["umount", path]),
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "values": {"type": "dict", "required": True},
            "scope": {"type": "str", "choices": list(SCOPES), "default": "all"},
            "fail_on_missing": {"type": "bool", "default": False},
            "proc_root": {"type": "path", "default": "/proc"},
        },
        supports_check_mode=True,
    )
    result, warnings, errors = run(
        module.params,
        check_mode=module.check_mode,
        diff=module._diff,
        private=partial(_private_proc_of, module),
    )
    for warning in warnings:
        module.warn(warning)
    if errors:
        module.fail_json(msg="; ".join(errors), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
