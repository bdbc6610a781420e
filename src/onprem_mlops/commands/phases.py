"""``onprem-mlops phases``: the rollout plan and the playbook behind each phase."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Phase:
    key: str
    days: str
    title: str
    playbook: str


PHASES: tuple[Phase, ...] = (
    Phase(
        "base", "0", "OS baseline: supported OS, time, CA, proxy, admin group", "phase0_base.yml"
    ),
    Phase("assess", "1-3", "Hardware and software assessment", "phase1_assess.yml"),
    Phase("plan", "4-7", "Capacity plan and gap report", "phase2_plan.yml"),
    Phase(
        "software",
        "8-10",
        "NVIDIA driver, CUDA, container runtime, ML stack",
        "phase3_software.yml",
    ),
    Phase("data", "11-14", "PostgreSQL, MLflow, storage, backups", "phase4_data.yml"),
    Phase("models", "15-20", "Smoke training, serving, CI runners", "phase5_models.yml"),
    Phase("enablement", "21-25", "User accounts and onboarding", "phase6_enablement.yml"),
    Phase("security", "26-30", "Hardening, TLS, secrets, acceptance", "phase7_security.yml"),
)
# Beyond the 30-day plan: run once there is more than one GPU server. `onprem-mlops phases`
# lists it (as phase 8); the rollout and its report cover the 30-day plan (PHASES) only.
SCALE_OUT = Phase(
    "scale-out", "31+", "Slurm cluster across the GPU servers", "phase8_scale_out.yml"
)
ALL_PHASES: tuple[Phase, ...] = (*PHASES, SCALE_OUT)


def playbook_dir() -> Path:
    """The ``playbooks/`` directory of a source checkout (the package runs from ``src/``)."""
    return Path(__file__).resolve().parents[3] / "playbooks"


def _run(args: argparse.Namespace) -> int:
    directory = Path(args.playbooks) if args.playbooks else playbook_dir()
    for phase in ALL_PHASES:
        present = "ready" if (directory / phase.playbook).is_file() else "not yet available"
        print(f"days {phase.days:>5}  {phase.key:<11} {phase.title}  [{phase.playbook}: {present}]")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("phases", help="list the rollout phases and their playbooks")
    parser.add_argument("--playbooks", help="playbook directory (default: this checkout's)")
    parser.set_defaults(func=_run)
