"""The playbook's tags work alone: a firewall-only run, and a configuration-only run that
applies its change to the running daemons and checks the nodes."""

from __future__ import annotations

import re

import testinfra

CTL = testinfra.get_host("docker://onprem-molecule-slurm-ctl")
# molecule.yml's partitions, with another time limit for batch (a setting that
# `scontrol reconfigure` applies).
PARTITIONS = [
    {"name": "batch", "default": True, "max_time": "2:00:00"},
    {"name": "node1only", "nodes": ["onprem-molecule-slurm-node1"], "max_time": "INFINITE"},
]


def max_time(partition: str) -> str:
    line = CTL.check_output(f"scontrol show partition {partition} --oneliner")
    return next(field for field in line.split() if field.startswith("MaxTime=")).split("=", 1)[1]


def test_a_firewall_only_run_changes_nothing(converge_with):
    run = converge_with(None, "--tags", "firewall")
    assert run.returncode == 0, run.output[-3000:]
    assert run.recap["changed"] == 0, run.recap
    assert run.recap["failed"] == 0, run.recap


def test_a_config_only_run_reconfigures_the_running_controller(converge_with):
    assert max_time("batch") == "01:00:00"
    try:
        run = converge_with({"slurm_common_partitions": PARTITIONS}, "--tags", "slurm-config")
        assert run.returncode == 0, run.output[-3000:]
        assert run.recap["failed"] == 0, run.recap
        assert max_time("batch") == "02:00:00"
    finally:
        back = converge_with(None, "--tags", "slurm-config")
    assert back.returncode == 0, back.output[-3000:]
    assert max_time("batch") == "01:00:00"
    again = converge_with(None, "--tags", "slurm-config")
    assert again.recap["changed"] == 0, again.recap


def test_a_drained_node_is_reported_by_name(converge_with):
    """slurm_compute's check names a node slurmctld will not use, with its state and reason."""
    CTL.check_output("scontrol update nodename=slurm-node2 state=drain reason=maintenance-test")
    try:
        run = converge_with(None, "--tags", "slurm-config")
    finally:
        CTL.check_output("scontrol update nodename=slurm-node2 state=resume")
    assert run.returncode != 0, run.output[-3000:]
    assert run.recap["failed"] == 1, run.recap
    assert run.recap["changed"] == 0, run.recap
    expected = (
        r"Slurm node slurm-node2 \(onprem-molecule-slurm-node2\) is not usable: "
        r"State=\S*DRAIN\S* Reason=maintenance-test"
    )
    assert re.search(expected, run.output), run.output[-3000:]
    assert "idle" in CTL.check_output("sinfo --noheader --nodes=slurm-node2 --format=%t")
