"""onprem.mlops.config_files: whole files written in one call, only when they differ."""

from __future__ import annotations

import grp
import os
import pwd
import stat

import pytest
from ansible_collections.onprem.mlops.plugins.modules import config_files as cf

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def wanted(path, content="a = 1\n", mode="0640", **extra):
    entries, problems = cf.parse(
        [
            {
                "dest": str(path),
                "content": content,
                "mode": mode,
                "owner": ME,
                "group": MY_GROUP,
                **extra,
            }
        ]
    )
    assert problems == []
    return entries


def never_called(command):
    raise AssertionError(f"validate ran: {command}")


def test_parse_names_bad_entries():
    entries, problems = cf.parse(
        [
            {"dest": "etc/x", "content": ""},
            {"dest": "/etc/y", "content": "", "mode": "rwx"},
            {"dest": "/etc/z", "content": "", "validate": "sshd -t"},
            {"dest": "/etc/w", "content": "", "validate": "check %s %s"},
            {"dest": "/etc/v", "content": "", "validate": "date +%Y %s"},
            {"dest": "/etc/ok", "content": "x"},
        ]
    )
    assert [e.dest for e in entries] == ["/etc/ok"] and entries[0].mode == 0o644
    rule = "must contain %s (the new file) once, and %% for any literal %"
    assert problems == [
        "dest 'etc/x' is not an absolute path",
        "/etc/y: mode 'rwx' is not an octal mode such as 0644",
        f"/etc/z: validate 'sshd -t' {rule}",
        f"/etc/w: validate 'check %s %s' {rule}",
        f"/etc/v: validate 'date +%Y %s' {rule}",
    ]


def test_new_file_then_nothing_to_do(tmp_path):
    dest = tmp_path / "app.conf"
    outcome = cf.apply(wanted(dest), check_mode=False, want_diff=True, run_validate=never_called)
    assert outcome.changed_files == [str(dest)]
    assert (
        outcome.diffs[0]["before_header"] == "/dev/null" and outcome.diffs[0]["after"] == "a = 1\n"
    )
    assert dest.read_text() == "a = 1\n" and stat.S_IMODE(dest.stat().st_mode) == 0o640
    again = cf.apply(wanted(dest), check_mode=False, want_diff=True, run_validate=never_called)
    assert again.changed_files == [] and again.diffs == []
    assert [p.name for p in tmp_path.iterdir()] == ["app.conf"]  # no temporary file left


def test_only_the_mode_differs(tmp_path):
    dest = tmp_path / "app.conf"
    dest.write_text("a = 1\n")
    dest.chmod(0o666)
    outcome = cf.apply(wanted(dest), check_mode=False, want_diff=True, run_validate=never_called)
    assert outcome.changed_files == [str(dest)] and outcome.diffs == []
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640


def test_check_mode_reports_and_writes_nothing(tmp_path):
    dest = tmp_path / "app.conf"
    dest.write_text("old\n")
    missing_dir = tmp_path / "not-installed-yet" / "x.conf"
    entries = wanted(dest) + wanted(missing_dir)
    outcome = cf.apply(entries, check_mode=True, want_diff=False, run_validate=never_called)
    assert outcome.changed_files == [str(dest), str(missing_dir)]
    assert dest.read_text() == "old\n" and not missing_dir.parent.exists()


def test_a_refused_file_leaves_the_old_one(tmp_path):
    dest = tmp_path / "sshd_config"
    dest.write_text("Port 22\n")
    seen = []

    def refuse(command):
        seen.append(command)
        return 1, "line 1: Bad configuration option: Prot"

    entries = wanted(dest, content="Prot 22\n", validate="/usr/sbin/sshd -t -f %s")
    with pytest.raises(cf.ValidateError, match=r"refused by '/usr/sbin/sshd -t -f %s' \(exit 1\)"):
        cf.apply(entries, check_mode=False, want_diff=False, run_validate=refuse)
    assert dest.read_text() == "Port 22\n"
    assert [p.name for p in tmp_path.iterdir()] == ["sshd_config"]
    assert seen[0].startswith("/usr/sbin/sshd -t -f ") and "/.onprem-mlops." in seen[0]


def test_validate_fills_in_the_path_like_ansible_does(tmp_path):
    """%s is the new file, %% a literal % (as in ansible.builtin.template's validate)."""
    dest = tmp_path / "site.conf"
    seen: list[str] = []
    entries = wanted(dest, content="x\n", validate='sh -c \'printf "%%s" "$1"\' check %s')
    cf.apply(entries, False, False, lambda c: (seen.append(c), (0, ""))[1])
    assert seen[0].startswith('sh -c \'printf "%s" "$1"\' check ')
    assert "/.onprem-mlops." in seen[0]


def test_a_validated_file_replaces_the_old_one(tmp_path):
    dest = tmp_path / "sshd_config"
    dest.write_text("Port 22\n")
    entries = wanted(dest, content="Port 2222\n", validate="true %s")
    cf.apply(entries, check_mode=False, want_diff=False, run_validate=lambda c: (0, ""))
    assert dest.read_text() == "Port 2222\n"


def test_missing_directory_fails_unless_parents(tmp_path):
    dest = tmp_path / "coredump.conf.d" / "90.conf"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cf.apply(wanted(dest), check_mode=False, want_diff=False, run_validate=never_called)
    cf.apply(wanted(dest, parents=True), False, False, never_called)
    assert dest.read_text() == "a = 1\n"
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o755 or os.getuid() != 0


def test_a_directory_in_the_way_is_an_error(tmp_path):
    (tmp_path / "conf").mkdir()
    with pytest.raises(IsADirectoryError):
        cf.apply(wanted(tmp_path / "conf"), False, False, never_called)


def test_an_unknown_owner_is_a_change_in_check_mode_and_an_error_otherwise(tmp_path):
    entries = wanted(tmp_path / "env", group="no-such-group-xyz")
    outcome = cf.apply(entries, check_mode=True, want_diff=False, run_validate=never_called)
    assert outcome.changed_files == [str(tmp_path / "env")]
    assert not (tmp_path / "env").exists()
    with pytest.raises(KeyError):
        cf.apply(entries, check_mode=False, want_diff=False, run_validate=never_called)
