"""The CLI's phase listing matches the playbooks in the repository."""

from __future__ import annotations

from pathlib import Path

from onprem_mlops.cli import main
from onprem_mlops.commands.phases import ALL_PHASES, PHASES, playbook_dir

ROOT = Path(__file__).resolve().parents[2]


def test_playbook_dir_is_this_checkout():
    assert playbook_dir() == ROOT / "playbooks"


def test_phases_follow_the_plan_in_order():
    assert [p.key for p in PHASES] == [
        "base",
        "assess",
        "plan",
        "software",
        "data",
        "models",
        "enablement",
        "security",
    ]
    assert len({p.playbook for p in PHASES}) == len(PHASES)
    # Beyond the 30 days, listed by `onprem-mlops phases` as phase 8.
    assert [p.key for p in ALL_PHASES[len(PHASES) :]] == ["scale-out"]
    assert ALL_PHASES[8].playbook == "phase8_scale_out.yml"


def test_phases_command_marks_existing_playbooks(capsys, tmp_path):
    (tmp_path / "phase0_base.yml").write_text("---\n")
    assert main(["phases", "--playbooks", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(ALL_PHASES)
    assert "[phase0_base.yml: ready]" in lines[0]
    assert all("not yet available" in line for line in lines[1:])


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: onprem-mlops" in capsys.readouterr().err
