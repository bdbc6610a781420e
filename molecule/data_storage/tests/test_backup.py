"""Testinfra checks of the backup timer, service and script on the converged container."""

import re

import pytest

BACKUPS = "/srv/mlops/backups"
ARTIFACTS = "/srv/mlops/artifacts/mlflow"
CONF = "/etc/onprem-mlops-backup.conf"
SCRIPT = "/usr/local/sbin/onprem-mlops-backup"
SERVICE = "onprem-mlops-backup.service"
ARCHIVE_NAME = "srv-mlops-artifacts-mlflow"
STAMP = r"\d{8}T\d{6}Z"


def run_backup(host):
    return host.run(f"systemctl start {SERVICE}")


def newest(host, pattern: str) -> str:
    return host.check_output(f"ls -1 {pattern} | sort | tail -n 1")


def latest(host) -> dict[str, list[str]]:
    status: dict[str, list[str]] = {}
    for line in host.file(f"{BACKUPS}/LATEST").content_string.splitlines():
        key, _, value = line.partition("=")
        status.setdefault(key, []).append(value)
    return status


@pytest.fixture(scope="module")
def first_run(host):
    """A table in the mlflow database and an artifact file, then one backup run."""
    host.run_test(
        "runuser -u postgres -- psql -q -d mlflow -c "
        '"CREATE TABLE IF NOT EXISTS probe_runs (id int); '
        'TRUNCATE probe_runs; INSERT INTO probe_runs VALUES (1), (2), (3);"'
    )
    host.run_test(f"mkdir -p {ARTIFACTS}/1 && echo weights > {ARTIFACTS}/1/model.pkl")
    host.run_test("sleep 1")  # a new timestamp for this run
    result = run_backup(host)
    assert result.rc == 0, host.run(f"journalctl -u {SERVICE} --no-pager | tail -n 30").stdout
    return result


def test_timer_enabled_active_with_schedule(host):
    timer = host.service("onprem-mlops-backup.timer")
    assert timer.is_enabled
    assert timer.is_running
    props = host.check_output(
        "systemctl show onprem-mlops-backup.timer "
        "-p TimersCalendar -p Persistent -p RandomizedDelayUSec"
    )
    assert "OnCalendar=*-*-* 02:30:00" in props
    assert "Persistent=yes" in props
    assert "RandomizedDelayUSec=10min" in props


def test_service_is_a_hardened_oneshot(host):
    props = dict(
        line.split("=", 1)
        for line in host.check_output(
            f"systemctl show {SERVICE} -p Type -p ProtectSystem -p ReadWritePaths -p PrivateTmp "
            "-p NoNewPrivileges -p ProtectHome"
        ).splitlines()
    )
    assert props == {
        "Type": "oneshot",
        "ProtectSystem": "strict",
        "ReadWritePaths": BACKUPS,
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "ProtectHome": "read-only",
    }


def test_script_and_config(host):
    script = host.file(SCRIPT)
    assert (script.user, script.mode) == ("root", 0o755)
    assert "set -euo pipefail" in script.content_string
    conf = host.file(CONF)
    assert conf.mode == 0o640
    lines = conf.content_string.splitlines()
    assert f"path {ARCHIVE_NAME} {ARTIFACTS}" in lines
    assert "database mlflow" in lines
    assert "retention_days 7" in lines


def test_backup_run_succeeded(host, first_run):
    assert host.check_output(f"systemctl show {SERVICE} -p Result --value") == "success"
    journal = host.check_output(f"journalctl -u {SERVICE} --no-pager -o cat")
    assert re.search(rf"backup {STAMP} finished: 2 written", journal), journal[-2000:]


def test_dump_is_private_and_restorable(host, first_run):
    dump = newest(host, f"{BACKUPS}/postgresql/mlflow-*.dump")
    assert re.fullmatch(rf"{BACKUPS}/postgresql/mlflow-{STAMP}\.dump", dump)
    f = host.file(dump)
    assert (f.user, f.group, f.mode) == ("root", "root", 0o600)
    listing = host.check_output(f"pg_restore --list {dump}")
    assert re.search(r"TABLE public probe_runs", listing), listing
    # The restore the README describes, into a scratch database.
    host.run("runuser -u postgres -- dropdb --if-exists restore_check")
    host.run_test("runuser -u postgres -- createdb restore_check")
    try:
        host.run_test(f"runuser -u postgres -- pg_restore --no-owner -d restore_check < {dump}")
        count = host.check_output(
            "runuser -u postgres -- psql -tAc 'SELECT count(*) FROM probe_runs' restore_check"
        )
        assert count == "3"
    finally:
        host.run("runuser -u postgres -- dropdb --if-exists restore_check")


def test_archive_is_private_and_holds_the_files(host, first_run):
    archive = newest(host, f"{BACKUPS}/files/{ARCHIVE_NAME}-*.tar.gz")
    assert re.fullmatch(rf"{BACKUPS}/files/{ARCHIVE_NAME}-{STAMP}\.tar\.gz", archive)
    assert host.file(archive).mode == 0o600
    members = host.check_output(f"tar -tzf {archive}").splitlines()
    assert "srv/mlops/artifacts/mlflow/1/model.pkl" in members
    content = host.check_output(f"tar -xzOf {archive} srv/mlops/artifacts/mlflow/1/model.pkl")
    assert content == "weights"


