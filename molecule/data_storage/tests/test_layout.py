"""Testinfra checks of the data volume layout: owners, modes, setgid and the default ACLs."""

import uuid

import pytest

ROOT = "/srv/mlops"
# alice and bob are data scientists, carol is not, rita only reads.
USERS = {"alice": "mlops-data", "bob": "mlops-data", "carol": "", "rita": "mlops-readers"}


@pytest.fixture(scope="module")
def users(host):
    for name, group in USERS.items():
        groups = f"-G {group}" if group else ""
        host.run_test(f"id -u {name} >/dev/null 2>&1 || useradd -M -s /bin/sh {groups} {name}")
    return USERS


def as_user(host, user: str, script: str):
    """Run a shell snippet as `user` with umask 077, the least friendly one."""
    return host.run(f"runuser -u {user} -- sh -c {('umask 077; ' + script)!r}")


@pytest.mark.parametrize(
    ("path", "group", "mode"),
    [
        (ROOT, "root", 0o755),
        (f"{ROOT}/raw", "mlops-data", 0o2770),
        (f"{ROOT}/processed", "mlops-data", 0o2770),
        (f"{ROOT}/scratch", "mlops-data", 0o3770),
        (f"{ROOT}/artifacts", "root", 0o755),
        (f"{ROOT}/backups", "root", 0o700),
        (f"{ROOT}/backups/postgresql", "root", 0o700),
        (f"{ROOT}/backups/files", "root", 0o700),
    ],
)
def test_directory_owner_group_mode(host, path, group, mode):
    d = host.file(path)
    assert d.is_directory
    assert d.user == "root"
    assert d.group == group
    assert d.mode == mode, oct(d.mode)


@pytest.mark.parametrize("name", ["raw", "processed", "scratch"])
def test_default_acls(host, name):
    acl = host.check_output(f"getfacl --absolute-names --omit-header --no-effective {ROOT}/{name}")
    entries = set(acl.split())
    assert {
        "group:mlops-readers:r-x",
        "default:group::rwx",
        "default:group:mlops-readers:r-x",
        "default:other::---",
    } <= entries, acl


def test_new_file_is_group_writable_whatever_the_umask(host, users):
    path = f"{ROOT}/raw/alice-{uuid.uuid4().hex}.csv"
    assert as_user(host, "alice", f"echo a,b > {path}").rc == 0
    f = host.file(path)
    assert (f.user, f.group) == ("alice", "mlops-data")  # setgid: the directory's group
    assert f.mode & 0o060 == 0o060, oct(f.mode)
    appended = as_user(host, "bob", f"echo 1,2 >> {path}")
    assert appended.rc == 0, appended.stderr
    assert f.content_string == "a,b\n1,2\n"


def test_new_subdirectory_is_shared_too(host, users):
    sub = f"{ROOT}/processed/exp-{uuid.uuid4().hex}"
    assert as_user(host, "alice", f"mkdir {sub}").rc == 0
    assert host.file(sub).mode & 0o2070 == 0o2070, oct(host.file(sub).mode)
    created = as_user(host, "bob", f"echo x > {sub}/features.parquet")
    assert created.rc == 0, created.stderr


def test_non_member_can_neither_write_nor_list(host, users):
    assert as_user(host, "carol", f"touch {ROOT}/raw/carol.csv").rc != 0
    assert as_user(host, "carol", f"ls {ROOT}/processed").rc != 0
    assert not host.file(f"{ROOT}/raw/carol.csv").exists


def test_readonly_group_reads_but_cannot_write(host, users):
    path = f"{ROOT}/raw/shared-{uuid.uuid4().hex}.csv"
    assert as_user(host, "alice", f"echo data > {path}").rc == 0
    read = as_user(host, "rita", f"cat {path}")
    assert read.rc == 0, read.stderr
    assert read.stdout == "data\n"
    assert as_user(host, "rita", f"echo more >> {path}").rc != 0
    assert as_user(host, "rita", f"touch {ROOT}/raw/rita.csv").rc != 0


def test_scratch_is_sticky(host, users):
    path = f"{ROOT}/scratch/alice-{uuid.uuid4().hex}"
    assert as_user(host, "alice", f"echo tmp > {path}").rc == 0
    assert as_user(host, "bob", f"rm -f {path}").rc != 0  # only the owner removes it
    assert host.file(path).exists
    assert as_user(host, "alice", f"rm {path}").rc == 0


def test_artifacts_parent_is_root_only_writable(host, users):
    assert as_user(host, "alice", f"mkdir {ROOT}/artifacts/alice").rc != 0


def test_readme_on_the_volume(host):
    readme = host.file(f"{ROOT}/README.txt")
    assert readme.mode == 0o644
    text = readme.content_string
    for line in ("raw/", "processed/", "scratch/", "artifacts/", "backups/", "mlops-readers"):
        assert line in text
    assert "Kept for 7 days" in text
