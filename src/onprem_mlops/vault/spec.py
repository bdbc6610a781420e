"""The vault specification (``data/vault-spec.yml``): variables, generation and checks.

Nothing here prints or formats a secret: problems name the variable and the rule only.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from onprem_mlops.commands.phases import ALL_PHASES

LAST_PHASE = len(ALL_PHASES) - 1

SPEC_FILE = Path(__file__).resolve().parent.parent / "data" / "vault-spec.yml"

KINDS = ("password", "hex", "manual")
GENERATED_KINDS = ("password", "hex")
DEFAULT_LENGTH = 32  # password: characters
DEFAULT_BYTES = 32  # hex: random bytes, twice as many hex characters
URLSAFE_ALPHABET = string.ascii_letters + string.digits + "-_"

# What the roles refuse as a secret (roles/mlflow/vars/main.yml, roles/model_serving/...).
WEAK_RE = re.compile(r"(?i)change-?me|changeme|example|placeholder")
# A value left from the example file: replaced without --force, never kept.
PLACEHOLDER_RE = re.compile(r"(?i)change[-_]?me")
NAME_RE = re.compile(r"^vault_[a-z0-9_]+$")
_FIELDS = {"name", "kind", "length", "bytes", "min_length", "phases", "description"}


class SpecError(ValueError):
    """The specification file is invalid (names the file and the entry)."""


@dataclass(frozen=True)
class VaultVar:
    name: str
    kind: str
    length: int  # characters generated (0 for manual)
    min_length: int
    phases: tuple[int, ...]
    description: str

    @property
    def generated(self) -> bool:
        return self.kind in GENERATED_KINDS

    def generate(self) -> str:
        """A fresh value; never one the roles would take for a placeholder."""
        if not self.generated:
            return ""
        while True:
            if self.kind == "hex":
                value = secrets.token_hex(self.length // 2)
            else:
                value = "".join(secrets.choice(URLSAFE_ALPHABET) for _ in range(self.length))
            if not WEAK_RE.search(value):
                return value

    def problem(self, present: bool, value: Any) -> str | None:
        """Why the vault's value is not acceptable (without the value), or None."""
        if not self.generated:
            return None
        if not present or value is None or value == "":
            return f"{self.name}: missing or empty"
        if not isinstance(value, str):
            return f"{self.name}: must be a string"
        if WEAK_RE.search(value):
            return f"{self.name}: placeholder value (CHANGE-ME, example, placeholder)"
        if len(value) < self.min_length:
            return f"{self.name}: shorter than {self.min_length} characters"
        return None


@dataclass(frozen=True)
class VaultSpec:
    placeholder: str
    variables: tuple[VaultVar, ...]
    source: Path

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def generated(self) -> list[VaultVar]:
        return [v for v in self.variables if v.generated]

    def get(self, name: str) -> VaultVar | None:
        return next((v for v in self.variables if v.name == name), None)


def _positive_int(path: Path, name: str, entry: dict[str, Any], key: str, default: int) -> int:
    value = entry.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"{path}: {name}: {key} must be a positive integer")
    return value


def _variable(path: Path, index: int, entry: Any) -> VaultVar:
    if not isinstance(entry, dict):
        raise SpecError(f"{path}: variables[{index}]: must be a mapping")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(f"{path}: variables[{index}]: name must match {NAME_RE.pattern}")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise SpecError(f"{path}: {name}: unknown keys {unknown}; allowed: {sorted(_FIELDS)}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise SpecError(f"{path}: {name}: kind must be one of {', '.join(KINDS)}")
    if kind == "password":
        length = _positive_int(path, name, entry, "length", DEFAULT_LENGTH)
    elif kind == "hex":
        length = 2 * _positive_int(path, name, entry, "bytes", DEFAULT_BYTES)
    else:
        length = 0
    if kind == "manual":
        min_length = 0
    else:
        min_length = _positive_int(path, name, entry, "min_length", length)
        if min_length > length:
            raise SpecError(
                f"{path}: {name}: min_length {min_length} exceeds the generated {length}"
            )
    phases = entry.get("phases")
    if (
        not isinstance(phases, list)
        or not phases
        or not all(isinstance(p, int) and not isinstance(p, bool) for p in phases)
        or not all(0 <= p <= LAST_PHASE for p in phases)
    ):
        raise SpecError(
            f"{path}: {name}: phases must be a non-empty list of phase numbers 0-{LAST_PHASE}"
        )
    description = entry.get("description")
    if not isinstance(description, str) or not description.strip():
        raise SpecError(f"{path}: {name}: description must be a non-empty string")
    return VaultVar(name, kind, length, min_length, tuple(sorted(set(phases))), description)


def load_spec(path: Path = SPEC_FILE) -> VaultSpec:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read the vault specification: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("variables"), list):
        raise SpecError(f"{path}: must be a mapping with a list 'variables'")
    placeholder = data.get("placeholder")
    if not isinstance(placeholder, str) or not placeholder:
        raise SpecError(f"{path}: placeholder must be a non-empty string")
    variables = tuple(_variable(path, i, e) for i, e in enumerate(data["variables"]))
    names = [v.name for v in variables]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"{path}: variables named more than once: {', '.join(duplicates)}")
    return VaultSpec(placeholder, variables, path)


def is_blank(value: Any) -> bool:
    """Empty or a placeholder from the example file: nothing worth keeping."""
    return (
        value is None
        or value == ""
        or (isinstance(value, str) and bool(PLACEHOLDER_RE.search(value)))
    )
