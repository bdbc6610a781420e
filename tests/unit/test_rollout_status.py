"""The status table from the journal, staleness, predecessors, the gates."""

from __future__ import annotations

import json
import time

from onprem_mlops.rollout.gates import RunOutcome, judge
from onprem_mlops.rollout.status import build_table, missing_predecessor, next_phase

HOSTS = ["srv", "gpu"]
PRINTS = {"base": "p-base", "assess": "p-assess", "plan": "p-plan", "software": "p-sw"}
TARGETS = {"base": HOSTS, "assess": HOSTS, "plan": HOSTS, "software": HOSTS, "data": ["srv"]}


def start(run, phase, hosts=HOSTS, when="2026-12-01T10:00:00+00:00"):
    return {"event": "start", "run": run, "phase": phase, "hosts": list(hosts), "start": when}


def res(run, phase, host, result="done", *, end="2026-12-01T10:05:00+00:00", check=False,
        inv="i1", forced=False, reason="", reboot=False):  # fmt: skip
    return {"event": "result", "run": run, "phase": phase, "host": host, "result": result,
            "end": end, "check": check, "inventory_hash": inv, "phase_hash": PRINTS.get(phase),
            "forced": forced, "reason": reason, "reboot_required": reboot}  # fmt: skip


def table(entries, inv="i1", running=False, prints=PRINTS):
    built = build_table("site", HOSTS, entries, prints, inv, running=running)
    built.targets = TARGETS
    return built


def test_an_empty_journal_is_pending_everywhere_and_base_is_next():
    t = table([])
    assert t.cell("base", "srv").state == "pending"
    assert next_phase(t, TARGETS) == "base"


def test_done_failed_and_the_date_the_gate_passed():
    t = table([
        start("r1", "base"), res("r1", "base", "srv"), res("r1", "base", "gpu", "failed",
                                                          reason="apt: no mirror"),
    ])  # fmt: skip
    assert t.cell("base", "srv").state == "done"
    assert t.cell("base", "srv").passed_at == "2026-12-01T10:05:00+00:00"
    assert t.cell("base", "gpu").state == "failed"
    assert t.cell("base", "gpu").reason == "apt: no mirror"
    assert t.phase_state("base") == "failed"
    assert next_phase(t, TARGETS) == "base"


def test_a_later_failure_keeps_the_date_of_the_last_pass():
    t = table([
        start("r1", "base"), res("r1", "base", "srv"),
        start("r2", "base"), res("r2", "base", "srv", "failed", end="2026-12-02T09:00:00+00:00"),
    ])  # fmt: skip
    cell = t.cell("base", "srv")
    assert cell.state == "failed" and cell.passed_at == "2026-12-01T10:05:00+00:00"


def test_check_runs_never_pass_a_gate_nor_undo_one():
    t = table([
        start("r1", "base"), res("r1", "base", "srv", "check", check=True),
        start("r2", "assess"), res("r2", "assess", "srv"),
        start("r3", "assess"), res("r3", "assess", "srv", "failed", check=True),
    ])  # fmt: skip
    assert t.cell("base", "srv").state == "check"
    assert t.cell("assess", "srv").state == "done"


def test_a_changed_inventory_or_phase_makes_a_pass_stale():
    entries = [start("r1", "base"), res("r1", "base", "srv"), res("r1", "base", "gpu")]
    assert table(entries).cell("base", "srv").state == "done"
    stale = table(entries, inv="i2").cell("base", "srv")
    assert stale.state == "stale" and "the inventory changed" in stale.reason
    stale = table(entries, prints={**PRINTS, "base": "new"}).cell("base", "gpu")
    assert stale.state == "stale" and "playbooks or roles" in stale.reason
    # A stale pass still lets the next phase run (the admin decides when to rerun it).
    assert missing_predecessor(table(entries, inv="i2"), "assess", "srv", TARGETS) is None


def test_a_start_without_results_is_interrupted_or_running():
    entries = [start("r1", "base", hosts=["srv"])]
    assert table(entries).cell("base", "srv").state == "interrupted"
    assert "killed or crashed" in table(entries).cell("base", "srv").reason
    assert table(entries, running=True).cell("base", "srv").state == "running"


def test_the_predecessor_is_the_nearest_earlier_phase_that_targets_the_host():
    t = table([start("r1", "base"), res("r1", "base", "srv"), res("r1", "base", "gpu")])
    assert missing_predecessor(t, "assess", "srv", TARGETS) is None
    assert missing_predecessor(t, "software", "srv", TARGETS) == "plan"
    assert missing_predecessor(t, "base", "srv", TARGETS) is None
    # enablement has no playbook (no targets): security's predecessor on srv is models,
    # on gpu (not in data/models here) it is software.
    targets = {**TARGETS, "models": ["srv"], "security": HOSTS}
    assert missing_predecessor(t, "security", "srv", targets) == "models"
    assert missing_predecessor(t, "security", "gpu", targets) == "software"


