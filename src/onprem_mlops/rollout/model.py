"""What the rollout knows: the state of each phase on each host, as read from the journal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from onprem_mlops.commands.phases import PHASES, Phase

# done: the gate passed (and nothing it depends on changed since); stale: the gate passed,
# but the inventory or the phase's playbooks/roles changed since; failed: the last real run
# failed; check: only check-mode runs so far; interrupted: the last run was stopped (Ctrl-C,
# crash); running: a run holds the lock now; pending: never run.
State = Literal["done", "stale", "failed", "check", "interrupted", "running", "pending"]
STATES: tuple[State, ...] = (
    "done", "stale", "failed", "check", "interrupted", "running", "pending",
)  # fmt: skip


@dataclass(frozen=True)
class Cell:
    """The state of one phase on one host."""

    state: State = "pending"
    # When the run that decided the state ended (ISO 8601, UTC); None when pending.
    date: str | None = None
    # The run was started with --force past a missing predecessor.
    forced: bool = False
    # Why: what failed, or what changed since the gate passed ("" when nothing to say).
    reason: str = ""
    # /run/reboot-required existed on the host after the run.
    reboot_required: bool = False
    # When the gate last passed (ISO 8601), also when the state is stale/failed/check later.
    passed_at: str | None = None


@dataclass
class StatusTable:
    """Phases x hosts of one inventory."""

    inventory: str
    hosts: list[str]
    phases: tuple[Phase, ...] = PHASES
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    # Journal lines that could not be read ("journal line 7: ...").
    problems: list[str] = field(default_factory=list)
    # The hosts each phase targets (its playbook's plays); a phase not listed targets all.
    targets: dict[str, list[str]] = field(default_factory=dict)

    def cell(self, phase: str, host: str) -> Cell:
        return self.cells.get((phase, host), Cell())

    def hosts_of(self, phase: str) -> list[str]:
        return self.targets.get(phase, self.hosts)

    def phase_state(self, phase: str) -> State:
        """One state for the whole phase: the worst of its hosts (done only when all are)."""
        states = {self.cell(phase, host).state for host in self.hosts_of(phase)}
        for state in ("failed", "interrupted", "running", "stale", "check", "pending"):
            if state in states:
                return state  # type: ignore[return-value]
        return "done" if states else "pending"

    def phase_date(self, phase: str) -> str | None:
        """The latest date a host passed this phase's gate."""
        dates = [c.passed_at for h in self.hosts_of(phase) if (c := self.cell(phase, h)).passed_at]
        return max(dates) if dates else None
