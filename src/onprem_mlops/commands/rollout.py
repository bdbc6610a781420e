"""``onprem-mlops rollout``: run the phases in order, remember what passed, report it.

  rollout status [-i INVENTORY] [--pipelines]  phases x hosts from the journal (runs nothing),
                                           and the scheduled model pipelines' last runs
  rollout run PHASE|next [--check] [--limit HOSTS] [--force] [--plain] [-i INVENTORY]
  rollout report [--lang de|en] [-i INVENTORY]

Exit status: 0 passed (or nothing to do), 1 a gate failed or every host was refused,
2 bad input (nothing run, journal untouched), 3 another run holds the inventory's lock,
130 interrupted. docs/rollout.md explains gates, journal and report.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onprem_mlops.commands.phases import PHASES, Phase, playbook_dir
from onprem_mlops.rollout import gates, targets
from onprem_mlops.rollout.journal import Journal, JournalLocked, now
from onprem_mlops.rollout.model import StatusTable
from onprem_mlops.rollout.status import build_table, missing_predecessor, next_phase

PROG = "onprem-mlops rollout"
CONTROL_ONLY = ("plan",)  # phases that never contact the hosts (no reboot check after them)


class BadInput(ValueError):
    """Refused before anything runs."""


@dataclass
class Context:
    """An inventory and everything the rollout derives from it."""

    inventory: Path
    reports: Path
    playbooks: Path
    hosts: list[str]
    manager: Any
    targets: dict[str, list[str]]  # phase -> hosts (phases with a playbook only)
    journal: Journal

    @property
    def roles(self) -> Path:
        return self.playbooks.parent / "roles"

    def available(self, phase: Phase) -> bool:
        return (self.playbooks / phase.playbook).is_file()

    def fingerprints(self) -> dict[str, str]:
        return {
            p.key: targets.phase_fingerprint(self.playbooks / p.playbook, self.roles)
            for p in PHASES
            if self.available(p)
        }

    def table(self, *, running: bool) -> StatusTable:
        entries, problems = self.journal.read()
        table = build_table(
            display(self.inventory),
            self.hosts,
            entries,
            self.fingerprints(),
            targets.inventory_fingerprint(self.inventory),
            running=running,
            problems=problems,
        )
        table.targets = self.targets
        return table


def display(path: Path) -> str:
    """A path as the admin typed it: relative to the current directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def journal_name(inventory: Path) -> str:
    """``inventories/mysite/hosts.yml`` -> ``mysite-hosts``; a directory -> its name."""
    parts = [inventory.name] if inventory.is_dir() else [inventory.parent.name, inventory.stem]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(p for p in parts if p)).strip("-.")


def load_context(args: argparse.Namespace) -> Context:
    inventory = Path(args.inventory).resolve()
    if not inventory.exists():
        raise BadInput(f"inventory {args.inventory} does not exist (-i/--inventory)")
    playbooks = Path(args.playbooks).resolve() if args.playbooks else playbook_dir()
    reports = Path(args.reports_dir).resolve()
    try:
        hosts, manager = targets.inventory_hosts(inventory)
    except Exception as error:  # Ansible's parser errors have no common base
        raise BadInput(f"inventory {args.inventory} does not parse: {error}") from None
    if not hosts:
        raise BadInput(f"inventory {args.inventory} has no hosts")
    phase_targets = {
        p.key: targets.phase_hosts(playbooks / p.playbook, manager)
        for p in PHASES
        if (playbooks / p.playbook).is_file()
    }
    journal = Journal(reports / "journal", journal_name(inventory))
    return Context(inventory, reports, playbooks, hosts, manager, phase_targets, journal)


# --------------------------------------------------------------------------- status


STATE_WORDS = {"failed": "FAILED", "interrupted": "INTERRUPTED", "running": "running"}


