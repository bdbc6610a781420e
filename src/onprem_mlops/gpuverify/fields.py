"""Which GPU fields of the assessment (docs/assessment-schema.md, ``gpus[]``) came back null."""

from __future__ import annotations

from typing import Any

# Every field of one ``gpus[]`` entry, dotted for nested objects. A unit test keeps this in
# step with docs/assessment-schema.md.
GPU_FIELDS: tuple[str, ...] = (
    "index",
    "name",
    "uuid",
    "pci_bus_id",
    "memory_total_bytes",
    "memory_used_bytes",
    "compute_capability",
    "pcie.current_generation",
    "pcie.max_generation",
    "pcie.current_width",
    "pcie.max_width",
    "power.limit_w",
    "power.default_limit_w",
    "power.enforced_limit_w",
    "temperature_c",
    "utilization.gpu_ratio",
    "utilization.memory_ratio",
    "power_draw_w",
    "clocks_mhz.graphics",
    "clocks_mhz.sm",
    "clocks_mhz.memory",
    "ecc.supported",
    "ecc.enabled",
    "ecc.pending_enabled",
    "ecc.volatile.corrected",
    "ecc.volatile.uncorrected",
    "ecc.aggregate.corrected",
    "ecc.aggregate.uncorrected",
    "retired_pages.single_bit",
    "retired_pages.double_bit",
    "retired_pages.pending",
    "remapped_rows.corrected",
    "remapped_rows.uncorrected",
    "remapped_rows.pending",
    "remapped_rows.failure",
    "throttle_reasons",
    "persistence_mode",
    "mig.enabled",
    "mig.pending",
    "known_model.key",
    "known_model.name",
    "known_model.memory_gib",
    "known_model.compute_capability",
    "errors",
)


def _missing_prefix(gpu: dict[str, Any], field: str) -> str | None:
    """The shortest part of ``field`` that is null or absent in ``gpu``, or None when set."""
    current: Any = gpu
    parts = field.split(".")
    for depth, part in enumerate(parts, 1):
        if not isinstance(current, dict) or current.get(part) is None:
            return ".".join(parts[:depth])
        current = current[part]
    return None


def gpu_fields_missing(doc: dict[str, Any]) -> list[str]:
    """``gpus[<index>].<field>`` for every schema field that is null, in schema order.

    A null object (``retired_pages`` on a GPU that remaps rows instead, ``mig`` where MIG is
    unsupported) is named once, not field by field. ``["gpus"]`` when NVML reported no GPU,
    so an empty list always means "every GPU field was filled".
    """
    gpus = doc.get("gpus")
    if not isinstance(gpus, list) or not gpus:
        return ["gpus"]
    missing: list[str] = []
    for position, gpu in enumerate(gpus):
        entry = gpu if isinstance(gpu, dict) else {}
        index = entry.get("index", position)
        for field in GPU_FIELDS:
            prefix = _missing_prefix(entry, field)
            name = f"gpus[{index}].{prefix}"
            if prefix is not None and name not in missing:
                missing.append(name)
    return missing
