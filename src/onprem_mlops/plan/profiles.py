"""Workload profiles: loading and validation of the YAML files.

Errors name the file and the field, e.g.
``custom.yml: profiles.my-llm.gpu_memory_gb.minimum: must be a number >= 0, got -4``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "profiles"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DISK_MEDIA = ("hdd", "ssd", "nvme")  # slowest first
# field -> (smallest minimum, largest sensible value, whole numbers only, unit)
RANGE_FIELDS: dict[str, tuple[float, float, bool, str]] = {
    "gpu_memory_gb": (0, 1024, False, "GB per GPU"),
    "gpu_count": (0, 64, True, "GPUs"),
    "system_ram_gb": (0.5, 65536, False, "GB"),
    "cpu_cores": (1, 4096, True, "cores"),
    "disk_gb": (1, 10_000_000, False, "GB"),
    "network_gbps": (0.1, 1600, False, "Gb/s"),
}
REQUIRED = (
    "title",
    "sizing_rule",
    "gpu_memory_gb",
    "system_ram_gb",
    "cpu_cores",
    "disk_gb",
    "network_gbps",
)
OPTIONAL = (
    "description",
    "gpu_count",
    "gpu_compute_capability",
    "cpu_instruction_sets",
    "disk_media",
)


class ProfileError(ValueError):
    """A profile file or an assignment is invalid; the message names file and field."""


@dataclass(frozen=True)
class Range:
    minimum: float
    recommended: float


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    title: str
    sizing_rule: str
    gpu_memory_gb: Range
    gpu_count: Range
    system_ram_gb: Range
    cpu_cores: Range
    disk_gb: Range
    network_gbps: Range
    gpu_compute_capability: float | None = None
    cpu_instruction_sets: tuple[str, ...] = ()
    disk_media: str = "hdd"

    @property
    def needs_gpu(self) -> bool:
        return self.gpu_memory_gb.minimum > 0 or self.gpu_count.minimum > 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _range(value: Any, where: str, field: str, errors: list[str]) -> Range | None:
    low, high, whole, unit = RANGE_FIELDS[field]
    if not isinstance(value, dict) or set(value) != {"minimum", "recommended"}:
        errors.append(
            f"{where}: must be a mapping with exactly 'minimum' and 'recommended', got {value!r}"
        )
        return None
    ok = True
    for key in ("minimum", "recommended"):
        number = value[key]
        kind = "a whole number" if whole else "a number"
        if not _is_number(number) or (whole and number != int(number)):
            errors.append(f"{where}.{key}: must be {kind}, got {number!r}")
            ok = False
        elif number < low:
            if low == 0:
                wanted = "a number >= 0"
            else:
                wanted = "a positive number" if number <= 0 else f"at least {low:g}"
            errors.append(f"{where}.{key}: must be {wanted}, got {number!r}")
            ok = False
        elif number > high:
            errors.append(
                f"{where}.{key}: {number!r} {unit} is not a sensible size (at most {high:g})"
            )
            ok = False
    if ok and value["recommended"] < value["minimum"]:
        errors.append(
            f"{where}.recommended: must be at least minimum ({value['minimum']!r}), "
            f"got {value['recommended']!r}"
        )
        ok = False
    return Range(float(value["minimum"]), float(value["recommended"])) if ok else None


def _text(value: Any, where: str, errors: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{where}: must be a non-empty text, got {value!r}")
        return ""
    return value.strip()


def _optional(spec: dict[str, Any], where: str, errors: list[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    cc = spec.get("gpu_compute_capability")
    if cc is not None:
        if not _is_number(cc) or not 1 <= cc <= 20:
            errors.append(
                f"{where}.gpu_compute_capability: must be a number such as 8.0, got {cc!r}"
            )
        else:
            extra["gpu_compute_capability"] = float(cc)
    sets = spec.get("cpu_instruction_sets")
    if sets is not None:
        if not isinstance(sets, list) or not all(isinstance(s, str) and s for s in sets):
            errors.append(
                f"{where}.cpu_instruction_sets: must be a list of names such as "
                f"[avx2], got {sets!r}"
            )
        else:
            extra["cpu_instruction_sets"] = tuple(s.lower() for s in sets)
    media = spec.get("disk_media")
    if media is not None:
        if media not in DISK_MEDIA:
            errors.append(
                f"{where}.disk_media: must be one of {', '.join(DISK_MEDIA)}, got {media!r}"
            )
        else:
            extra["disk_media"] = media
    return extra


def parse_profile(name: Any, spec: Any, source: str) -> tuple[Profile | None, list[str]]:
    where = f"{source}: profiles.{name}"
    errors: list[str] = []
    if not isinstance(name, str) or not NAME_RE.match(name):
        return None, [f"{where}: profile names use a-z, 0-9, '-' and '_', got {name!r}"]
    if not isinstance(spec, dict):
        return None, [f"{where}: must be a mapping of fields, got {spec!r}"]
    for key in spec:
        if key not in REQUIRED + OPTIONAL:
            errors.append(f"{where}.{key}: unknown field (known: {', '.join(REQUIRED + OPTIONAL)})")
    for key in REQUIRED:
        if key not in spec:
            errors.append(f"{where}.{key}: missing")
    ranges = {f: _range(spec[f], f"{where}.{f}", f, errors) for f in RANGE_FIELDS if f in spec}
    title = _text(spec.get("title"), f"{where}.title", errors) if "title" in spec else ""
    rule = (
        _text(spec.get("sizing_rule"), f"{where}.sizing_rule", errors)
        if "sizing_rule" in spec
        else ""
    )
    extra = _optional(spec, where, errors)
    gpu_mem = ranges.get("gpu_memory_gb")
    if gpu_mem and "gpu_count" not in spec:
        ranges["gpu_count"] = Range(
            1.0 if gpu_mem.minimum > 0 else 0.0, 1.0 if gpu_mem.recommended > 0 else 0.0
        )
    count = ranges.get("gpu_count")
    if gpu_mem and count and gpu_mem.minimum > 0 and count.minimum < 1:
        errors.append(
            f"{where}.gpu_count.minimum: must be at least 1 when "
            f"gpu_memory_gb.minimum is above 0, got {count.minimum:g}"
        )
    if errors or any(r is None for r in ranges.values()):
        return None, errors
    return Profile(name=name, source=source, title=title, sizing_rule=rule, **ranges, **extra), []


def load_file(path: Path) -> dict[str, Profile]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: malformed YAML: {' '.join(str(exc).split())}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        raise ProfileError(f"{path}: profiles: must be a mapping of profile name to fields")
    unknown = [k for k in data if k != "profiles"]
    errors = [f"{path}: {k}: unknown top-level key (only 'profiles')" for k in unknown]
    profiles: dict[str, Profile] = {}
    for name, spec in data["profiles"].items():
        profile, problems = parse_profile(name, spec, str(path))
        errors += problems
        if profile:
            profiles[name] = profile
    if errors:
        raise ProfileError("\n".join(errors))
    return profiles


def _files(location: Path) -> list[Path]:
    if location.is_file():
        return [location]
    if not location.is_dir():
        raise ProfileError(f"{location}: profile directory or file does not exist")
    return sorted([*location.glob("*.yml"), *location.glob("*.yaml")])


def load_profiles(extra: Iterable[str | Path] = (), shipped: bool = True) -> dict[str, Profile]:
    """Shipped profiles plus those in ``extra`` directories/files; names must be unique."""
    locations = ([SHIPPED_DIR] if shipped else []) + [Path(p) for p in extra]
    profiles: dict[str, Profile] = {}
    for location in locations:
        for path in _files(location):
            for name, profile in load_file(path).items():
                if name in profiles:
                    raise ProfileError(
                        f"{path}: profiles.{name}: already defined in {profiles[name].source}; "
                        "give your profile its own name"
                    )
                profiles[name] = profile
    return profiles
