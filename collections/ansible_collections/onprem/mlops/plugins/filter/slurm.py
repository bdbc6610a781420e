"""Slurm node definitions from the phase 1 assessment, and what a slurm.conf change needs.

Filters (``onprem.mlops.<name>``):

- ``slurm_node``: a host's assessment (``ansible_facts.onprem_assessment``) -> the node's
  hardware as slurm.conf wants it: ``{name, cpus, sockets, cores_per_socket,
  threads_per_core, real_memory_mb, memory_mb, gpus: [{type, count}]}`` (name: the short
  host name); RealMemory keeps a reserve for the OS back, or is the configured value,
  refused when the host has less
- ``slurm_gpu_type``: an NVML GPU name -> a GRES type (``NVIDIA H100 80GB HBM3`` ->
  ``h100_80gb_hbm3``)
- ``slurm_conf_change``: old and new slurm.conf text -> ``none``, ``reconfigure`` (only
  settings ``scontrol reconfigure`` applies changed) or ``restart`` (anything else: nodes,
  hosts, ports, plugins, paths need the daemons restarted)

Documentation for ansible-doc: the .yml files of the same names next to this file.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# Settings that `scontrol reconfigure` applies to running daemons (slurm.conf(5), "scontrol
# reconfigure"): scheduling, priorities, limits, timeouts, logging, partitions. Everything
# else (node lines, SlurmctldHost, ports, plugins, state and spool paths, auth) needs the
# daemons restarted; an unknown key counts as needing a restart.
RELOADABLE = frozenset(
    key.lower()
    for key in (
        "PartitionName", "SchedulerParameters", "SchedulerTimeSlice", "DefMemPerCPU",
        "DefMemPerNode", "MaxMemPerCPU", "MaxMemPerNode", "MaxJobCount", "MaxArraySize",
        "MaxStepCount", "MaxTasksPerNode", "KillWait", "InactiveLimit", "MinJobAge",
        "OverTimeLimit", "WaitTime", "MessageTimeout", "SlurmctldTimeout", "SlurmdTimeout",
        "BatchStartTimeout", "CompleteWait", "UnkillableStepTimeout", "SlurmctldDebug",
        "SlurmdDebug", "DebugFlags", "PriorityType", "PriorityDecayHalfLife",
        "PriorityMaxAge", "PriorityWeightAge", "PriorityWeightFairshare",
        "PriorityWeightJobSize", "PriorityWeightPartition", "PriorityWeightQOS",
        "PriorityWeightTRES", "PriorityFavorSmall", "PreemptMode", "PreemptType",
        "EnforcePartLimits", "ReturnToService", "HealthCheckInterval", "HealthCheckProgram",
        "HealthCheckNodeState", "AccountingStorageEnforce", "JobRequeue", "Prolog", "Epilog",
        "PrologFlags", "TaskProlog", "TaskEpilog", "SrunPortRange",
    )
)  # fmt: skip
MIB = 1024 * 1024


def _int(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"slurm_node: the assessment has no usable {what}") from None
    if number < 1:
        raise AnsibleFilterError(f"slurm_node: the assessment has no usable {what} ({number})")
    return number


def slurm_gpu_type(name: Any) -> str:
    """A GRES type from an NVML device name: lower case, vendor dropped, [a-z0-9_] only."""
    text = re.sub(r"^nvidia\s+", "", str(name or "").strip().lower())
    kind = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    return kind or "gpu"


def slurm_node(
    assessment: Mapping[str, Any],
    host: str = "",
    reserve_percent: float = 5,
    reserve_min_mb: int = 1024,
    real_memory_mb: Any = None,
) -> dict[str, Any]:
    """slurm.conf hardware of one node, from its assessment (see the module docstring)."""
    if not isinstance(assessment, Mapping) or "cpu" not in assessment:
        raise AnsibleFilterError(f"slurm_node: {host or 'host'} has no assessment (cpu missing)")
    cpu, memory = assessment.get("cpu") or {}, assessment.get("memory") or {}
    cpus = _int(cpu.get("logical_cpus"), "logical_cpus")
    sockets = _int(cpu.get("sockets") or 1, "sockets")
    cores = _int(cpu.get("physical_cores") or cpus, "physical_cores")
    if cores % sockets or cpus % cores:
        raise AnsibleFilterError(
            f"slurm_node: {host}: {cpus} CPUs, {cores} cores and {sockets} sockets do not "
            "divide evenly: check the host's phase 1 assessment"
        )
    total_mb = _int(memory.get("total_bytes"), "memory.total_bytes") // MIB
    reserve = max(int(reserve_min_mb), int(total_mb * float(reserve_percent) / 100))
    # "0" as a string too: --extra-vars slurm_common_real_memory_mb=0 passes text.
    if real_memory_mb in (None, "", 0) or str(real_memory_mb).strip() == "0":
        real = total_mb - reserve
        if real < 1:
            raise AnsibleFilterError(
                f"slurm_node: {host} has {total_mb} MB, less than the reserve of {reserve} MB "
                "(slurm_common_memory_reserve_percent / _min_mb)"
            )
    else:
        real = _int(real_memory_mb, "slurm_common_real_memory_mb")
        if real > total_mb:
            raise AnsibleFilterError(
                f"slurm_common_real_memory_mb of {host} is {real} MB, but its assessment shows "
                f"{total_mb} MB: slurmd would drain the node (Low RealMemory)"
            )
    counts: dict[str, int] = {}
    for gpu in assessment.get("gpus") or []:
        kind = slurm_gpu_type(gpu.get("name"))
        counts[kind] = counts.get(kind, 0) + 1
    hostname = str((assessment.get("host") or {}).get("hostname") or host)
    return {
        "name": hostname.split(".", 1)[0],
        "cpus": cpus,
        "sockets": sockets,
        "cores_per_socket": cores // sockets,
        "threads_per_core": cpus // cores,
        "memory_mb": total_mb,
        "real_memory_mb": real,
        "gpus": [{"type": kind, "count": count} for kind, count in counts.items()],
    }


def _settings(text: str) -> dict[str, list[str]]:
    """slurm.conf lines by their first key (lower case); comments and blanks dropped."""
    settings: dict[str, list[str]] = {}
    for raw in str(text or "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key = line.split("=", 1)[0].strip().lower()
        settings.setdefault(key, []).append(" ".join(line.split()))
    return settings


def slurm_conf_change(old: Any, new: Any) -> str:
    """none, reconfigure or restart: what it takes to apply ``new`` over ``old``."""
    before, after = _settings(old), _settings(new)
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    if not changed:
        return "none"
    return "reconfigure" if changed <= RELOADABLE else "restart"


def _ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return ""


def slurm_member_address(host_vars: Mapping[str, Any]) -> str:
    """The IP address other members reach a host at, or "" when only a name is known."""
    if not isinstance(host_vars, Mapping):
        kind = type(host_vars).__name__
        raise AnsibleFilterError(f"slurm_member_address expects a host's variables, got {kind}")
    address = _ip(host_vars.get("slurm_common_node_address", ""))
    return address or _ip(host_vars.get("ansible_host", ""))


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "slurm_node": slurm_node,
            "slurm_gpu_type": slurm_gpu_type,
            "slurm_conf_change": slurm_conf_change,
            "slurm_member_address": slurm_member_address,
        }
