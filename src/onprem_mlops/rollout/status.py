"""The status table (phases x hosts) from the journal, and which hosts may run a phase."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from onprem_mlops.commands.phases import PHASES, Phase
from onprem_mlops.rollout.model import Cell, StatusTable

PASSED = ("done", "stale")


def build_table(
    inventory: str,
    hosts: list[str],
    entries: list[dict[str, Any]],
    fingerprints: dict[str, str],
    inventory_hash: str,
    *,
    running: bool = False,
    problems: list[str] | None = None,
    phases: tuple[Phase, ...] = PHASES,
) -> StatusTable:
    """Replay the journal in order. ``fingerprints``: the current phase fingerprints;
    ``running``: a run holds the lock now (its open start reads as running, not interrupted).
    """
    table = StatusTable(inventory, hosts, phases, problems=list(problems or []))
    open_runs: dict[str, dict[str, Any]] = {}
    # The last passing result per (phase, host), to judge staleness at the end.
    passed: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        if entry["event"] == "start":
            open_runs[entry["run"]] = {**entry, "pending": set(entry["hosts"])}
            continue
        key = (entry["phase"], entry["host"])
        run = open_runs.get(entry["run"])
        if run:
            run["pending"].discard(entry["host"])
        previous = table.cells.get(key, Cell())
        result = entry.get("result")
        reboot = bool(entry.get("reboot_required"))
        if result == "check":
            if previous.state in ("pending", "check"):
                table.cells[key] = Cell("check", entry.get("end"), reason=entry.get("reason", ""))
            continue
        passed_at = previous.passed_at
        if result == "done":
            passed[key] = entry
            passed_at = entry.get("end")
        state = {"done": "done", "failed": "failed", "interrupted": "interrupted"}[result]
        if result == "failed" and entry.get("check") and previous.state in PASSED:
            continue  # a failed check run says something, but never undoes a passed gate
        table.cells[key] = Cell(
            state,  # type: ignore[arg-type]
            entry.get("end"),
            forced=bool(entry.get("forced")),
            reason=entry.get("reason", ""),
            reboot_required=reboot,
            passed_at=passed_at,
        )
    for run in open_runs.values():
        for host in run["pending"]:
            key = (run["phase"], host)
            state = "running" if running else "interrupted"
            reason = "" if running else "the run ended without a result (killed or crashed)"
            table.cells[key] = replace(
                table.cells.get(key, Cell()), state=state, date=run["start"], reason=reason
            )
    for key, entry in passed.items():
        cell = table.cells[key]
        if cell.state != "done":
            continue
        changed = []
        if entry.get("inventory_hash") != inventory_hash:
            changed.append("the inventory")
        if entry.get("phase_hash") != fingerprints.get(key[0]):
            changed.append("the phase's playbooks or roles")
        if changed:
            reason = " and ".join(changed) + " changed since the gate passed"
            table.cells[key] = replace(cell, state="stale", reason=reason)
    return table


def missing_predecessor(
    table: StatusTable, phase: str, host: str, targets: dict[str, list[str]]
) -> str | None:
    """The phase that must pass on ``host`` before ``phase`` may run there (None: none).

    That is the nearest earlier phase with a playbook that targets the host; a stale pass
    counts (the admin decides when to rerun it).
    """
    keys = [p.key for p in table.phases]
    for earlier in reversed(keys[: keys.index(phase)]):
        if host not in targets.get(earlier, []):
            continue
        return None if table.cell(earlier, host).state in PASSED else earlier
    return None


def next_phase(table: StatusTable, targets: dict[str, list[str]]) -> str | None:
    """The first phase (in plan order) not passed on every host it targets."""
    for phase in table.phases:
        hosts = targets.get(phase.key)
        if hosts and any(table.cell(phase.key, h).state not in PASSED for h in hosts):
            return phase.key
    return None