def test_latest_lists_the_run(host, first_run):
    status = latest(host)
    assert status["status"] == ["ok"]
    stamp = status["stamp"][0]
    assert status["file"] == [
        f"postgresql/mlflow-{stamp}.dump",
        f"files/{ARCHIVE_NAME}-{stamp}.tar.gz",
    ]
    for rel in status["file"]:
        assert host.file(f"{BACKUPS}/{rel}").exists


def test_retention_prunes_old_backups_but_keeps_the_newest_of_each(host, first_run):
    pg, files = f"{BACKUPS}/postgresql", f"{BACKUPS}/files"
    planted = {
        f"{pg}/mlflow-20200101T000000Z.dump": ("30 days ago", False),  # old, newer exists
        f"{pg}/mlflow-20200102T000000Z.dump": ("2 days ago", True),  # within 7 days
        f"{pg}/olddb-20200101T000000Z.dump": ("30 days ago", False),
        f"{pg}/olddb-20200201T000000Z.dump": ("20 days ago", True),  # newest olddb: kept
        f"{files}/{ARCHIVE_NAME}-20200101T000000Z.tar.gz": ("30 days ago", False),
        f"{files}/data-20200101T000000Z.tar.gz": ("40 days ago", True),  # only one: kept
        f"{pg}/notes.txt": ("30 days ago", True),  # not a backup name: left alone
    }
    for path, (age, _) in planted.items():
        host.run_test(f"touch -d '{age}' {path}")
    host.run_test("sleep 1")
    before = latest(host)["stamp"]
    assert run_backup(host).rc == 0
    for path, (_, kept) in planted.items():
        assert host.file(path).exists == kept, path
    assert latest(host)["stamp"] != before
    for pattern in (f"{pg}/mlflow-*.dump", f"{files}/{ARCHIVE_NAME}-*.tar.gz"):
        assert host.file(newest(host, pattern)).exists
    host.run(f"rm -f {pg}/mlflow-20200102T000000Z.dump {pg}/olddb-* {files}/data-* {pg}/notes.txt")


def test_failed_backup_fails_the_service(host, first_run):
    """A database that does not exist: the unit fails, LATEST stays, no partial file is left."""
    before = host.file(f"{BACKUPS}/LATEST").content_string
    host.run_test(f"cp -p {CONF} /root/backup.conf.saved")
    try:
        host.run_test(f"echo 'database no_such_db' >> {CONF}")
        result = run_backup(host)
        assert result.rc != 0
        assert host.run(f"systemctl is-failed {SERVICE}").stdout.strip() == "failed"
        journal = host.check_output(f"journalctl -u {SERVICE} --no-pager -o cat")
        assert "database no_such_db: pg_dump failed" in journal
        assert "1 backup(s) failed" in journal
    finally:
        host.run_test(f"mv /root/backup.conf.saved {CONF} && systemctl reset-failed {SERVICE}")
    assert host.file(f"{BACKUPS}/LATEST").content_string == before
    assert host.run(f"find {BACKUPS} -name '*.partial' | grep -q .").rc != 0


@pytest.fixture
def scratch_config(host):
    """A configuration of its own for running the script directly, with a fake tar first in PATH."""
    host.run_test(
        "rm -rf /root/bk && mkdir -p /root/bk/out /root/bk/bin /root/bk/src && "
        "echo data > /root/bk/src/file && "
        "printf 'backup_dir /root/bk/out\\nretention_days 3\\npath root-bk-src /root/bk/src\\n' "
        "> /root/bk/conf"
    )
    yield "/root/bk/conf"
    host.run("rm -rf /root/bk")


def fake_tar(host, exit_code: int) -> None:
    host.run_test(
        f'printf \'#!/bin/sh\\n/bin/tar "$@"\\necho "tar: file changed as we read it" >&2\\n'
        f"exit {exit_code}\\n' > /root/bk/bin/tar && chmod 0755 /root/bk/bin/tar"
    )


def test_tar_file_changed_is_only_a_warning(host, scratch_config):
    fake_tar(host, 1)
    result = host.run(f"PATH=/root/bk/bin:$PATH {SCRIPT} {scratch_config}")
    assert result.rc == 0, result.stderr
    assert "warning: path /root/bk/src: some files changed" in result.stderr
    assert host.run("ls /root/bk/out/files/root-bk-src-*.tar.gz").rc == 0
    assert "status=ok" in host.file("/root/bk/out/LATEST").content_string


def test_tar_error_fails_the_run(host, scratch_config):
    fake_tar(host, 2)
    result = host.run(f"PATH=/root/bk/bin:$PATH {SCRIPT} {scratch_config}")
    assert result.rc == 1
    assert "path /root/bk/src: tar failed (exit 2)" in result.stderr
    assert host.check_output("find /root/bk/out -type f ! -name .lock") == ""
