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
        "path 'etc/y' is not absolute (or is /)",
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


def test_directories_are_created_in_list_order_with_their_mode(tmp_path):
    parent, child = tmp_path / "srv", tmp_path / "srv" / "state"
    wanted, problems = fm.parse(
        [{"path": str(parent), "mode": "0755", "state": "directory"},
         {"path": str(child), "mode": "2750", "state": "directory"}]
    )  # fmt: skip
    assert problems == []
    old_umask = os.umask(0o077)
    try:
        changed, missing = fm.apply(wanted, check_mode=False)
    finally:
        os.umask(old_umask)
    assert missing == []
    assert changed[str(parent)]["before"] == "absent"
    assert changed[str(child)]["after"].startswith("2750 ")
    assert mode_of(parent) == 0o755 and mode_of(child) == 0o2750
    assert fm.apply(wanted, check_mode=False) == ({}, [])


def test_directory_in_check_mode_is_reported_not_created(tmp_path):
    parent, child = tmp_path / "a", tmp_path / "a" / "b"
    wanted, _ = fm.parse(
        [{"path": str(parent), "mode": "0755", "state": "directory"},
         {"path": str(child), "mode": "0755", "state": "directory"}]
    )  # fmt: skip
    changed, _ = fm.apply(wanted, check_mode=True)
    assert set(changed) == {str(parent), str(child)}
    assert not parent.exists()


def test_directory_state_refuses_a_file_and_creates_missing_parents(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    wanted, _ = fm.parse([{"path": str(a_file), "mode": "0755", "state": "directory"}])
    with pytest.raises(fm.WrongType, match="not a directory"):
        fm.apply(wanted, check_mode=False)
    orphan = tmp_path / "no" / "such"
    wanted, _ = fm.parse([{"path": str(orphan), "mode": "0700", "state": "directory"}])
    changed, _ = fm.apply(wanted, check_mode=False)
    assert list(changed) == [str(orphan)]
    assert mode_of(tmp_path / "no") == 0o755 and mode_of(orphan) == 0o700


def test_absent_removes_files_and_links_not_directories(tmp_path):
    a_file, a_link, a_dir = tmp_path / "f", tmp_path / "l", tmp_path / "d"
    a_file.write_text("x")
    a_link.symlink_to(tmp_path / "nowhere")
    a_dir.mkdir()
    wanted, problems = fm.parse(
        [{"path": str(p), "state": "absent"} for p in (a_file, a_link, tmp_path / "gone")]
    )
    assert problems == []
    changed, missing = fm.apply(wanted, check_mode=True)
    assert set(changed) == {str(a_file), str(a_link)} and a_file.exists()
    changed, missing = fm.apply(wanted, check_mode=False)
    assert {c["after"] for c in changed.values()} == {"absent"} and missing == []
    assert not a_file.exists() and not a_link.is_symlink()
    assert fm.apply(wanted, check_mode=False) == ({}, [])
    wanted, _ = fm.parse([{"path": str(a_dir), "state": "absent"}])
    with pytest.raises(fm.WrongType, match="is a directory"):
        fm.apply(wanted, check_mode=False)


def test_parse_rejects_unknown_states_and_the_root():
    _, problems = fm.parse(
        [{"path": "/x", "mode": "0755", "state": "link"}, {"path": "/", "mode": "0755"}]
    )
    assert problems == [
        "/x: state 'link' is not one of exists, directory, absent",
        "path '/' is not absolute (or is /)",
    ]


def test_unknown_names_are_a_change_in_check_mode_and_an_error_otherwise(tmp_path):
    """In check mode the group that an earlier task would create does not exist yet."""
    existing, new = tmp_path / "existing", tmp_path / "new"
    existing.mkdir()
    wanted, _ = fm.parse(
        [{"path": str(existing), "mode": "0750", "group": "no-such-group-xyz"},
         {"path": str(new), "mode": "2770", "group": "no-such-group-xyz", "state": "directory"}]
    )  # fmt: skip
    changed, _ = fm.apply(wanted, check_mode=True)
    assert changed[str(existing)]["after"].endswith(":no-such-group-xyz")
    assert changed[str(new)] == {"before": "absent", "after": changed[str(new)]["after"]}
    assert changed[str(new)]["after"].startswith("2770 ") and not new.exists()
    with pytest.raises(KeyError):
        fm.apply(wanted, check_mode=False)
