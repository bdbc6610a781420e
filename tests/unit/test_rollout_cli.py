"""`onprem-mlops rollout` on bad input: a clear error, nothing run, the journal untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem_mlops.cli import main
from onprem_mlops.commands.rollout import journal_name
from onprem_mlops.rollout.journal import Journal

INVENTORY = """---
all:
  children:
    mlops_servers:
      hosts:
        srv01: {ansible_connection: local}
    ci_runners:
      hosts:
        ci01: {ansible_connection: local}
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts.yml").write_text(INVENTORY)
    return tmp_path


def rollout(site: Path, *args: str) -> int:
    return main(["rollout", *args, "-i", str(site / "inv" / "hosts.yml"),
                 "--reports-dir", str(site / "reports")])  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "bogus"], "unknown phase 'bogus': one of base, assess, plan, software"),
        (["run", "enablement"], "phase enablement has no playbook yet"),
        (
            ["run", "base", "--limit", "nosuchhost"],
            "--limit nosuchhost: nosuchhost matches no host",
        ),
        (["run", "data", "--limit", "ci01"], "--limit ci01 leaves no host that phase data targets"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(site, capsys, args, message):
    assert rollout(site, *args) == 2
    assert message in capsys.readouterr().err
    assert not (site / "reports").exists()  # no journal, no lock, no runner directory


def test_a_missing_inventory_is_named(tmp_path, capsys):
    code = main(["rollout", "status", "-i", str(tmp_path / "nope.yml"),
                 "--reports-dir", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "nope.yml does not exist (-i/--inventory)" in capsys.readouterr().err


def test_a_phase_whose_groups_the_inventory_lacks_is_refused(tmp_path, capsys):
    (tmp_path / "hosts.yml").write_text("all:\n  children:\n    ci_runners:\n      hosts:\n"
                                        "        ci01: {}\n")  # fmt: skip
    code = main(["rollout", "run", "data", "-i", str(tmp_path / "hosts.yml"),
                 "--reports-dir", str(tmp_path / "reports")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "no host of" in err and "in a group that phase data targets (mlops_servers)" in err


def test_a_run_while_another_holds_the_lock_is_refused(site, capsys):
    journal = Journal(site / "reports" / "journal", "inv-hosts")
    with journal.lock("pid 42, bob@ctl, since today, phase base"):
        assert rollout(site, "run", "base") == 3
    err = capsys.readouterr().err
    assert "another rollout run on this inventory is in progress (pid 42, bob@ctl" in err
    assert not journal.path.exists()


def test_status_lists_phases_and_hosts_and_says_what_is_next(site, capsys):
    assert rollout(site, "status") == 0
    out = capsys.readouterr().out
    assert "srv01" in out and "ci01" in out
    lines = {line.split()[1]: line for line in out.splitlines() if line[:6].strip()[:1].isdigit()}
    assert "pending" in lines["base"] and "planned" in lines["enablement"]
    assert lines["data"].split()[2:] == ["pending", "-"]  # ci01 is not a data host
    assert "Next: onprem-mlops rollout run base" in out


def test_journal_names_follow_the_inventory(tmp_path):
    assert journal_name(Path("/x/inventories/mysite/hosts.yml")) == "mysite-hosts"
    (tmp_path / "acme prod").mkdir()
    assert journal_name(tmp_path / "acme prod") == "acme-prod"


TRIVIAL = """---
- name: "Day 0: a stand-in for the baseline"
  hosts: all
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello

- name: The control node's part (phase 7's acceptance runs like this)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Work on the control node
      ansible.builtin.debug:
        msg: here
"""


def test_a_real_run_through_ansible_runner_is_journaled(site, tmp_path, capsys):
    """The whole run path on this machine (connection local), with a stand-in playbook."""
    playbooks = tmp_path / "pb"
    playbooks.mkdir()
    (playbooks / "phase0_base.yml").write_text(TRIVIAL)
    code = main(["rollout", "run", "base", "--plain", "--limit", "srv01",
                 "-i", str(site / "inv" / "hosts.yml"), "--reports-dir", str(site / "reports"),
                 "--playbooks", str(playbooks)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "base: Say hello" in out and "srv01" in out
    assert "base: Work on the control node" in out  # --limit does not leave localhost out
    start, result = Journal(site / "reports" / "journal", "inv-hosts").read()[0]
    assert start["hosts"] == ["srv01"] and result["result"] == "done"
    assert result["recap"]["ok"] == 1 and result["reboot_required"] in (True, False)
    # Nothing ansible-runner was given (passwords included) stays behind in env/.
    assert not (site / "reports" / "runner" / "inv-hosts" / "env").exists()
    assert (Path(result["artifacts"]) / "rc").read_text().strip() == "0"


def test_artifacts_of_the_last_n_runs_are_kept(site, tmp_path, capsys):
    playbooks = tmp_path / "pb"
    playbooks.mkdir()
    (playbooks / "phase0_base.yml").write_text(TRIVIAL)
    for _ in range(3):
        code = main(["rollout", "run", "base", "--plain", "--keep-artifacts", "2",
                     "-i", str(site / "inv" / "hosts.yml"), "--reports-dir", str(site / "reports"),
                     "--playbooks", str(playbooks)])  # fmt: skip
        assert code == 0, capsys.readouterr().out
    artifacts = site / "reports" / "runner" / "inv-hosts" / "artifacts"
    runs = [e["run"] for e in Journal(site / "reports" / "journal", "inv-hosts").read()[0]
            if e["event"] == "start"]  # fmt: skip
    assert len(runs) == 3
    assert sorted(p.name for p in artifacts.iterdir()) == sorted(runs[1:])


def test_stop_workers_ends_ansible_workers_in_their_own_sessions(tmp_path):
    """Ansible's workers call setsid, so ansible-runner's kill of the process group misses
    them; after a cancellation the runner ends every ansible-playbook process naming the run's
    private directory, and no other."""
    import subprocess
    import sys
    import time

    from onprem_mlops.rollout import runner

    private = tmp_path / "runner"
    private.mkdir()
    fake = tmp_path / "ansible-playbook"  # argv[1], as with the real one
    fake.write_text(
        "import pathlib, signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "pathlib.Path(sys.argv[-1]).touch()\ntime.sleep(60)\n"
    )
    ours = subprocess.Popen(
        [sys.executable, str(fake), "-e", f"@{private}/env/extravars", str(tmp_path / "ours")],
        start_new_session=True,
    )
    other = subprocess.Popen(
        [sys.executable, str(fake), "-e", "@/elsewhere/env/extravars", str(tmp_path / "other")],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "ours").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # until it ignores SIGTERM
        assert runner._workers(private) == [ours.pid]
        runner.stop_workers(private, grace_s=0.5)  # it ignores SIGTERM: SIGKILL after 0.5 s
        assert ours.wait(timeout=5) == -9
        assert other.poll() is None
    finally:
        for process in (ours, other):
            process.kill()
            process.wait()
