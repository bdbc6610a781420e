"""Phase 8 on three containers: munge, slurmctld/slurmd, cgroups, firewall and a distributed job.

The containers run the platform image; the controller (slurm-ctl) serves MLflow through nginx
under the platform scenario's name, the nodes (slurm-node1, slurm-node2) have the ML stack.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import time
from pathlib import Path

import pytest
import testinfra
from conftest import Credentials, container_http

CTL = testinfra.get_host("docker://onprem-molecule-slurm-ctl")
NODES = {
    "slurm-node1": testinfra.get_host("docker://onprem-molecule-slurm-node1"),
    "slurm-node2": testinfra.get_host("docker://onprem-molecule-slurm-node2"),
}
# slurm_common_node_address of each member (molecule.yml).
ADDRESSES = {"slurm-ctl": "10.98.0.10", "slurm-node1": "10.98.0.11", "slurm-node2": "10.98.0.12"}
PLATFORM = "onprem-molecule-model_serving"
CREDENTIALS = (
    Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
    / ".cache/platform/credentials"
    / PLATFORM
)


def run(host, command: str, timeout: int = 120):
    return host.run(f"timeout {timeout} {command}")


def test_munge_credentials_decode_on_every_other_member():
    for name, node in NODES.items():
        cred = node.check_output("munge -n")
        for other in [CTL, *[n for k, n in NODES.items() if k != name]]:
            decoded = other.run(f"echo {shlex.quote(cred)} | unmunge")
            assert decoded.rc == 0, decoded.stderr
            assert "STATUS:          Success (0)" in decoded.stdout
            # "ENCODE_HOST: <name as the resolver gives it> (<address>)"
            assert re.search(rf"ENCODE_HOST:.*\({re.escape(ADDRESSES[name])}\)", decoded.stdout)


def test_munge_key_is_private_and_identical():
    sums = set()
    for host in [CTL, *NODES.values()]:
        key = host.file("/etc/munge/munge.key")
        assert key.user == "munge"
        assert key.mode == 0o400
        sums.add(host.check_output("sha256sum /etc/munge/munge.key | cut -d' ' -f1"))
    assert len(sums) == 1


def test_both_nodes_idle_with_their_real_cpus_and_memory():
    out = CTL.check_output("sinfo --Node --noheader --format='%N %t %c %m %P'")
    rows = {}
    for line in out.splitlines():
        name, state, cpus, memory, partition = line.split()
        rows.setdefault(name, {"state": state, "cpus": int(cpus), "memory": int(memory)})
        rows[name].setdefault("partitions", set()).add(partition.rstrip("*"))
    assert set(rows) == set(NODES)
    for name, node in NODES.items():
        assert rows[name]["state"] == "idle", rows
        assert rows[name]["cpus"] == int(node.check_output("nproc --all"))
        total_mb = int(node.check_output("awk '/MemTotal/ {print $2}' /proc/meminfo")) // 1024
        reserve = max(1024, int(total_mb * 0.05))
        assert rows[name]["memory"] == total_mb - reserve
    assert rows["slurm-node1"]["partitions"] == {"batch", "node1only"}
    assert rows["slurm-node2"]["partitions"] == {"batch"}


def test_a_two_node_job_runs_on_both_nodes():
    result = run(CTL, "srun --nodes=2 --ntasks-per-node=1 --time=1 hostname")
    assert result.rc == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(NODES)


def test_accounting_records_jobs_and_answers_on_a_compute_node():
    result = run(CTL, "srun --nodes=2 --ntasks-per-node=1 --time=1 --job-name=acct-probe true")
    assert result.rc == 0, result.stderr
    # slurmctld hands finished jobs to slurmdbd asynchronously; sacct on a node asks slurmdbd
    # on the controller directly (the firewall's slurmdbd rule).
    sacct = (
        "sacct --noheader --parsable2 -X --name=acct-probe --starttime=now-1hours "
        "--format=JobName,State,NNodes,Cluster"
    )
    for _ in range(30):
        rows = NODES["slurm-node1"].run(sacct)
        if "acct-probe|COMPLETED|2|onprem" in rows.stdout.splitlines():
            break
        time.sleep(1)
    assert "acct-probe|COMPLETED|2|onprem" in rows.stdout.splitlines(), (rows.stdout, rows.stderr)
    clusters = CTL.check_output("sacctmgr --noheader --parsable2 list cluster format=cluster")
    assert clusters.split() == ["onprem"]


def test_slurmdbd_keeps_its_database_password_to_itself():
    conf = CTL.file("/etc/slurm/slurmdbd.conf")
    assert (conf.user, conf.group, conf.mode) == ("slurm", "slurm", 0o600)
    assert CTL.socket("tcp://127.0.0.1:3306").is_listening
    assert not CTL.socket("tcp://0.0.0.0:3306").is_listening
    assert CTL.check_output("stat -c %a /etc/mysql/mariadb.conf.d/60-slurmdbd.cnf") == "644"


ALLOCATE = "python3 -c 'b = bytearray({mib} * 1024 * 1024); print(\"kept\", len(b))'"


def test_a_job_within_its_memory_limit_runs():
    result = run(CTL, f"srun --nodes=1 --mem=256M --time=1 {ALLOCATE.format(mib=64)}")
    assert result.rc == 0, result.stderr
    assert "kept" in result.stdout


def test_a_job_above_its_memory_limit_is_killed_by_cgroups():
    result = run(CTL, f"srun --nodes=1 --mem=64M --time=1 {ALLOCATE.format(mib=400)}")
    assert result.rc != 0
    assert "kept" not in result.stdout
    assert re.search(r"Out Of Memory|oom-kill", result.stderr), result.stderr


def set_addresses(ruleset: str, name: str) -> set[str]:
    """The IPv4 addresses an nftables set of ``nft list table`` holds (ranges expanded)."""
    found = re.search(rf"set {name} {{[^}}]*?elements = {{ ([^}}]*) }}", ruleset)
    assert found, (name, ruleset)
    networks = [ipaddress.ip_network(e.strip()) for e in found.group(1).split(",")]
    return {str(address) for network in networks for address in network}


def test_the_firewall_admits_slurm_from_cluster_members_only():
    members = set(ADDRESSES.values())  # their slurm_common_node_address, no network around
    expected = [(CTL, ["slurmctld", "slurmdbd", "srun"])]  # accounting is on here
    expected += [(node, ["slurmd", "slurm_jobs", "srun"]) for node in NODES.values()]
    for host, services in expected:
        ruleset = host.check_output("nft list table inet onprem_mlops")
        for service in services:
            assert set_addresses(ruleset, f"{service}_v4") == members, service
    ctl_rules = CTL.check_output("nft list table inet onprem_mlops")
    assert re.search(r"tcp dport \{?\s*6817\s*\}? ip saddr @slurmctld_v4 accept", ctl_rules)
    assert re.search(r"tcp dport \{?\s*6819\s*\}? ip saddr @slurmdbd_v4 accept", ctl_rules)
    # No slurmd rule on the controller (it is not a compute node).
    assert "slurmd" not in re.sub(r"slurmctld|slurmdbd", "", ctl_rules).replace("slurm_jobs", "")


def test_slurm_conf_is_identical_and_from_the_assessment():
    sha256 = "sha256sum /etc/slurm/slurm.conf | cut -d' ' -f1"
    confs = {host.check_output(sha256) for host in [CTL, *NODES.values()]}
    assert len(confs) == 1
    conf = CTL.file("/etc/slurm/slurm.conf").content_string
    # slurm_common_node_address (set in molecule.yml) says where each daemon is reached.
    assert "SlurmctldHost=slurm-ctl(10.98.0.10)\n" in conf
    node = (
        r"^NodeName=slurm-node1 NodeAddr=10.98.0.11 CPUs=\d+ Sockets=\d+ CoresPerSocket=\d+ "
        r"ThreadsPerCore=\d+ RealMemory=\d+ State=UNKNOWN$"
    )
    assert re.search(node, conf, re.M), conf
    assert "GresTypes" not in conf  # no GPU in these containers
    assert "CgroupPlugin=autodetect" in CTL.file("/etc/slurm/cgroup.conf").content_string


@pytest.fixture(scope="module")
def mlflow_env():
    """An environment file for the job on the controller (0600), removed afterwards."""
    password = (CREDENTIALS / "mlflow-admin.password").read_text().strip()
    path = "/root/slurm-test-mlflow.env"
    content = (
        f"MLFLOW_TRACKING_URI=https://{PLATFORM}\n"
        "MLFLOW_TRACKING_USERNAME=admin\n"
        f"MLFLOW_TRACKING_PASSWORD={password}\n"
        "MLFLOW_TRACKING_SERVER_CERT_PATH=/etc/ssl/certs/ca-certificates.crt\n"
    )
    CTL.run(f"umask 077 && printf %s {shlex.quote(content)} > {path}")
    yield path, password
    CTL.run(f"rm -f {path}")


def test_the_distributed_smoke_job_trains_across_both_nodes(mlflow_env):
    path, password = mlflow_env
    command = (
        f"bash -c 'set -a; . {path}; set +a; "
        "srun --nodes=2 --ntasks-per-node=1 --time=10 --export=ALL "
        "/opt/onprem-mlops/venv/bin/onprem-mlops smoke-train --distributed "
        "--experiment slurm-distributed --model-name slurm-smoke --max-seconds 120'"
    )
    result = run(CTL, command, timeout=600)
    output = result.stdout + result.stderr
    assert password not in output
    assert result.rc == 0, output
    assert "PASS" in result.stdout
    found = re.search(r"run:\s+([0-9a-f]{32})", result.stdout)
    assert found, result.stdout
    response = container_http(
        CTL,
        "GET",
        f"https://{PLATFORM}/api/2.0/mlflow/runs/get?run_id={found.group(1)}",
        auth=Credentials("admin", password),
        cafile="/etc/ssl/certs/ca-certificates.crt",
    )
    assert response.status == 200, response.body
    data = response.json()["run"]["data"]
    params = {p["key"]: p["value"] for p in data["params"]}
    metrics = {m["key"]: m["value"] for m in data["metrics"]}
    assert params["distributed.world_size"] == "2"
    assert params["distributed.backend"] == "gloo"
    assert set(params["distributed.hosts"].split(",")) == set(NODES)
    assert metrics["roc_auc"] >= 0.90
    assert {"rank0.train_s", "rank1.train_s"} <= set(metrics)