def test_forced_and_reboot_are_kept_on_the_cell():
    t = table([start("r1", "base"), res("r1", "base", "srv", forced=True, reboot=True)])
    assert t.cell("base", "srv").forced and t.cell("base", "srv").reboot_required


def outcome(**changes) -> RunOutcome:
    values = dict(status="successful", rc=0, stats={"ok": {"srv": 5}, "changed": {"srv": 1}},
                  started=time.time() - 5, check=False, failures={})  # fmt: skip
    values.update(changes)
    return RunOutcome(**values)


def test_gate_of_a_clean_run_passes(tmp_path):
    assert judge("base", ["srv"], outcome(), tmp_path) == {"srv": ("done", "")}


def test_gate_fails_on_a_failed_task_an_unreachable_host_or_the_control_node(tmp_path):
    failed = outcome(status="failed", rc=2, stats={"ok": {"srv": 3}, "failures": {"srv": 1}},
                     failures={"srv": "Install: no package"})  # fmt: skip
    assert judge("base", ["srv"], failed, tmp_path) == {"srv": ("failed", "Install: no package")}
    dark = outcome(status="failed", rc=4, stats={"dark": {"srv": 1}})
    assert judge("base", ["srv"], dark, tmp_path)["srv"][0] == "failed"
    local = outcome(status="failed", rc=2, failures={"localhost": "acceptance: 2 failed"})
    assert judge("security", ["srv"], local, tmp_path)["srv"] == (
        "failed", "failed on localhost: acceptance: 2 failed")  # fmt: skip
    unreached = outcome(stats={"ok": {"other": 1}})
    assert judge("base", ["srv"], unreached, tmp_path)["srv"] == (
        "failed", "the playbook did not reach this host")  # fmt: skip


def test_a_canceled_run_is_interrupted_and_a_check_run_is_check(tmp_path):
    assert judge("base", ["srv"], outcome(status="canceled"), tmp_path)["srv"][0] == "interrupted"
    assert judge("base", ["srv"], outcome(check=True), tmp_path)["srv"] == (
        "check", "check mode: 1 task(s) would change")  # fmt: skip


def test_assess_and_plan_gate_on_fresh_parseable_files(tmp_path):
    run = outcome()
    assert "no assessment written by this run" in judge("assess", ["srv"], run, tmp_path)["srv"][1]
    (tmp_path / "assessment").mkdir()
    (tmp_path / "assessment" / "srv.json").write_text("{broken")
    assert "does not parse" in judge("assess", ["srv"], run, tmp_path)["srv"][1]
    (tmp_path / "assessment" / "srv.json").write_text(json.dumps({"findings": []}))
    assert judge("assess", ["srv"], run, tmp_path)["srv"] == ("done", "")
    (tmp_path / "plan").mkdir()
    plan = {"hosts": {"srv": {"status": "fail"}}}
    (tmp_path / "plan" / "capacity-plan.json").write_text(json.dumps(plan))
    verdict = judge("plan", ["srv"], run, tmp_path)["srv"]
    assert verdict == ("done", "capacity plan: fail (see plan/capacity-plan.md)")
    gpu_run = outcome(stats={"ok": {"gpu": 1}})
    assert judge("plan", ["gpu"], gpu_run, tmp_path)["gpu"] == (
        "failed", f"{tmp_path / 'plan' / 'capacity-plan.json'} does not name gpu")  # fmt: skip
    old = outcome(started=time.time() + 60)  # files older than the run do not count
    assert judge("plan", ["srv"], old, tmp_path)["srv"][0] == "failed"


def test_security_gates_on_the_acceptance_result(tmp_path):
    (tmp_path / "security").mkdir()
    xml = tmp_path / "security" / "acceptance.xml"
    xml.write_text('<testsuites><testsuite tests="20" failures="1" errors="0"/></testsuites>')
    verdict = judge("security", ["srv"], outcome(), tmp_path)["srv"]
    assert verdict[0] == "failed" and "1 test(s) failed" in verdict[1]
    xml.write_text('<testsuites><testsuite tests="20" failures="0" errors="0"/></testsuites>')
    assert judge("security", ["srv"], outcome(), tmp_path)["srv"] == ("done", "")
