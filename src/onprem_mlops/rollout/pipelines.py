"""The scheduled model pipelines (role model_pipeline) in ``onprem-mlops rollout status``.

A pipeline on a systemd timer runs between rollout runs; its failures must still be seen.
``playbooks/pipeline_status.yml`` collects, per host, the ``last.json`` of every pipeline and
``systemctl show`` of its service unit into ``<reports>/pipelines/<host>.json``;
``rollout status --pipelines`` runs that playbook first, plain ``rollout status`` shows what
was collected last (with its date) and contacts no host.

A pipeline counts as failed when its last run failed (a refused drop, a model below the bar,
a rollback) or when its unit failed after that (a crash, a timeout, a kill: no last.json
was written for it). A rejected challenger is an answer, not a failure.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

PLAYBOOK = "pipeline_status.yml"


@dataclass(frozen=True)
class PipelineState:
    host: str
    model: str
    outcome: str  # promoted, rejected, failed, or unknown
    step: str
    reason: str
    finished: str
    unit_failed: bool
    collected: str

    @property
    def failed(self) -> bool:
        return self.outcome == "failed" or self.unit_failed

    def line(self) -> str:
        word = "FAILED" if self.failed else self.outcome
        when = self.finished[:16].replace("T", " ") if self.finished else "never"
        where = f"at {self.step}: {self.reason}"
        return f"  {self.host:<16} {self.model:<24} {word:<9} {when:<16}  {where}"


def _unit(text: str) -> dict[str, str]:
    pairs = (line.partition("=") for line in str(text or "").splitlines())
    return {key.strip(): value.strip() for key, _, value in pairs if key.strip()}


def read_reports(directory: Path) -> tuple[list[PipelineState], list[str]]:
    """The pipelines of every collected host, and the report files that do not parse."""
    states: list[PipelineState] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.json")):
        try:
            report = json.loads(path.read_text())
            runs, units = list(report.get("runs") or []), list(report.get("units") or [])
            host, collected = str(report["host"]), str(report.get("collected", ""))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            problems.append(f"{path}: not a pipeline report ({error})")
            continue
        for index, run in enumerate(runs):
            if not isinstance(run, dict):
                problems.append(f"{path}: run {index} is not an object")
                continue
            unit = _unit(units[index] if index < len(units) else "")
            unit_failed = unit.get("ActiveState") == "failed"
            outcome = str(run.get("outcome") or "unknown")
            reason = str(run.get("reason") or "")
            if unit_failed and outcome != "failed":
                reason = (
                    f"the service unit failed (Result={unit.get('Result', '?')}, "
                    f"{unit.get('ExecMainExitTimestamp') or 'time unknown'}) after the last "
                    f"recorded run ({outcome}): journalctl -u "
                    f"onprem-model-pipeline-{run.get('model', '?')}"
                )
            states.append(PipelineState(
                host=host, model=str(run.get("model") or "?"), outcome=outcome,
                step=str(run.get("ended_at") or "?"), reason=reason,
                finished=str(run.get("finished") or ""), unit_failed=unit_failed,
                collected=collected,
            ))  # fmt: skip
    return states, problems


def render(states: list[PipelineState]) -> list[str]:
    """The section under the phase table; empty when no pipeline was ever collected."""
    if not states:
        return []
    oldest = min(s.collected for s in states)
    failed = [s for s in states if s.failed]
    header = f"Model pipelines (collected {oldest[:16].replace('T', ' ')} UTC or later):"
    lines = ["", header, *(s.line() for s in states)]
    if failed:
        lines.append(f"{len(failed)} pipeline(s) FAILED: the reason is the last column.")
    return lines


def collect(
    private_dir: Path, inventory: Path, playbooks: Path, reports: Path, cmdline: list[str]
) -> tuple[str, int]:
    """Run playbooks/pipeline_status.yml (read-only on the hosts); ansible-runner's status
    and return code. Hosts that do not answer keep their last collected report."""
    from onprem_mlops.rollout.runner import run_aside

    result = run_aside(
        private_dir, "pipelines",
        playbook=str(playbooks / PLAYBOOK),
        inventory=str(inventory),
        extravars={"onprem_reports_dir": str(reports)},
        cmdline=shlex.join(cmdline) or None,
    )  # fmt: skip
    return str(result.status), int(result.rc or 0)
