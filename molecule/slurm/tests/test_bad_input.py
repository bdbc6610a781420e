"""Bad input stops phase 8 before it changes anything, naming the variable or the host."""

import re

import pytest

KEY_OF = "vault_slurm_munge_key"


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({KEY_OF: ""}, r"slurm_common_munge_key \(vault_slurm_munge_key in the vault\) must be"),
        ({KEY_OF: "CHANGE-ME-IN-ANSIBLE-VAULT"}, r"at least 64 hex\s+characters"),
        (
            {"slurm_common_partitions": [{"name": "gpu", "nodes": ["gpu99"]}]},
            r"Unknown nodes: gpu99 \(not in slurm_compute\)",
        ),
        (
            {"slurm_common_expected_compute_groups": ["mlops_servers"]},
            r"onprem-molecule-slurm-ctl in group\(s\) mlops_servers but not in slurm_compute",
        ),
        (
            {"slurm_common_real_memory_mb": 99999999},
            r"slurm_common_real_memory_mb of onprem-molecule-slurm-node1 is 99999999 MB, "
            r"but its assessment shows \d+ MB",
        ),
        (
            {"vault_slurm_dbd_password": "CHANGE-ME-IN-ANSIBLE-VAULT"},
            r"slurm_dbd_storage_password \(vault_slurm_dbd_password in the vault\) must be",
        ),
        (
            # ansible_host is the container's name: with no address, the firewall has no source.
            {"slurm_common_node_address": ""},
            r"onprem-molecule-slurm-ctl,\s+onprem-molecule-slurm-node1,\s+onprem-molecule-slurm-node2"
            r"\s+have\s+no\s+IP\s+address",
        ),
    ],
    ids=[
        "key_missing",
        "key_placeholder",
        "partition_unknown_node",
        "gpu_node_outside",
        "memory",
        "dbd_password_placeholder",
        "no_member_address",
    ],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    run = converge_with(extra_vars)
    assert run.returncode != 0, run.output[-2000:]
    assert re.search(expected, run.output), run.output[-3000:]
    assert run.recap["failed"] >= 1, run.recap
    assert run.recap["changed"] == 0, run.recap
