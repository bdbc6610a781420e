"""Bad input must stop the data_storage role before it changes anything on the host.

These runs change nothing (they fail first, or run in check mode), so they go in parallel:
each is mostly waiting on the container.
"""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import assert_fails_before_change

# Only the data_storage tasks (and every role's validation): the postgresql role converged already.
TAGS = ("--tags", "data_storage")

CASES = {
    "directory name": (
        {"data_storage_directories": [{"name": "../etc", "mode": "2770"}]},
        r"data_storage_directories entry '\.\./etc': name must be one path component",
    ),
    "unquoted YAML octal mode": (
        {"data_storage_directories": [{"name": "raw", "mode": 0o2770}]},
        r"data_storage_directories entry 'raw': .* mode a quoted four-digit octal string such "
        r"as \"2770\" \(got '1528'\)",
    ),
    "relative backup path": (
        {"data_storage_backup_paths": ["srv/mlops/artifacts"]},
        r"data_storage_backup_paths entry 'srv/mlops/artifacts' must be an absolute path",
    ),
    "database name": (
        {"data_storage_backup_postgresql_databases": ["mlflow; DROP TABLE x"]},
        r"data_storage_backup_postgresql_databases entry 'mlflow; DROP TABLE x' must be a "
        r"lower-case SQL identifier",
    ),
    "schedule": (
        {"data_storage_backup_schedule": "every night"},
        r"data_storage_backup_schedule 'every night' is not a systemd OnCalendar expression",
    ),
    "backup dir in a shared directory": (
        {"data_storage_backup_dir": "/srv/mlops/raw/backups"},
        r"data_storage_backup_dir '/srv/mlops/raw/backups' lies in /srv/mlops/raw",
    ),
    "root not a mount point": (
        {"data_storage_require_mountpoint": True},
        r"data_storage_require_mountpoint is true but data_storage_root '/srv/mlops' is not a "
        r"mount point",
    ),
}


# Runs that must succeed without changing anything.
CHECK = "new directory and backups disabled, check mode"
MOUNTED = "mounted root, validation only"
VOLUME = "/mnt/data-volume"
CHECK_VARS = {
    "data_storage_backup_enabled": False,
    "data_storage_directories": [
        {"name": "raw", "mode": "2770"},
        {"name": "processed", "mode": "2770"},
        {"name": "scratch", "mode": "3770"},
        {"name": "models", "mode": "2770"},
    ],
}


@pytest.fixture(scope="module")
def runs(host, converge_with):
    host.run_test(f"mkdir -p {VOLUME} && (mountpoint -q {VOLUME} || mount -t tmpfs tmpfs {VOLUME})")
    # Validation needs only the minimal facts (distribution): gathering is half of each run.
    with pytest.MonkeyPatch.context() as env, ThreadPoolExecutor(max_workers=4) as pool:
        env.setenv("ANSIBLE_GATHER_SUBSET", "min")
        try:
            futures = {case: pool.submit(converge_with, v, *TAGS) for case, (v, _) in CASES.items()}
            futures[CHECK] = pool.submit(converge_with, CHECK_VARS, "--check", "--diff", *TAGS)
            futures[MOUNTED] = pool.submit(
                converge_with,
                {"data_storage_root": VOLUME, "data_storage_require_mountpoint": True},
                "--check",
                "--tags",
                "data_storage-validate",
            )
            return {case: future.result() for case, future in futures.items()}
        finally:
            host.run(f"umount {VOLUME}")


@pytest.mark.parametrize("case", CASES)
def test_bad_input_fails_before_any_change(runs, case):
    assert_fails_before_change(runs[case], CASES[case][1])


def test_mounted_root_passes_the_mountpoint_check(runs):
    run = runs[MOUNTED]
    assert run.returncode == 0, run.output[-2000:]
    assert re.search(r"TASK \[data_storage : Require a mounted data volume\] \*+ ok:", run.output)
    assert run.recap["failed"] == 0


def test_check_mode_with_a_new_directory_and_backups_disabled(host, runs):
    """Check mode on a converged host: a new shared directory (no ACLs to read yet) and the
    removal of the timer are reported, and nothing happens."""
    run = runs[CHECK]
    assert run.returncode == 0, run.output[-2000:]
    assert run.recap["failed"] == 0
    assert re.search(
        r"TASK \[data_storage : Stop and disable the backup timer\] \*+ changed:", run.output
    ), run.output[-3000:]
    # file_modes' diff names each path: the units and the script go, the directory comes.
    assert re.search(r"\+/etc/systemd/system/onprem-mlops-backup\.timer: absent", run.output), (
        run.output[-3000:]
    )
    assert re.search(r"\+/srv/mlops/models: 2770 root:mlops-data", run.output), run.output[-3000:]
    # Check mode: the timer still runs and the directory does not exist.
    assert host.service("onprem-mlops-backup.timer").is_running
    assert not host.file("/srv/mlops/models").exists