def render_status(table: StatusTable, ctx: Context) -> str:
    width = max([len(h) for h in table.hosts] + [16])
    header = f"{'days':>5}  {'phase':<11}" + "".join(f"  {h:<{width}}" for h in table.hosts)
    lines = [header, "-" * len(header)]
    notes: list[str] = []
    for phase in table.phases:
        row = f"{phase.days:>5}  {phase.key:<11}"
        for host in table.hosts:
            if not ctx.available(phase):
                text = "planned"
            elif host not in ctx.targets.get(phase.key, []):
                text = "-"
            else:
                cell = table.cell(phase.key, host)
                text = STATE_WORDS.get(cell.state, cell.state)
                if cell.state in ("done", "stale") and cell.passed_at:
                    text += f" {cell.passed_at[:10]}"
                if cell.forced:
                    text += " (forced)"
                if cell.reboot_required:
                    text += " REBOOT"
                if cell.reason and cell.state != "done":
                    notes.append(f"  {phase.key} on {host}: {cell.state}: {cell.reason}")
            row += f"  {text:<{width}}"
        lines.append(row)
    if notes:
        lines += ["", "Why:", *notes]
    upcoming = next_phase(table, ctx.targets)
    lines += [
        "",
        f"Next: onprem-mlops rollout run {upcoming}" if upcoming else "Every phase passed.",
    ]
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    from onprem_mlops.rollout import pipelines

    ctx = load_context(args)
    if args.pipelines:
        status, rc = pipelines.collect(
            ctx.reports / "runner" / ctx.journal.name, ctx.inventory, ctx.playbooks,
            ctx.reports, args.ansible_args,
        )  # fmt: skip
        if status != "successful":
            print(
                f"{PROG}: warning: collecting the model pipelines ended {status} (rc {rc}); "
                "hosts that did not answer show what was collected before",
                file=sys.stderr,
            )
    table = ctx.table(running=ctx.journal.holder() is not None)
    states, problems = pipelines.read_reports(ctx.reports / "pipelines")
    for problem in table.problems + problems:
        print(f"{PROG}: warning: {problem}", file=sys.stderr)
    print(f"Inventory {ctx.inventory} (journal {ctx.journal.path})\n")
    print("\n".join([render_status(table, ctx), *pipelines.render(states)]))
    return 0


# --------------------------------------------------------------------------- run


