"""onprem.mlops.file_modes: one call sets the modes of many existing files."""

from __future__ import annotations

import grp
import os
import pwd
import stat

import pytest
from ansible_collections.onprem.mlops.plugins.modules import file_modes as fm


def mode_of(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_parse_reports_relative_paths_and_bad_modes():
    wanted, problems = fm.parse(
        [{"path": "/etc/x", "mode": "0600"}, {"path": "etc/y", "mode": "0600"},
         {"path": "/etc/z", "mode": "rw-"}, {"path": "/etc/w", "mode": "17777"}]
    )  # fmt: skip
    assert wanted == [fm.Wanted("/etc/x", 0o600)]
    assert problems == [
        "path 'etc/y' is not absolute",
        "/etc/z: mode 'rw-' is not an octal mode such as 0640",
        "/etc/w: mode '17777' is not an octal mode such as 0640",
    ]


def test_apply_changes_only_what_differs(tmp_path):
    loose, tight, absent = tmp_path / "loose", tmp_path / "tight", tmp_path / "absent"
    loose.write_text("x")
    tight.write_text("x")
    loose.chmod(0o644)
    tight.chmod(0o600)
    wanted, _ = fm.parse([{"path": str(p), "mode": "0600"} for p in (loose, tight, absent)])
    changed, missing = fm.apply(wanted, check_mode=False)
    assert list(changed) == [str(loose)]
    assert changed[str(loose)]["before"].startswith("0644 ")
    assert changed[str(loose)]["after"].startswith("0600 ")
    assert missing == [str(absent)]
    assert mode_of(loose) == 0o600
    # A second run changes nothing.
    assert fm.apply(wanted, check_mode=False) == ({}, [str(absent)])


def test_check_mode_reports_and_writes_nothing(tmp_path):
    path = tmp_path / "dir"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    wanted, _ = fm.parse([{"path": str(path), "mode": "0700"}])
    changed, _ = fm.apply(wanted, check_mode=True)
    assert changed[str(path)]["after"].startswith("0700 ")
    assert mode_of(path) == 0o755


def test_symlinks_are_never_followed(tmp_path):
    target = tmp_path / "target"
    target.write_text("x")
    target.chmod(0o644)
    link = tmp_path / "link"
    link.symlink_to(target)
    wanted, _ = fm.parse([{"path": str(link), "mode": "0600"}])
    assert fm.apply(wanted, check_mode=False) == ({}, [str(link)])
    assert mode_of(target) == 0o644


def test_owner_and_group_are_set_before_the_mode(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    me, my_group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    calls: list[str] = []
    wanted = [fm.Wanted(str(path), 0o640, me, my_group)]
    path.chmod(0o640)
    # Same owner, group and mode: nothing to do.
    assert fm.apply(
        wanted, False, lambda *_: calls.append("chmod"), lambda *_: calls.append("chown")
    ) == ({}, [])
    assert calls == []
    path.chmod(0o666)
    changed, _ = fm.apply(
        wanted,
        False,
        lambda p, m: calls.append(f"chmod {m:o}"),
        lambda p, u, g: calls.append("chown"),
    )
    assert changed[str(path)] == {
        "before": f"0666 {me}:{my_group}", "after": f"0640 {me}:{my_group}"
    }  # fmt: skip
    assert calls == ["chmod 640"]  # owner already right: no chown


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's group to another needs root")
def test_chown_comes_before_chmod(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    os.chown(path, 0, 65534)
    path.chmod(0o2770)
    calls: list[str] = []
    wanted = [fm.Wanted(str(path), 0o2750, None, grp.getgrgid(0).gr_name)]
    changed, _ = fm.apply(
        wanted, False,
        lambda p, m: calls.append(f"chmod {m:o}"), lambda p, u, g: calls.append(f"chown {u} {g}"),
    )  # fmt: skip
    # chown clears the setgid bit, so the mode is set after it.
    assert calls == ["chown -1 0", "chmod 2750"]
    assert changed[str(path)]["after"].startswith("2750 ")
