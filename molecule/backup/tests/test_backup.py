"""restic backups of the platform to an sftp repository on a second container.

In order: the timer, a real backup run (one snapshot with the database dumps, MLflow's
artifacts and the platform's configuration), what the snapshot holds (a dump pg_restore can
read, an artifact byte for byte), the repository is encrypted on the server, the metrics file
for BackupTooOld, a failing run that deletes nothing, and bad input that fails before any
change.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import testinfra
from conftest import assert_fails_before_change, run_playbook

testinfra_hosts = ["ansible://onprem-molecule-backup"]
RESTIC = "/usr/local/sbin/onprem-restic"
METRICS = "/var/lib/prometheus/node-exporter/onprem_backup.prom"
SPOOL = "/var/lib/onprem-mlops/backup-spool"
ARTIFACTS = "/srv/mlops/artifacts/mlflow"


def server():
    return testinfra.get_host(
        "ansible://onprem-molecule-backup-target",
        ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"],
    )


def snapshots(host) -> list[dict]:
    out = host.run(f"{RESTIC} snapshots --json")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def metrics(host) -> dict[str, float]:
    values = {}
    for line in host.file(METRICS).content_string.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split()
            values[name] = float(value)
    return values


def test_timer_is_armed(host):
    timer = host.service("onprem-mlops-restic-backup.timer")
    assert timer.is_enabled and timer.is_running
    assert host.file("/etc/onprem-mlops/restic/password").mode == 0o600
    assert host.file("/etc/onprem-mlops/restic/restic.env").mode == 0o600


def test_a_backup_run_makes_one_snapshot_of_everything(host):
    before = {s["id"] for s in snapshots(host)}
    run = host.run("systemctl start onprem-mlops-restic-backup.service")
    assert run.rc == 0, host.run("journalctl -u onprem-mlops-restic-backup -n 30 --no-pager").stdout
    after = sorted(snapshots(host), key=lambda s: s["time"])
    new = [s for s in after if s["id"] not in before]
    assert len(new) == 1, new
    # Retention (keep one a day for 7 days, ...) leaves one snapshot of today.
    assert len(after) == 1, [s["time"] for s in after]
    latest = after[-1]
    assert latest["tags"] == ["onprem-mlops"]
    assert set(latest["paths"]) == {
        SPOOL,
        ARTIFACTS,
        "/etc/onprem-mlops",
        "/etc/mlflow",
        "/etc/nginx",
    }
    # The spool only lives during the run.
    assert not host.file(f"{SPOOL}/postgresql").exists


def test_the_dumps_restore_with_pg_restore(host):
    for db, table in (("mlflow", "runs"), ("mlflow_auth", "users")):
        listing = host.run(f"{RESTIC} dump latest {SPOOL}/postgresql/{db}.dump | pg_restore --list")
        assert listing.rc == 0, listing.stderr
        assert f"TABLE DATA public {table} " in listing.stdout, listing.stdout[-2000:]


def test_an_artifact_comes_back_byte_for_byte(host):
    files = host.run(f"find {ARTIFACTS} -type f -name MLmodel").stdout.split()
    assert files, "the platform image has no registered model artifacts"
    original = host.run(f"sha256sum {files[0]}").stdout.split()[0]
    restored = host.run(f"{RESTIC} dump latest {files[0]} | sha256sum").stdout.split()[0]
    assert restored == original
    # The CA and its key are in the snapshot too (the repository is encrypted).
    ls = host.run(f"{RESTIC} ls latest /etc/onprem-mlops").stdout
    assert "/etc/onprem-mlops/pki" in ls
    assert "/etc/onprem-mlops/restic" not in ls


def test_the_repository_is_encrypted_on_the_server(host):
    secret = host.run("sed -n 's/^admin_username *= *//p' /etc/mlflow/basic_auth.ini").stdout
    marker = host.run("grep -m1 -o 'artifact_path: [a-z_-]*' -r /srv/mlops/artifacts/mlflow").stdout
    srv = server()
    assert srv.file("/srv/restic/onprem-mlops/config").exists
    assert srv.run("ls /srv/restic/onprem-mlops/data").stdout.strip()
    for needle in ("admin_username", "CREATE TABLE", marker.split(":", 1)[-1].strip() or "MLmodel"):
        assert srv.run(f"grep -rqF -- {needle!r} /srv/restic/onprem-mlops").rc == 1, needle
    assert secret  # the platform's own file had something to look for


def test_the_last_success_is_exported(host):
    values = metrics(host)
    keep = Path(os.environ["ONPREM_MOLECULE_LOG"]).with_name("backup.metrics.json")
    keep.write_text(json.dumps(values, indent=1))
    assert values["onprem_backup_last_run_success"] == 1
    assert time.time() - values["onprem_backup_last_success_timestamp_seconds"] < 900
    assert values["onprem_backup_last_processed_bytes"] > 0
    assert host.file(METRICS).mode == 0o644


def test_a_failing_run_deletes_nothing(host):
    before = [s["id"] for s in snapshots(host)]
    last_success = metrics(host)["onprem_backup_last_success_timestamp_seconds"]
    host.run("sed 's/^database mlflow$/database no_such_database/' "
             "/etc/onprem-mlops/restic/backup.conf > /root/broken.conf")  # fmt: skip
    run = host.run("/usr/local/sbin/onprem-mlops-restic-backup /root/broken.conf")
    assert run.rc == 1
    assert "no_such_database: pg_dump failed; no snapshot was deleted" in run.stderr
    assert [s["id"] for s in snapshots(host)] == before
    values = metrics(host)
    assert values["onprem_backup_last_run_success"] == 0
    assert values["onprem_backup_last_success_timestamp_seconds"] == last_success


def test_restore_drill_brings_mlflow_back_on_the_second_container(host):
    reports = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "reports"
    drill = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "playbooks/restore_drill.yml"
    run = run_playbook(drill, {"onprem_reports_dir": str(reports)})
    assert run.returncode == 0, run.output[-4000:]
    report = json.loads((reports / "restore-drill/report.json").read_text())
    # Kept beside the scenario's log for docs/benchmarks.md (RPO, RTO in a container).
    keep = Path(os.environ["ONPREM_MOLECULE_LOG"]).with_name("backup.restore-drill.json")
    keep.write_text(json.dumps({**report, "differences": len(report["differences"])}, indent=1))
    assert report["result"] == "passed", report["differences"][:20]
    assert report["target"] == "onprem-molecule-backup-target"
    compared = report["compared"]
    # The platform image holds the smoke job's runs, the registered model and its champion.
    assert compared["runs"] >= 1 and compared["metric_values"] >= 1, compared
    assert compared["registered_models"] >= 1 and compared["aliases"] >= 1, compared
    assert compared["model_files"] >= 1 and compared["run_artifacts"] >= 1, compared
    assert report["rpo_seconds"] >= 0 and report["rto_seconds"] > 0
    print(
        f"restore drill: RPO {report['rpo_seconds']} s, RTO {report['rto_seconds']} s, {compared}"
    )
    prom = host.file("/var/lib/prometheus/node-exporter/onprem_restore_drill.prom").content_string
    (stamp,) = (
        float(line.split()[1])
        for line in prom.splitlines()
        if line.startswith("onprem_restore_drill_last_success_timestamp_seconds ")
    )
    assert time.time() - stamp < 900
    # The restored MLflow keeps the source's accounts: no anonymous access on the drill host.
    probe = server().run(
        'python3 -c "import urllib.request as u, urllib.error as e\n'
        "try: u.urlopen('http://127.0.0.1:5000/api/2.0/mlflow/experiments/search?max_results=1')\n"
        'except e.HTTPError as x: print(x.code)"'
    )
    assert probe.stdout.strip() == "401", (probe.stdout, probe.stderr)


def test_nothing_secret_in_the_log():
    log = Path(os.environ["ONPREM_MOLECULE_LOG"]).read_text(errors="replace")
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    password = (ephemeral / "backup/restic.password").read_text().strip()
    assert password not in log
    assert "BEGIN OPENSSH PRIVATE KEY" not in log


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"backup_password": "not-the-repository-password"},
         r"backup_password does not open the repository at backup_repository"),
        ({"backup_repository": "sftp:restic@no-such-host.invalid:/srv/restic/x"},
         r"backup_repository \(sftp:restic@no-such-host\.invalid:/srv/restic/x\) cannot be"),
        ({"backup_password": "CHANGE-ME-IN-ANSIBLE-VAULT"},
         r"backup_password is empty or a placeholder"),
        ({"backup_paths": ["/srv/mlops/no-such-dir"]}, r"backup_paths has paths that do not exist"),
        ({"backup_repository": "/srv/mlops/artifacts/mlflow/restic"},
         r"a local path must not lie inside a path it backs up"),
        ({"backup_schedule": "every night"},
         r"backup_schedule 'every night' is not a systemd calendar"),
    ],
    ids=["wrong-password", "unreachable", "placeholder", "missing-path", "repo-inside-path",
         "bad-schedule"],
)  # fmt: skip
def test_bad_input_fails_before_any_change(converge_with, extra, expected):
    assert_fails_before_change(converge_with(extra), expected)