def git_commit(root: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def resolve_phase(name: str, ctx: Context) -> Phase:
    keys = [p.key for p in PHASES]
    if name == "next":
        upcoming = next_phase(ctx.table(running=False), ctx.targets)
        if upcoming is None:
            raise BadInput("every phase has passed on every host: nothing is next")
        name = upcoming
    if name not in keys:
        raise BadInput(f"unknown phase {name!r}: one of {', '.join(keys)} or next")
    phase = PHASES[keys.index(name)]
    if not ctx.available(phase):
        raise BadInput(f"phase {name} has no playbook yet ({ctx.playbooks / phase.playbook})")
    return phase


def selected_hosts(phase: Phase, ctx: Context, limit: str | None) -> list[str]:
    hosts = ctx.targets[phase.key]
    if not hosts:
        raise BadInput(
            f"no host of {ctx.inventory} is in a group that phase {phase.key} targets "
            f"({', '.join(targets.play_patterns(ctx.playbooks / phase.playbook))})"
        )
    if limit:
        wanted = {h.name for h in ctx.manager.get_hosts(limit)}
        unknown = [p for p in limit.split(",") if p and not ctx.manager.get_hosts(p)]
        if unknown:
            raise BadInput(
                f"--limit {limit}: {', '.join(unknown)} matches no host of the inventory"
            )
        hosts = [h for h in hosts if h in wanted]
        if not hosts:
            raise BadInput(f"--limit {limit} leaves no host that phase {phase.key} targets")
    return hosts


def run_phase(args: argparse.Namespace, ctx: Context, phase: Phase, hosts: list[str]) -> int:
    from onprem_mlops.rollout.runner import Interrupt, Progress, reboot_required, run_playbook

    table = ctx.table(running=False)
    refused = {h: m for h in hosts if (m := missing_predecessor(table, phase.key, h, ctx.targets))}
    for host, missing in refused.items():
        verb = "runs anyway (--force)" if args.force else "refused"
        print(f"{PROG}: {phase.key} on {host} {verb}: phase {missing} has not passed there "
              f"(onprem-mlops rollout run {missing})", file=sys.stderr)  # fmt: skip
    run_hosts = hosts if args.force else [h for h in hosts if h not in refused]
    if not run_hosts:
        return 1
    cmdline, passwords = ansible_options(args)
    ident = f"{phase.key}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    private = ctx.reports / "runner" / ctx.journal.name
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    common = {
        "run": ident, "phase": phase.key, "check": args.check,
        "user": f"{getpass.getuser()}@{socket.gethostname()}",
        "commit": git_commit(ctx.playbooks.parent), "inventory": str(ctx.inventory),
        "inventory_hash": targets.inventory_fingerprint(ctx.inventory),
        "phase_hash": targets.phase_fingerprint(ctx.playbooks / phase.playbook, ctx.roles),
        "artifacts": str(private / "artifacts" / ident),
    }  # fmt: skip
    start = now()
    ctx.journal.append({**common, "event": "start", "hosts": run_hosts, "start": start,
                        "forced": sorted(h for h in refused if h in run_hosts)})  # fmt: skip
    plain = args.plain or not sys.stdout.isatty()
    progress = Progress(phase.key, plain=plain)
    verdicts: dict[str, tuple[str, str]] = {
        h: ("interrupted", "the run was stopped") for h in run_hosts
    }
    reboots: dict[str, bool] = {}
    try:
        with Interrupt() as interrupt:
            outcome, _ = run_playbook(
                phase=phase.key, playbook=ctx.playbooks / phase.playbook,
                inventory=ctx.inventory, private_dir=private, ident=ident, limit=run_hosts,
                extravars={"onprem_reports_dir": str(ctx.reports), **args.extra_vars},
                check=args.check, cmdline=cmdline, rotate=args.keep_artifacts,
                progress=progress, cancel=interrupt.flag.is_set, passwords=passwords,
            )  # fmt: skip
        verdicts = gates.judge(phase.key, run_hosts, outcome, ctx.reports)
        reachable = [h for h in run_hosts if not gates.recap(outcome.stats, h)["unreachable"]]
        if not args.check and outcome.status != "canceled" and phase.key not in CONTROL_ONLY:
            reboots = reboot_required(private, ctx.inventory, reachable, ident, cmdline, passwords)
    finally:
        end = now()
        ctx.journal.append(*[
            {**common, "event": "result", "host": host, "start": start, "end": end,
             "result": result, "reason": reason, "forced": host in refused,
             "recap": gates.recap(progress.stats, host),
             "changed_tasks": progress.changed_tasks.get(host, []),
             "reboot_required": reboots.get(host, False)}
            for host, (result, reason) in verdicts.items()
        ])  # fmt: skip
    print(f"\n{phase.key} (days {phase.days}) in {progress.elapsed()}:")
    for host, (result, reason) in verdicts.items():
        counts = gates.recap(progress.stats, host)
        reboot = "  REBOOT REQUIRED" if reboots.get(host) else ""
        print(f"  {host:<24} {result:<11} ok={counts['ok']} changed={counts['changed']} "
              f"failed={counts['failed']} unreachable={counts['unreachable']}{reboot}"
              f"{'  ' + reason if reason else ''}")  # fmt: skip
    print(f"  journal: {ctx.journal.path}\n  artifacts: {common['artifacts']}")
    results = {result for result, _ in verdicts.values()}
    if "interrupted" in results:
        return 130
    return 1 if "failed" in results or (refused and not args.force) else 0


BECOME_PROMPT = r"^BECOME password.*:\s*?$"
VAULT_PROMPT = r"^Vault password.*:\s*?$"


def ansible_options(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """ansible-playbook's extra arguments and the answers to its password prompts (asked
    here, once, like ansible-playbook would; they never reach the journal or the log)."""
    cmdline = list(args.ansible_args)
    passwords: dict[str, str] = {}
    if args.ask_become_pass:
        cmdline.append("--ask-become-pass")
        passwords[BECOME_PROMPT] = getpass.getpass("BECOME password: ")
    if args.ask_vault_pass:
        cmdline.append("--ask-vault-pass")
        passwords[VAULT_PROMPT] = getpass.getpass("Vault password: ")
    return cmdline, passwords


def cmd_run(args: argparse.Namespace) -> int:
    ctx = load_context(args)
    if args.phase != "next":
        selected_hosts(resolve_phase(args.phase, ctx), ctx, args.limit)  # bad input: no lock
    # Hold the inventory's lock before the journal is read: two runs never interleave, and
    # "next" is decided on a journal nobody else is writing.
    description = f"pid {os.getpid()}, {getpass.getuser()}@{socket.gethostname()}, since {now()}"
    try:
        with ctx.journal.lock(f"{description}, phase {args.phase}"):
            phase = resolve_phase(args.phase, ctx)
            hosts = selected_hosts(phase, ctx, args.limit)
            return run_phase(args, ctx, phase, hosts)
    except JournalLocked as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 3


# --------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    from onprem_mlops.rollout.report import write_report

    ctx = load_context(args)
    table = ctx.table(running=ctx.journal.holder() is not None)
    for problem in table.problems:
        print(f"{PROG}: warning: {problem}", file=sys.stderr)
    out = Path(args.output_dir).resolve() if args.output_dir else ctx.reports / "rollout"
    for path in write_report(table, ctx.reports, args.lang, out, playbooks_dir=ctx.playbooks):
        print(path)
    return 0


# --------------------------------------------------------------------------- parser


def _extra_var(text: str) -> dict[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_]\w*", key):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return {key: value}


def _dispatch(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        if hasattr(args, "extra_vars"):
            args.extra_vars = {k: v for item in args.extra_vars for k, v in item.items()}
        try:
            return int(handler(args))
        except BadInput as error:
            print(f"{PROG}: {error}", file=sys.stderr)
            return 2

    return run


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollout", help="run the rollout phases with their gates; status; management report"
    )
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)
    common = argparse.ArgumentParser(add_help=False)
    demo_inventory = "inventories/local/hosts.yml"
    reports = str(playbook_dir().parent / "reports")
    common.add_argument(
        "-i", "--inventory", default=os.environ.get("ONPREM_INVENTORY", demo_inventory),
        help="inventory file or directory (default: $ONPREM_INVENTORY or the local demo's)",
    )  # fmt: skip
    common.add_argument(
        "--reports-dir", default=os.environ.get("ONPREM_REPORTS_DIR", reports),
        help="reports directory on this machine: journal/, runner/, the phases' reports",
    )  # fmt: skip
    common.add_argument("--playbooks", help=argparse.SUPPRESS)  # tests: another playbook dir
    sub = parser.add_subparsers(dest="rollout_command", metavar="ACTION")

    status = sub.add_parser("status", parents=[common], help="phases x hosts, from the journal")
    status.add_argument(
        "--pipelines", action="store_true",
        help="first collect the scheduled model pipelines' last runs from the hosts "
        "(playbooks/pipeline_status.yml, read-only); without it, what was collected last",
    )  # fmt: skip
    status.add_argument("--ansible-arg", dest="ansible_args", action="append", default=[],
                        help="with --pipelines: an ansible-playbook option, e.g. "
                        "--vault-password-file=FILE (repeatable)")  # fmt: skip
    status.set_defaults(func=_dispatch(cmd_status))

    run = sub.add_parser("run", parents=[common], help="run a phase (or the next) and its gate")
    run.add_argument("phase", help=f"{', '.join(p.key for p in PHASES)} or next")
    run.add_argument("--check", action="store_true", help="check mode: journaled as check")
    run.add_argument("--limit", help="only these hosts (an Ansible host pattern)")
    run.add_argument(
        "--force",
        action="store_true",
        help="run on hosts where the previous phase has not passed (journaled)",
    )
    run.add_argument("--plain", action="store_true", help="a line per task, no live status line")
    run.add_argument(
        "-e",
        "--extra-var",
        dest="extra_vars",
        action="append",
        default=[],
        type=_extra_var,
        metavar="NAME=VALUE",
        help="an extra variable (repeatable)",
    )
    run.add_argument(
        "-K",
        "--ask-become-pass",
        action="store_true",
        help="ask for the become (sudo) password, as ansible-playbook -K",
    )
    run.add_argument(
        "-J",
        "--ask-vault-pass",
        action="store_true",
        help="ask for the vault password, as ansible-playbook -J",
    )
    run.add_argument(
        "--keep-artifacts",
        type=int,
        default=20,
        metavar="N",
        help="keep ansible-runner's artifacts of the last N runs (default 20)",
    )
    run.add_argument("--ansible-arg", dest="ansible_args", action="append", default=[],
                     metavar="ARG", help="passed to ansible-playbook, e.g. "
                     "--ansible-arg=--vault-password-file=~/.vault-pass")  # fmt: skip
    run.set_defaults(func=_dispatch(cmd_run))

    report = sub.add_parser("report", parents=[common], help="management report, Markdown + HTML")
    report.add_argument("--lang", choices=("de", "en"), default="en")
    report.add_argument("--output-dir", help="where to write it (default: <reports>/rollout)")
    report.set_defaults(func=_dispatch(cmd_report))
