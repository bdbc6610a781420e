"""Slurm filters (onprem.mlops.slurm_node, slurm_gpu_type, slurm_conf_change).

slurm_node reads real assessment documents: those the assessment makes of the hand-written
host trees in tests/fixtures/hwassess (see its README), and the report inputs of the rollout
fixtures; minimal dictionaries where a single figure matters.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.onprem.mlops.plugins.filter import slurm
from ansible_collections.onprem.mlops.plugins.filter.slurm import (
    slurm_conf_change,
    slurm_gpu_type,
    slurm_member_address,
    slurm_node,
)

from onprem_mlops.hwassess import assess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES / "hwassess"))
from fake_nvml import scenario  # noqa: E402

MIB = 1024 * 1024


def assessed(tree: str) -> dict:
    """The assessment of one of the hand-written host trees (NVML faked)."""
    return assess(**scenario(FIXTURES / "hwassess" / tree))


def report_input(host: str) -> dict:
    path = FIXTURES / "rollout" / "report-inputs" / "assessment" / f"{host}.json"
    return json.loads(path.read_text())


def minimal(
    total_mb: int = 16384,
    cpus: int = 8,
    cores: int | None = 4,
    sockets: int | None = 1,
    gpus: list[str] | None = None,
    hostname: str | None = "node01",
) -> dict:
    cpu = {"logical_cpus": cpus}
    if cores is not None:
        cpu["physical_cores"] = cores
    if sockets is not None:
        cpu["sockets"] = sockets
    doc = {
        "cpu": cpu,
        "memory": {"total_bytes": total_mb * MIB},
        "gpus": [{"index": i, "name": name} for i, name in enumerate(gpus or [])],
    }
    if hostname is not None:
        doc["host"] = {"hostname": hostname}
    return doc


# ----------------------------------------------------------------- slurm_node: hardware


def test_a_two_socket_h100_server_from_its_assessment():
    # healthy-h100: 2x Xeon Gold 5415+ (8 cores, 2 threads each), 263842212 kB, one H100 PCIe.
    node = slurm_node(assessed("healthy-h100"), "gpu01")
    assert node == {
        "name": "gpu01",
        "cpus": 32,
        "sockets": 2,
        "cores_per_socket": 8,
        "threads_per_core": 2,
        "memory_mb": 257658,
        # 5 % (12882 MB) is more than the 1024 MB minimum.
        "real_memory_mb": 257658 - 12882,
        "gpus": [{"type": "h100_pcie", "count": 1}],
    }


def test_a_single_socket_host_without_gpus_has_no_gres():
    # no-gpu: EPYC 7313P (16 cores, 32 threads), 64 GB, no NVIDIA device.
    node = slurm_node(assessed("no-gpu"), "cpu01")
    assert (node["sockets"], node["cores_per_socket"], node["threads_per_core"]) == (1, 16, 2)
    assert node["cpus"] == 32
    assert (node["memory_mb"], node["real_memory_mb"]) == (64123, 64123 - 3206)
    assert node["gpus"] == []


def test_gpus_the_assessment_could_not_see_are_not_offered():
    # gpu-no-driver: two GPUs on the PCI bus, no driver and no NVML: no GPU list, no GRES.
    doc = assessed("gpu-no-driver")
    assert doc["gpus"] == []
    assert slurm_node(doc, "gpu01")["gpus"] == []


def test_two_gpus_of_one_kind_are_counted_together():
    node = slurm_node(report_input("gpu01"), "gpu01")
    assert node["gpus"] == [{"type": "h100_pcie", "count": 2}]
    assert (node["cpus"], node["sockets"], node["cores_per_socket"]) == (32, 2, 8)


def test_mixed_gpus_are_counted_per_type_in_nvml_order():
    doc = minimal(gpus=["NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB", "Tesla T4", None])
    assert slurm_node(doc, "node01")["gpus"] == [
        {"type": "a100_sxm4_80gb", "count": 2},
        {"type": "tesla_t4", "count": 1},
        {"type": "gpu", "count": 1},  # a GPU whose name NVML did not give
    ]


def test_a_small_vm_from_the_rollout_inputs():
    # cpu01: 2 vCPUs, 25276203008 bytes (24105 MB); 5 % is 1205 MB.
    node = slurm_node(report_input("cpu01"), "cpu01")
    assert (node["cpus"], node["sockets"], node["cores_per_socket"]) == (2, 1, 2)
    assert node["threads_per_core"] == 1
    assert (node["memory_mb"], node["real_memory_mb"]) == (24105, 22900)


def test_without_core_or_socket_counts_every_cpu_is_a_core_on_one_socket():
    node = slurm_node(minimal(cpus=6, cores=None, sockets=None), "vm")
    assert (node["sockets"], node["cores_per_socket"], node["threads_per_core"]) == (1, 6, 1)


def test_the_node_name_is_the_short_host_name_of_the_assessment():
    assert slurm_node(minimal(hostname="gpu07.dc1.example.org"), "gpu07")["name"] == "gpu07"
    # The assessed name wins over the inventory name (slurmd registers under the host's own).
    assert slurm_node(minimal(hostname="gpu07"), "10.0.0.7")["name"] == "gpu07"


def test_without_an_assessed_host_name_the_inventory_name_is_used():
    assert slurm_node(minimal(hostname=None), "gpu08.dc1.example.org")["name"] == "gpu08"


# ----------------------------------------------------------------- slurm_node: RealMemory


@pytest.mark.parametrize(
    ("percent", "minimum", "real"),
    [
        (5, 1024, 16384 - 1024),  # 5 % = 819 MB: the minimum wins
        (10, 1024, 16384 - 1638),  # 10 % = 1638 MB: the percentage wins
        (5, 4096, 16384 - 4096),
        (2.5, 0, 16384 - 409),  # fractions of a percent, rounded down
        (0, 0, 16384),  # no reserve at all
        ("10", "1024", 16384 - 1638),  # as strings, as from --extra-vars key=value
    ],
)
def test_real_memory_keeps_the_larger_reserve_back(percent, minimum, real):
    node = slurm_node(minimal(total_mb=16384), "n", reserve_percent=percent, reserve_min_mb=minimum)
    assert node["memory_mb"] == 16384
    assert node["real_memory_mb"] == real


def test_a_host_smaller_than_its_reserve_is_refused_with_both_figures():
    with pytest.raises(
        AnsibleFilterError, match=r"tiny has 1000 MB, less than the reserve of 1024 MB"
    ):
        slurm_node(minimal(total_mb=1000), "tiny")


@pytest.mark.parametrize("value", [None, "", 0, "0"])
def test_an_unset_real_memory_is_derived(value):
    node = slurm_node(assessed("healthy-h100"), "gpu01", real_memory_mb=value)
    assert node["real_memory_mb"] == 257658 - 12882


@pytest.mark.parametrize(
    ("value", "real"), [(200000, 200000), ("200000", 200000), (257658, 257658)]
)
def test_a_configured_real_memory_up_to_the_assessed_memory_is_used(value, real):
    node = slurm_node(assessed("healthy-h100"), "gpu01", real_memory_mb=value)
    assert node["real_memory_mb"] == real
    assert node["memory_mb"] == 257658  # the assessed figure stays as it is


def test_a_configured_real_memory_above_the_host_is_refused_naming_host_and_figures():
    with pytest.raises(AnsibleFilterError) as failure:
        slurm_node(assessed("healthy-h100"), "gpu01.dc1", real_memory_mb=257659)
    message = str(failure.value)
    assert "slurm_common_real_memory_mb of gpu01.dc1 is 257659 MB" in message
    assert "its assessment shows 257658 MB" in message
    assert "Low RealMemory" in message


@pytest.mark.parametrize("value", ["lots", -512, [1]])
def test_a_configured_real_memory_that_is_no_positive_number_is_refused(value):
    with pytest.raises(AnsibleFilterError, match="slurm_common_real_memory_mb"):
        slurm_node(minimal(), "n", real_memory_mb=value)


# ----------------------------------------------------------------- slurm_node: bad input


@pytest.mark.parametrize("assessment", [None, {}, "cpu", [], {"memory": {"total_bytes": MIB}}])
def test_a_host_without_an_assessment_is_named(assessment):
    with pytest.raises(AnsibleFilterError, match=r"slurm_node: gpu03 has no assessment"):
        slurm_node(assessment, "gpu03")


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"cpu": {}}, "logical_cpus"),
        ({"cpu": {"logical_cpus": 0}}, r"logical_cpus \(0\)"),
        ({"cpu": {"logical_cpus": "many"}}, "logical_cpus"),
        ({"memory": {}}, "memory.total_bytes"),
        ({"memory": None}, "memory.total_bytes"),
        ({"memory": {"total_bytes": "unknown"}}, "memory.total_bytes"),
        ({"cpu": {"logical_cpus": 8, "physical_cores": 4, "sockets": -1}}, r"sockets \(-1\)"),
    ],
)
def test_unusable_figures_are_refused_naming_the_field(change, what):
    doc = {**minimal(), **change}
    with pytest.raises(AnsibleFilterError, match=f"no usable {what}"):
        slurm_node(doc, "n")


@pytest.mark.parametrize(
    ("cpus", "cores", "sockets"),
    [(12, 8, 1), (24, 6, 4), (8, 16, 1)],
)
def test_a_topology_that_does_not_divide_evenly_is_refused(cpus, cores, sockets):
    with pytest.raises(AnsibleFilterError) as failure:
        slurm_node(minimal(cpus=cpus, cores=cores, sockets=sockets), "odd01")
    assert f"odd01: {cpus} CPUs, {cores} cores and {sockets} sockets do not divide evenly" in str(
        failure.value
    )


# ----------------------------------------------------------------- slurm_gpu_type


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("NVIDIA H100 80GB HBM3", "h100_80gb_hbm3"),
        ("NVIDIA H100 PCIe", "h100_pcie"),
        ("NVIDIA A100-SXM4-40GB", "a100_sxm4_40gb"),
        ("Tesla V100-SXM2-16GB", "tesla_v100_sxm2_16gb"),
        ("NVIDIA GeForce RTX 4090", "geforce_rtx_4090"),
        ("  nvidia   L40S  ", "l40s"),
        ("NVIDIA RTX 6000 Ada Generation", "rtx_6000_ada_generation"),
        ("", "gpu"),
        (None, "gpu"),
        ("---", "gpu"),
    ],
)
def test_gres_types_from_nvml_names(name, kind):
    assert slurm_gpu_type(name) == kind


# ----------------------------------------------------------------- slurm_conf_change

CONF = """\
# Ansible managed
ClusterName=onprem
SlurmctldHost=slurm-ctl
SlurmctldPort=6817
SlurmdPort=6818
SrunPortRange=60001-63000
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
ProctrackType=proctrack/cgroup
SelectType=select/cons_tres
ReturnToService=2
GresTypes=gpu
NodeName=gpu01 CPUs=32 Sockets=2 CoresPerSocket=8 ThreadsPerCore=2 RealMemory=244776 Gres=gpu:h100_pcie:1 State=UNKNOWN
NodeName=gpu02 CPUs=32 Sockets=2 CoresPerSocket=8 ThreadsPerCore=2 RealMemory=244776 Gres=gpu:h100_pcie:1 State=UNKNOWN
PartitionName=batch Nodes=gpu01,gpu02 Default=YES MaxTime=INFINITE State=UP
"""  # noqa: E501


def edit(old: str, new: str, text: str = CONF) -> str:
    assert old in text, old
    return text.replace(old, new)


@pytest.mark.parametrize(
    "new",
    [
        CONF,
        edit("# Ansible managed", "# Ansible managed, rendered again"),
        edit("ClusterName=onprem", "ClusterName=onprem   # the cluster"),
        edit("MaxTime=INFINITE State=UP", "MaxTime=INFINITE    State=UP  "),
        CONF.replace("\n", "\n\n"),
    ],
    ids=["identical", "comment", "trailing_comment", "spacing", "blank_lines"],
)
def test_nothing_to_apply_when_only_comments_or_spacing_differ(new):
    assert slurm_conf_change(CONF, new) == "none"


@pytest.mark.parametrize(
    "new",
    [
        edit("MaxTime=INFINITE", "MaxTime=1-00:00:00"),
        CONF + "PartitionName=gpu01only Nodes=gpu01 Default=NO MaxTime=INFINITE State=UP\n",
        CONF + "SchedulerParameters=bf_continue\nSlurmctldDebug=debug\n",
        edit("ReturnToService=2\n", "ReturnToService=1\n"),
        edit("ReturnToService=2\n", ""),  # a reloadable setting removed
        edit("SrunPortRange=60001-63000", "SrunPortRange=61000-62000"),
    ],
    ids=["partition_max_time", "partition_added", "scheduler_and_debug", "return_to_service",
         "removed", "srun_ports"],
)  # fmt: skip
def test_reloadable_settings_only_need_scontrol_reconfigure(new):
    assert slurm_conf_change(CONF, new) == "reconfigure"


@pytest.mark.parametrize(
    "new",
    [
        edit("RealMemory=244776 Gres=gpu:h100_pcie:1 State=UNKNOWN\nNodeName=gpu02",
             "RealMemory=200000 Gres=gpu:h100_pcie:1 State=UNKNOWN\nNodeName=gpu02"),
        edit("PartitionName=batch Nodes=gpu01,gpu02",
             "NodeName=gpu03 CPUs=8 RealMemory=15360 State=UNKNOWN\n"
             "PartitionName=batch Nodes=gpu01,gpu02,gpu03"),
        edit("SlurmctldPort=6817", "SlurmctldPort=6917"),
        edit("SlurmctldHost=slurm-ctl", "SlurmctldHost=slurm-ctl2"),
        edit("StateSaveLocation=/var/lib/slurm/slurmctld", "StateSaveLocation=/srv/slurmctld"),
        edit("GresTypes=gpu\n", ""),
        CONF + "TopologyPlugin=topology/tree\n",  # a key not known to be reloadable
        # A reloadable and a non-reloadable change together: the restart covers both.
        edit("MaxTime=INFINITE", "MaxTime=2:00:00", edit("SlurmdPort=6818", "SlurmdPort=6918")),
    ],
    ids=["node_memory", "node_added", "ctld_port", "ctld_host", "state_dir", "gres_removed",
         "unknown_key", "mixed"],
)  # fmt: skip
def test_everything_else_needs_the_daemons_restarted(new):
    assert slurm_conf_change(CONF, new) == "restart"


def test_a_first_configuration_needs_a_restart():
    # Nothing in place yet (slurp failed: the role passes an empty text).
    assert slurm_conf_change("", CONF) == "restart"
    assert slurm_conf_change(None, CONF) == "restart"


def test_nothing_on_either_side_is_nothing_to_apply():
    assert slurm_conf_change(None, None) == "none"
    assert slurm_conf_change("", "# only a comment\n") == "none"


def test_the_decision_does_not_depend_on_the_direction():
    changed = edit("MaxTime=INFINITE", "MaxTime=1-00:00:00")
    assert slurm_conf_change(changed, CONF) == slurm_conf_change(CONF, changed) == "reconfigure"
    dropped = edit("GresTypes=gpu\n", "")
    assert slurm_conf_change(dropped, CONF) == slurm_conf_change(CONF, dropped) == "restart"


# ------------------------------------------------------------------ member address


@pytest.mark.parametrize(
    ("host_vars", "address"),
    [
        ({"slurm_common_node_address": "10.0.0.5", "ansible_host": "192.0.2.7"}, "10.0.0.5"),
        ({"slurm_common_node_address": "gpu1.lan", "ansible_host": "192.0.2.7"}, "192.0.2.7"),
        ({"slurm_common_node_address": "", "ansible_host": "192.0.2.7"}, "192.0.2.7"),
        ({"ansible_host": " 2001:db8::1 "}, "2001:db8::1"),
        ({"slurm_common_node_address": "gpu1.lan", "ansible_host": "gpu1"}, ""),
        ({"ansible_host": "10.0.0.0/24"}, ""),
        ({}, ""),
    ],
)
def test_a_member_is_reached_at_the_first_ip_address_it_has(host_vars, address):
    assert slurm_member_address(host_vars) == address


def test_the_member_address_needs_host_variables():
    with pytest.raises(AnsibleFilterError, match="host's variables"):
        slurm_member_address("gpu1")


# ----------------------------------------------------------------- plugin entry point


def test_the_plugin_offers_the_four_filters():
    filters = slurm.FilterModule().filters()
    assert filters == {
        "slurm_node": slurm_node,
        "slurm_gpu_type": slurm_gpu_type,
        "slurm_conf_change": slurm_conf_change,
        "slurm_member_address": slurm_member_address,
    }
