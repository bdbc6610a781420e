"""onprem.mlops.paths_under: file_modes entries from a role's list of named directories."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.onprem.mlops.plugins.filter.paths import paths_under


def test_names_are_joined_and_defaults_filled_in_under_the_items_values():
    items = [
        {"name": "raw", "mode": "2770", "acl": True},
        {"name": "scratch", "mode": "3770", "group": "other"},
    ]
    assert paths_under(items, "/srv/mlops", state="directory", owner="root", group="data") == [
        {"path": "/srv/mlops/raw", "mode": "2770", "owner": "root", "group": "data",
         "state": "directory"},
        {"path": "/srv/mlops/scratch", "mode": "3770", "owner": "root", "group": "other",
         "state": "directory"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("items", "base", "message"),
    [
        ([{"name": "raw"}], "srv", "base 'srv' is not an absolute path"),
        ([{"name": "../etc"}], "/srv", "name '../etc' is not a path below /srv"),
        ([{"name": "/etc"}], "/srv", "name '/etc' is not a path below /srv"),
        ([{"mode": "0700"}], "/srv", "name '' is not a path below /srv"),
    ],
)
def test_bad_names_and_bases_fail_naming_them(items, base, message):
    with pytest.raises(AnsibleFilterError, match=message):
        paths_under(items, base)
