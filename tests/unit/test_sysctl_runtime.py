"""Module onprem.mlops.sysctl_runtime against fake /proc trees (nothing is mounted for real)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.onprem.mlops.plugins.modules import sysctl_runtime as sr

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"


def make_tree(root: Path, values: dict[str, str]) -> Path:
    """<root>/sys/<key as path> holding '<value>\\n', as procfs shows it."""
    for key, value in values.items():
        path = root / "sys" / Path(*key.split("."))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")
    return root


def content(root: Path, key: str) -> str:
    return (root / "sys" / Path(*key.split("."))).read_text()


@pytest.fixture
def proc(tmp_path):
    return make_tree(
        tmp_path / "proc",
        {
            "kernel.kptr_restrict": "0",
            "net.ipv4.conf.all.rp_filter": "2",
            "net.ipv4.ip_local_port_range": "32768\t60999",
            "net.ipv4.ip_forward": "1",
        },
    )


def params(proc_root: Path, values: dict, **extra) -> dict:
    return {
        "values": values,
        "scope": "all",
        "fail_on_missing": False,
        "proc_root": str(proc_root),
        **extra,
    }


def erofs_for(root: Path):
    """A writer that fails with EROFS below ``root``, like a read-only /proc/sys."""

    def write(path: Path, text: str) -> None:
        if Path(path).is_relative_to(root):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        sr.write_value(path, text)

    return write


class FakeProcMount:
    """mount/umount stand-ins: mounting fills the directory with a fresh sys/net tree."""

    def __init__(self, values: dict[str, str], fail_mount: bool = False) -> None:
        self.values = values
        self.fail_mount = fail_mount
        self.calls: list[tuple[str, str]] = []
        self.seen: dict[str, str] = {}

    def mount(self, path: str) -> None:
        self.calls.append(("mount", path))
        if self.fail_mount:
            raise OSError("mount -t proc proc: permission denied")
        make_tree(Path(path), self.values)

    def umount(self, path: str) -> None:
        self.calls.append(("umount", path))
        for key in self.values:
            self.seen[key] = content(Path(path), key)
        for child in sorted(Path(path).rglob("*"), reverse=True):
            if child.is_dir():
                child.rmdir()
            else:
                child.unlink()

    def private(self, parent: Path):
        parent.mkdir(exist_ok=True)
        return lambda: sr.private_proc(self.mount, self.umount, parent=str(parent))


# ----------------------------------------------------------------- reading


def test_key_path_and_read_value(proc):
    assert sr.key_path("/proc", "net.ipv4.ip_forward") == Path("/proc/sys/net/ipv4/ip_forward")
    assert sr.read_value(proc, "net.ipv4.ip_local_port_range") == "32768 60999"
    assert sr.read_value(proc, "kernel.kptr_restrict") == "0"
    assert sr.read_value(proc, "kernel.no_such_key") is None
    # A part of the name that is a file, not a directory: also not on this kernel.
    assert sr.read_value(proc, "kernel.kptr_restrict.deeper") is None


def test_read_value_of_a_directory_raises(proc):
    with pytest.raises(IsADirectoryError):
        sr.read_value(proc, "net.ipv4")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("1", "1"), (1, "1"), ("32768\t60999\n", "32768 60999"), ("  4  4 1   7 ", "4 4 1 7")],
)
def test_normalise(raw, normal):
    assert sr.normalise(raw) == normal


@pytest.mark.parametrize(
    "key",
    ["net/ipv4/ip_forward", "net..ipv4", ".net", "net.", "kernel.kptr restrict", "", 5],
)
def test_validate_rejects_bad_keys(key):
    (error,) = sr.validate({key: 1})
    assert "is not a sysctl name" in error


@pytest.mark.parametrize("value", [True, None, 1.5, [1, 2], {"a": 1}])
def test_validate_rejects_bad_values(value):
    (error,) = sr.validate({"net.ipv4.ip_forward": value})
    assert error.startswith("net.ipv4.ip_forward: value")
    assert ("not a boolean" in error) == isinstance(value, bool)


def test_validate_accepts_str_and_int():
    assert sr.validate({"net.ipv4.ip_forward": 1, "kernel.printk": "4 4 1 7"}) == []


# ----------------------------------------------------------------- plan


def test_plan_equal_different_and_multivalue(proc):
    found = sr.plan(
        {
            "kernel.kptr_restrict": 2,
            "net.ipv4.conf.all.rp_filter": "2",
            "net.ipv4.ip_local_port_range": "32768   60999",
        },
        proc,
        read_only=lambda _: False,
    )
    assert sorted(found.unchanged) == [
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.ip_local_port_range",
    ]
    assert found.changes == {"kernel.kptr_restrict": sr.Change("0", "2", "2\n", False)}
    assert found.errors == [] and found.missing == [] and found.skipped == {}


def test_plan_reports_missing_sorted(proc):
    found = sr.plan({"net.ipv4.zzz": 1, "kernel.aaa": 1}, proc, read_only=lambda _: False)
    assert found.missing == ["kernel.aaa", "net.ipv4.zzz"]
    assert found.errors == []


def test_plan_scope_network_skips_kernel_keys(proc):
    found = sr.plan(
        {"kernel.kptr_restrict": 2, "vm.swappiness": 10, "net.ipv4.conf.all.rp_filter": 1},
        proc,
        scope="network",
        read_only=lambda _: False,
    )
    assert set(found.skipped) == {"kernel.kptr_restrict", "vm.swappiness"}
    assert all("network namespace" in reason for reason in found.skipped.values())
    # vm.swappiness is not in the fake tree, but skipped keys are not looked up.
    assert found.missing == []
    assert list(found.changes) == ["net.ipv4.conf.all.rp_filter"]


def test_plan_directory_is_an_error(proc):
    found = sr.plan({"net.ipv4": 1}, proc, read_only=lambda _: False)
    assert found.errors == [
        f"net.ipv4: cannot read {proc}/sys/net/ipv4: it is a group of parameters, not a parameter"
    ]


def test_plan_scope_all_read_only_is_an_error(proc):
    found = sr.plan(
        {"kernel.kptr_restrict": 2, "net.ipv4.conf.all.rp_filter": 1, "net.ipv4.ip_forward": 1},
        proc,
        read_only=lambda _: True,
    )
    (error,) = found.errors
    assert "kernel parameters are read-only here" in error
    assert "kernel.kptr_restrict, net.ipv4.conf.all.rp_filter" in error
    assert "net.ipv4.ip_forward" not in error  # already right: nothing to write
    assert "scope: network" in error


def test_is_read_only_on_a_writable_filesystem(tmp_path):
    assert sr.is_read_only(tmp_path) is False


# ----------------------------------------------------------------- run (module logic)


def test_run_writes_changed_values(proc):
    result, warnings, errors = sr.run(
        params(
            proc,
            {
                "kernel.kptr_restrict": 2,
                "net.ipv4.ip_forward": "1",
                "net.ipv4.ip_local_port_range": "1024 65000",
            },
        )
    )
    assert (warnings, errors) == ([], [])
    assert result == {
        "changed": True,
        "changed_keys": {
            "kernel.kptr_restrict": {"before": "0", "after": "2"},
            "net.ipv4.ip_local_port_range": {"before": "32768 60999", "after": "1024 65000"},
        },
        "skipped_keys": {},
        "missing": [],
    }
    assert content(proc, "kernel.kptr_restrict") == "2\n"
    assert content(proc, "net.ipv4.ip_local_port_range") == "1024 65000\n"
    assert content(proc, "net.ipv4.ip_forward") == "1\n"
    # Second run: nothing to do.
    again, _, _ = sr.run(params(proc, {"kernel.kptr_restrict": 2, "net.ipv4.ip_forward": 1}))
    assert again["changed"] is False
    assert again["changed_keys"] == {}


def test_run_check_mode_writes_nothing(proc):
    before = {k: content(proc, k) for k in ("kernel.kptr_restrict", "net.ipv4.ip_forward")}
    result, _, errors = sr.run(
        params(proc, {"kernel.kptr_restrict": 1, "net.ipv4.ip_forward": 0}),
        check_mode=True,
        diff=True,
        write=lambda path, text: pytest.fail(f"wrote {path} in check mode"),
    )
    assert errors == []
    assert result["changed"] is True
    assert result["changed_keys"] == {
        "kernel.kptr_restrict": {"before": "0", "after": "1"},
        "net.ipv4.ip_forward": {"before": "1", "after": "0"},
    }
    assert result["diff"] == {
        "before": "kernel.kptr_restrict = 0\nnet.ipv4.ip_forward = 1\n",
        "after": "kernel.kptr_restrict = 1\nnet.ipv4.ip_forward = 0\n",
    }
    assert {k: content(proc, k) for k in before} == before


def test_run_diff_only_for_changed_keys(proc):
    result, _, _ = sr.run(
        params(proc, {"net.ipv4.ip_forward": 1, "net.ipv4.conf.all.rp_filter": 1}), diff=True
    )
    assert result["diff"] == {
        "before": "net.ipv4.conf.all.rp_filter = 2\n",
        "after": "net.ipv4.conf.all.rp_filter = 1\n",
    }
    unchanged, _, _ = sr.run(params(proc, {"net.ipv4.ip_forward": 1}), diff=True)
    assert unchanged["diff"] == {"before": "", "after": ""}
    assert "diff" not in sr.run(params(proc, {"net.ipv4.ip_forward": 1}))[0]


def test_run_missing_is_reported(proc):
    result, _, errors = sr.run(params(proc, {"net.ipv4.tcp_nope": 1, "net.ipv4.ip_forward": 0}))
    assert errors == []
    assert result["missing"] == ["net.ipv4.tcp_nope"]
    assert result["changed_keys"] == {"net.ipv4.ip_forward": {"before": "1", "after": "0"}}


def test_run_fail_on_missing_names_keys_and_writes_nothing(proc):
    result, _, errors = sr.run(
        params(
            proc,
            {"net.ipv4.tcp_nope": 1, "kernel.gone": 1, "net.ipv4.ip_forward": 0},
            fail_on_missing=True,
        )
    )
    assert errors == [
        "kernel parameters missing on this kernel (fail_on_missing): kernel.gone, net.ipv4.tcp_nope"
    ]
    assert result["changed"] is False
    assert result["missing"] == ["kernel.gone", "net.ipv4.tcp_nope"]
    assert content(proc, "net.ipv4.ip_forward") == "1\n"


def test_run_invalid_input_writes_nothing(proc):
    result, _, errors = sr.run(params(proc, {"net.ipv4.ip_forward": 0, "kernel/x": 1}))
    assert len(errors) == 1 and "'kernel/x' is not a sysctl name" in errors[0]
    assert result["changed"] is False
    assert content(proc, "net.ipv4.ip_forward") == "1\n"


def test_run_scope_network(proc):
    result, _, errors = sr.run(
        params(proc, {"kernel.kptr_restrict": 2, "net.ipv4.conf.all.rp_filter": 1}, scope="network")
    )
    assert errors == []
    assert list(result["skipped_keys"]) == ["kernel.kptr_restrict"]
    assert list(result["changed_keys"]) == ["net.ipv4.conf.all.rp_filter"]
    assert content(proc, "kernel.kptr_restrict") == "0\n"
    assert content(proc, "net.ipv4.conf.all.rp_filter") == "1\n"


def test_run_scope_all_read_only_fails_with_message(proc):
    result, _, errors = sr.run(
        params(proc, {"kernel.kptr_restrict": 2, "net.ipv4.conf.all.rp_filter": 1}),
        read_only=lambda _: True,
        write=lambda path, text: pytest.fail("must not write"),
    )
    (error,) = errors
    assert error.startswith("kernel parameters are read-only here")
    assert "scope: network" in error
    assert result["changed"] is False


def test_run_scope_all_read_only_nothing_to_change_succeeds(proc):
    result, _, errors = sr.run(params(proc, {"kernel.kptr_restrict": 0}), read_only=lambda _: True)
    assert errors == []
    assert result["changed"] is False


def test_run_scope_all_erofs_on_write_fails_with_message(proc):
    # statvfs said writable, the write said EROFS: still the read-only message.
    result, _, errors = sr.run(
        params(proc, {"kernel.kptr_restrict": 2}),
        read_only=lambda _: False,
        write=erofs_for(proc),
    )
    (error,) = errors
    assert "kernel parameters are read-only here" in error
    assert "cannot set kernel.kptr_restrict" in error
    assert result["changed"] is False


def test_run_reports_write_errors_and_writes_the_rest(proc):
    def write(path, text):
        if path.name == "rp_filter":
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), str(path))
        sr.write_value(path, text)

    result, _, errors = sr.run(
        params(proc, {"net.ipv4.conf.all.rp_filter": 7, "net.ipv4.ip_forward": 0}), write=write
    )
    assert errors == [
        "net.ipv4.conf.all.rp_filter: writing '7' failed: Invalid argument "
        "(the kernel rejects this value)"
    ]
    assert result["changed_keys"] == {"net.ipv4.ip_forward": {"before": "1", "after": "0"}}
    assert result["changed"] is True


def test_run_warns_when_the_kernel_keeps_another_value(proc):
    def clamping(path, text):
        sr.write_value(path, "65535\n")

    result, warnings, errors = sr.run(params(proc, {"net.ipv4.ip_forward": 100000}), write=clamping)
    assert errors == []
    assert result["changed_keys"] == {"net.ipv4.ip_forward": {"before": "1", "after": "65535"}}
    (warning,) = warnings
    assert "wrote '100000' but the kernel reports '65535'" in warning


# ----------------------------------------------------------------- read-only /proc/sys


def test_private_mount_used_for_read_only_sys_in_scope_network(proc, tmp_path):
    fake = FakeProcMount({"net.ipv4.conf.all.rp_filter": "2", "net.ipv4.ip_forward": "1"})
    result, warnings, errors = sr.run(
        params(
            proc,
            {"kernel.kptr_restrict": 2, "net.ipv4.conf.all.rp_filter": 1, "net.ipv4.ip_forward": 1},
            scope="network",
        ),
        diff=True,
        read_only=lambda _: True,
        write=erofs_for(proc),
        private=fake.private(tmp_path / "mnt"),
    )
    assert (warnings, errors) == ([], [])
    assert result["changed_keys"] == {"net.ipv4.conf.all.rp_filter": {"before": "2", "after": "1"}}
    assert result["skipped_keys"] == {"kernel.kptr_restrict": sr.SKIP_REASON}
    assert result["diff"]["after"] == "net.ipv4.conf.all.rp_filter = 1\n"
    # Written inside the private mount, which was unmounted and removed.
    assert fake.seen["net.ipv4.conf.all.rp_filter"] == "1\n"
    (mount, point), (umount, point2) = fake.calls
    assert (mount, umount) == ("mount", "umount") and point == point2
    assert not Path(point).exists()
    assert list((tmp_path / "mnt").iterdir()) == []
    assert content(proc, "net.ipv4.conf.all.rp_filter") == "2\n"


def test_erofs_on_direct_write_falls_back_to_private_mount(proc, tmp_path):
    fake = FakeProcMount({"net.ipv4.ip_forward": "1"})
    result, _, errors = sr.run(
        params(proc, {"net.ipv4.ip_forward": 0}, scope="network"),
        read_only=lambda _: False,
        write=erofs_for(proc),
        private=fake.private(tmp_path / "mnt"),
    )
    assert errors == []
    assert result["changed_keys"] == {"net.ipv4.ip_forward": {"before": "1", "after": "0"}}
    assert [c[0] for c in fake.calls] == ["mount", "umount"]
    assert fake.seen["net.ipv4.ip_forward"] == "0\n"


def test_private_mount_unmounts_when_a_write_fails(proc, tmp_path):
    fake = FakeProcMount({"net.ipv4.ip_forward": "1"})

    def failing(path, text):
        raise OSError(errno.EROFS if Path(path).is_relative_to(proc) else errno.EINVAL, "boom")

    result, _, errors = sr.run(
        params(proc, {"net.ipv4.ip_forward": 0}, scope="network"),
        read_only=lambda _: True,
        write=failing,
        private=fake.private(tmp_path / "mnt"),
    )
    assert errors == [
        "net.ipv4.ip_forward: writing '0' failed: boom (the kernel rejects this value)"
    ]
    assert result["changed"] is False
    assert [c[0] for c in fake.calls] == ["mount", "umount"]
    assert list((tmp_path / "mnt").iterdir()) == []


def test_private_mount_failure_is_reported_and_cleaned_up(proc, tmp_path):
    fake = FakeProcMount({}, fail_mount=True)
    result, _, errors = sr.run(
        params(proc, {"net.ipv4.ip_forward": 0}, scope="network"),
        read_only=lambda _: True,
        private=fake.private(tmp_path / "mnt"),
    )
    (error,) = errors
    assert error.startswith("writing net.ipv4.ip_forward through a private procfs mount failed")
    assert "CAP_SYS_ADMIN" in error
    assert [c[0] for c in fake.calls] == ["mount"]
    assert list((tmp_path / "mnt").iterdir()) == []
    assert result["changed"] is False


def test_private_proc_unmounts_on_error_in_body(tmp_path):
    fake = FakeProcMount({"net.ipv4.ip_forward": "1"})
    with (
        pytest.raises(RuntimeError, match="inside"),
        sr.private_proc(fake.mount, fake.umount, parent=str(tmp_path)) as root,
    ):
        assert sr.read_value(root, "net.ipv4.ip_forward") == "1"
        raise RuntimeError("inside")
    assert [c[0] for c in fake.calls] == ["mount", "umount"]
    assert list(tmp_path.iterdir()) == []


def test_private_proc_keeps_the_mount_point_when_umount_fails(tmp_path):
    def umount(path):
        raise OSError("umount: target is busy")

    with (
        pytest.raises(OSError, match="busy"),
        sr.private_proc(lambda path: None, umount, parent=str(tmp_path)),
    ):
        pass
    assert len(list(tmp_path.iterdir())) == 1  # still mounted: cannot be removed


def test_check_mode_read_only_network_mounts_nothing(proc, tmp_path):
    fake = FakeProcMount({"net.ipv4.ip_forward": "1"})
    result, _, errors = sr.run(
        params(proc, {"net.ipv4.ip_forward": 0}, scope="network"),
        check_mode=True,
        read_only=lambda _: True,
        private=fake.private(tmp_path / "mnt"),
    )
    assert errors == []
    assert result["changed_keys"] == {"net.ipv4.ip_forward": {"before": "1", "after": "0"}}
    assert fake.calls == []


# ----------------------------------------------------------------- the module itself


def run_main(args: dict, capsys) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        sr.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exited.value.code
    return result


def test_main_in_process(proc, capsys):
    result = run_main(
        {
            "values": {"net.ipv4.ip_forward": 0, "kernel.kptr_restrict": "0"},
            "proc_root": str(proc),
            "_ansible_diff": True,
        },
        capsys,
    )
    assert result["rc"] == 0
    assert result["changed"] is True
    assert result["changed_keys"] == {"net.ipv4.ip_forward": {"before": "1", "after": "0"}}
    assert result["diff"]["after"] == "net.ipv4.ip_forward = 0\n"
    assert content(proc, "net.ipv4.ip_forward") == "0\n"


def test_main_in_process_check_mode_and_failure(proc, capsys):
    checked = run_main(
        {"values": {"net.ipv4.ip_forward": 0}, "proc_root": str(proc), "_ansible_check_mode": True},
        capsys,
    )
    assert checked["changed"] is True
    assert content(proc, "net.ipv4.ip_forward") == "1\n"
    failed = run_main(
        {"values": {"net.nope": 1}, "proc_root": str(proc), "fail_on_missing": True}, capsys
    )
    assert failed["rc"] == 1
    assert failed["failed"] is True
    assert failed["msg"] == "kernel parameters missing on this kernel (fail_on_missing): net.nope"
    assert failed["missing"] == ["net.nope"]


def test_module_as_a_subprocess(proc, tmp_path):
    args = tmp_path / "args.json"
    args.write_text(
        json.dumps(
            {
                "ANSIBLE_MODULE_ARGS": {
                    "values": {"kernel.kptr_restrict": 2, "net.ipv4.ip_forward": 0},
                    "scope": "network",
                    "proc_root": str(proc),
                }
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(COLLECTIONS), *sys.path])}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ansible_collections.onprem.mlops.plugins.modules.sysctl_runtime",
            str(args),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["changed"] is True
    assert result["changed_keys"] == {"net.ipv4.ip_forward": {"before": "1", "after": "0"}}
    assert result["skipped_keys"] == {"kernel.kptr_restrict": sr.SKIP_REASON}
    assert result["missing"] == []
    assert content(proc, "net.ipv4.ip_forward") == "0\n"
    assert content(proc, "kernel.kptr_restrict") == "0\n"


@pytest.mark.skipif(not Path("/proc/sys/kernel/ostype").is_file(), reason="needs Linux procfs")
def test_real_proc_check_mode():
    result, _, errors = sr.run(
        params(Path("/proc"), {"kernel.ostype": "Linux", "kernel.no_such_parameter": 1}),
        check_mode=True,
        write=lambda path, text: pytest.fail("check mode wrote"),
    )
    assert errors == []
    assert result["changed"] is False
    assert result["missing"] == ["kernel.no_such_parameter"]


def test_result_never_uses_ansibles_reserved_skipped_key(tmp_path):
    """A result with a truthy `skipped` makes Ansible show the task as skipped."""
    source = (Path(sr.__file__)).read_text()
    assert '"skipped":' not in source


def test_forwarding_is_written_before_the_parameters_it_resets(tmp_path):
    """Turning forwarding off makes the kernel turn accept_redirects on (inet_forward_change)."""
    conf = tmp_path / "sys" / "net" / "ipv4" / "conf" / "all"
    conf.mkdir(parents=True)
    (conf / "forwarding").write_text("1\n")
    (conf / "accept_redirects").write_text("0\n")
    order: list[str] = []

    def kernel_write(path: Path, text: str) -> None:
        order.append(path.name)
        path.write_text(text)
        if path.name == "forwarding":  # what the kernel does
            (path.parent / "accept_redirects").write_text("1\n" if text.strip() == "0" else "0\n")

    params = {
        "values": {"net.ipv4.conf.all.accept_redirects": 0, "net.ipv4.conf.all.forwarding": 0},
        "scope": "all",
        "fail_on_missing": False,
        "proc_root": str(tmp_path),
    }
    result, _, errors = sr.run(params, write=kernel_write, read_only=lambda _p: False)
    assert errors == []
    assert order == ["forwarding", "accept_redirects"]
    assert (conf / "accept_redirects").read_text() == "0\n"
    assert set(result["changed_keys"]) == {
        "net.ipv4.conf.all.forwarding",
        "net.ipv4.conf.all.accept_redirects",
    }
    # The next run finds nothing to do.
    again, _, _ = sr.run(params, write=kernel_write, read_only=lambda _p: False)
    assert again["changed"] is False
