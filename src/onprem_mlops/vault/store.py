"""Reading and writing the site's vault with ansible-core's own vault implementation.

Only ciphertext ever reaches the disk: the new content is encrypted in memory, written to a
0600 temporary file next to the vault and moved over it with ``os.replace``. Error messages
name files and variables, never a value (YAML errors in decrypted text give a line number
only, because PyYAML's own messages quote the offending line).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PASSWORD_ENV = "ANSIBLE_VAULT_PASSWORD_FILE"
DEFAULT_PASSWORD_FILE = Path("~/.onprem-mlops/vault-pass")
VAULT_RELPATH = Path("group_vars", "all", "vault.yml")
HEADER = (
    "# onprem-mlops vault: edit with `ansible-vault edit`, rotate with "
    "`onprem-mlops vault rotate`, check with `onprem-mlops vault check`."
)
_TOP_LEVEL_KEY = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*:(\s|$)")


class VaultCommandError(Exception):
    """A refusal or usage error; ``status`` is the exit status (1 refused, 2 usage)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def _ansible() -> Any:
    try:
        from ansible.parsing import vault
    except ImportError as exc:  # pragma: no cover - ansible-core is in the toolchain
        raise VaultCommandError(
            "the vault commands need ansible-core (make venv, or pip install ansible-core)"
        ) from exc
    return vault


def default_password_file() -> Path:
    """$ANSIBLE_VAULT_PASSWORD_FILE when set, else ~/.onprem-mlops/vault-pass."""
    return Path(os.environ.get(PASSWORD_ENV) or DEFAULT_PASSWORD_FILE).expanduser()


def create_password_file(path: Path) -> None:
    """A new random vault password in ``path`` (0600); missing parent folders get 0700."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700)
        folder.chmod(0o700)  # mkdir's mode is subject to the umask
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secrets.token_urlsafe(32) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def loose_permissions(path: Path) -> str | None:
    """A warning when a password file is readable or writable by group or others."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) and mode & 0o077:
        return (
            f"warning: {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o}): chmod 600 {path}"
        )
    return None


def load_secret(path: Path) -> Any:
    """The vault secret from a password file (or password script), as ansible reads it."""
    vault = _ansible()
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader

    if not path.exists():
        raise VaultCommandError(
            f"vault password file {path} does not exist (onprem-mlops vault create writes "
            f"one; or pass --vault-password-file FILE, or set {PASSWORD_ENV})"
        )
    if path.is_dir():
        raise VaultCommandError(f"vault password file {path} is a directory, expected a file")
    try:
        secret = vault.get_file_vault_secret(
            filename=str(path), vault_id="default", loader=DataLoader()
        )
        secret.load()
    except AnsibleError as exc:
        raise VaultCommandError(
            f"cannot read a vault password from {path} (empty, unreadable, or a password "
            "script that failed)"
        ) from exc
    return secret


def is_encrypted(data: bytes) -> bool:
    return bool(_ansible().is_encrypted(data))


@dataclass
class Plain:
    """A vault file's plaintext, its variables and the vault id of its envelope."""

    text: str
    variables: dict[str, Any]
    vault_id: str | None = None


def parse_variables(text: str, path: Path) -> dict[str, Any]:
    """The top-level mapping of a vault's plaintext; errors give the line, never content."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise VaultCommandError(f"{path}: not valid YAML{where}", status=1) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VaultCommandError(f"{path}: must be a YAML mapping of vault_* variables", status=1)
    return {str(k): v for k, v in data.items()}


def decrypt(data: bytes, path: Path, secret: Any, password_file: Path) -> Plain:
    vault = _ansible()
    from ansible.errors import AnsibleError

    try:
        _, _, _, vault_id = vault.parse_vaulttext_envelope(data)
        plaintext = vault.VaultLib([("default", secret)]).decrypt(data)
    except AnsibleError:
        raise VaultCommandError(
            f"{path}: cannot decrypt it with the vault password in {password_file} "
            "(wrong password file? pass --vault-password-file FILE)"
        ) from None
    try:
        text = bytes(plaintext).decode("utf-8")
    except UnicodeDecodeError:
        raise VaultCommandError(f"{path}: decrypted content is not UTF-8 text", 1) from None
    keep_id = vault_id if vault_id and vault_id != "default" else None
    return Plain(text, parse_variables(text, path), keep_id)


def encrypt(text: str, secret: Any, vault_id: str | None = None) -> bytes:
    """Ciphertext as ``ansible-vault encrypt`` writes it ($ANSIBLE_VAULT;1.1;AES256)."""
    vault = _ansible()
    data = vault.VaultLib([("default", secret)]).encrypt(text, secret, vault_id=vault_id)
    return bytes(data)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, all or nothing."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)  # os.replace: atomic on the same file system
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - directory not openable: the rename still happened
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(dir_fd)


class _Dumper(yaml.SafeDumper):
    """Safe dumper writing multi-line strings as literal blocks (``|``)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value.rstrip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump(variables: Mapping[str, Any]) -> str:
    return yaml.dump(
        dict(variables),
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        width=1000,
        allow_unicode=True,
    )


def render(variables: Mapping[str, Any]) -> str:
    """A new vault's plaintext: one comment line, then ``key: value`` lines."""
    return f"{HEADER}\n{_dump(variables)}"


def replace_values(text: str, variables: Mapping[str, Any], updates: Mapping[str, Any]) -> str:
    """``text`` (whose variables are ``variables``) with the values in ``updates`` replaced.

    Comments and the order of the other variables stay as they are; names not in the text
    are appended. The result is parsed back and compared with the expected variables; where
    that fails (anchors, flow style, duplicate keys), the whole file is written again from
    its variables instead.
    """
    expected = {**variables, **updates}
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    out: list[str] = []
    blanks: list[str] = []  # blank lines after a replaced value: kept unless the value goes on
    done: set[str] = set()
    skipping = False
    for line in lines:
        match = _TOP_LEVEL_KEY.match(line)
        if skipping and not match:
            if not line.strip():
                blanks.append(line)
                continue
            if line[:1] in (" ", "\t"):
                blanks.clear()  # the old value's continuation lines
                continue
        skipping = False
        out.extend(blanks)
        blanks.clear()
        if match and match.group("key") in updates and match.group("key") not in done:
            key = match.group("key")
            out.append(_dump_one(key, updates[key]))
            done.add(key)
            skipping = True
            continue
        out.append(line)
    out.extend(blanks)
    if any(k in variables and k not in done for k in updates):
        return render(expected)  # a key written in a way the line scan does not recognise
    out.extend(_dump_one(k, v) for k, v in updates.items() if k not in done)
    result = "".join(out)
    try:
        if yaml.safe_load(result) == expected:
            return result
    except yaml.YAMLError:
        pass
    return render(expected)


def _dump_one(key: str, value: Any) -> str:
    return _dump({key: value})
