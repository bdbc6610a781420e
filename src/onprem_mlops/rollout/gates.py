"""The gate of each phase: when it counts as passed on a host.

Every phase: its playbook ran to the end (ansible-runner status ``successful``) with no failed
and no unreachable task on the host, and no failure on the control node (plays on
``localhost``: the wheelhouse build, the acceptance run). Those plays hold the phases' own
verification: the MLflow gate of phase 4, the serving gate of phase 5, the capacity assert of
phase 2 (with ``plan_fail_on_gap``), the Testinfra acceptance of phase 7. Then, per phase:

  assess    reports/assessment/<host>.json exists, parses, and was written by this run;
  plan      reports/plan/capacity-plan.json exists, parses, has the host, and was written by
            this run (a capacity ``fail`` is reported as the reason, the gate still passes
            unless plan_fail_on_gap stopped the playbook);
  security  reports/security/acceptance.xml was written by this run and counts no failure
            and no error.

A check-mode run never passes a gate: its hosts get ``check`` (or ``failed``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECAP_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
RECAP_NAMES = {"failures": "failed", "dark": "unreachable"}


@dataclass(frozen=True)
class RunOutcome:
    """What ansible-runner reported for one phase run."""

    status: str  # successful | failed | canceled | timeout | error
    rc: int | None
    stats: dict[str, dict[str, int]]  # playbook_on_stats: {"ok": {host: n}, ...}
    started: float  # time.time() when the run started: files older than that are old
    check: bool
    failures: dict[str, str]  # host -> message of its first failed/unreachable task


def recap(stats: dict[str, dict[str, int]], host: str) -> dict[str, int]:
    return {RECAP_NAMES.get(key, key): int(stats.get(key, {}).get(host, 0)) for key in RECAP_KEYS}


def _fresh(path: Path, outcome: RunOutcome) -> bool:
    return path.is_file() and path.stat().st_mtime >= outcome.started - 1


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _read_fresh(
    path: Path, outcome: RunOutcome, what: str, parse: Callable[[Path], Any]
) -> tuple[Any, str]:
    """The parsed file and "" when this run wrote it and it parses; else None and why."""
    if not _fresh(path, outcome):
        return None, f"no {what} written by this run: {path}"
    try:
        return parse(path), ""
    except (OSError, ValueError, ET.ParseError) as error:
        return None, f"{path} does not parse: {error}"


def assess_gate(host: str, reports: Path, outcome: RunOutcome) -> str:
    path = reports / "assessment" / f"{host}.json"
    document, problem = _read_fresh(path, outcome, "assessment", _load_json)
    if problem or (isinstance(document, dict) and "findings" in document):
        return problem
    return f"{path} is not an assessment document"


def plan_gate(host: str, reports: Path, outcome: RunOutcome) -> str:
    path = reports / "plan" / "capacity-plan.json"
    plan, problem = _read_fresh(path, outcome, "capacity plan", _load_json)
    if problem:
        return problem
    hosts = plan.get("hosts") if isinstance(plan, dict) else None
    return "" if isinstance(hosts, dict) and host in hosts else f"{path} does not name {host}"


def security_gate(host: str, reports: Path, outcome: RunOutcome) -> str:
    path = reports / "security" / "acceptance.xml"
    tree, problem = _read_fresh(path, outcome, "acceptance result", ET.parse)
    if problem:
        return problem
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    return f"acceptance: {failed} test(s) failed, see {path}" if failed else ""


FILE_GATES: dict[str, Callable[[str, Path, RunOutcome], str]] = {
    "assess": assess_gate,
    "plan": plan_gate,
    "security": security_gate,
}


def plan_note(host: str, reports: Path) -> str:
    """The capacity verdict of a host, for the journal ("" when it passes or is unknown)."""
    try:
        status = _load_json(reports / "plan" / "capacity-plan.json")["hosts"][host]["status"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return "" if status == "pass" else f"capacity plan: {status} (see plan/capacity-plan.md)"


def judge(
    phase: str, hosts: list[str], outcome: RunOutcome, reports: Path
) -> dict[str, tuple[str, str]]:
    """``{host: (result, reason)}`` with result done | failed | check | interrupted."""
    if outcome.status in ("canceled", "timeout"):
        why = "stopped by the user" if outcome.status == "canceled" else "timed out"
        return {host: ("interrupted", why) for host in hosts}
    elsewhere = {h: m for h, m in outcome.failures.items() if h not in hosts and h not in ("all",)}
    verdicts: dict[str, tuple[str, str]] = {}
    for host in hosts:
        counts = recap(outcome.stats, host)
        reason = ""
        if counts["failed"] or counts["unreachable"]:
            reason = outcome.failures.get(host, "a task failed")
        elif elsewhere:
            where, message = next(iter(elsewhere.items()))
            reason = f"failed on {where}: {message}"
        elif outcome.status != "successful":
            reason = f"ansible-playbook ended {outcome.status} (rc {outcome.rc})"
        elif not any(counts.values()):
            reason = "the playbook did not reach this host"
        elif outcome.check:
            reason = f"check mode: {counts['changed']} task(s) would change"
        elif phase in FILE_GATES:
            reason = FILE_GATES[phase](host, reports, outcome)
        if outcome.check:
            verdicts[host] = (
                "failed" if reason and "check mode" not in reason else "check",
                reason,
            )
        elif reason:
            verdicts[host] = ("failed", reason)
        else:
            verdicts[host] = ("done", plan_note(host, reports) if phase == "plan" else "")
    return verdicts
