"""One phase playbook through ansible-runner's Python API, with a live progress display.

Events come from ansible-runner's ``event_handler`` (no parsing of ansible-playbook's
output): the current task, hosts done and failed, the first failure per host, the tasks that
changed something. Ctrl-C (SIGINT) or SIGTERM asks ansible-runner to cancel through its
``cancel_callback``; the run then ends with status ``canceled``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from onprem_mlops.rollout.gates import RunOutcome

FAILED_EVENTS = ("runner_on_failed", "runner_on_unreachable")


@dataclass
class Progress:
    """Follows the events of one run and shows them: one status line rewritten in place on a
    terminal, a line per task otherwise (``plain``)."""

    phase: str
    out: TextIO | None = None  # None: sys.stdout as it is when a line is printed
    plain: bool = True
    started: float = field(default_factory=time.monotonic)
    task: str = ""
    tasks: int = 0
    # Hosts that answered the current task; hosts that finished the playbook (at the end).
    task_hosts: set[str] = field(default_factory=set)
    done_hosts: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)
    changed_tasks: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    def elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    @property
    def stream(self) -> TextIO:
        return self.out or sys.stdout

    def _line(self, text: str) -> None:
        if self.plain:
            print(text, file=self.stream, flush=True)
        else:
            print(f"\r\033[K{text}", file=self.stream, end="", flush=True)

    def _above(self, text: str) -> None:
        """A line that stays (a failure), above the status line on a terminal."""
        prefix = "" if self.plain else "\r\033[K"
        print(f"{prefix}{text}", file=self.stream, flush=True)

    def status_line(self) -> str:
        if self.stats:
            where = f"hosts done {len(self.done_hosts)}, failed {len(self.failures)}"
        else:
            where = f"{len(self.task_hosts)} host(s) answered, failed {len(self.failures)}"
        return f"[{self.phase} {self.elapsed()}] task {self.tasks}: {self.task[:56]:<56} {where}"

    def handle(self, event: dict[str, Any]) -> bool:
        name = event.get("event", "")
        data = event.get("event_data", {}) or {}
        host = data.get("host", "")
        if name.startswith("runner_on") and host:
            self.task_hosts.add(host)
        if name == "playbook_on_task_start":
            self.task = data.get("task", "") or data.get("name", "")
            self.tasks += 1
            self.task_hosts = set()
            self._line(
                f"{time.strftime('%H:%M:%S')} {self.phase}: {self.task}"
                if self.plain
                else self.status_line()
            )
        elif name == "runner_on_ok" and (data.get("res") or {}).get("changed"):
            tasks = self.changed_tasks.setdefault(host, [])
            if data.get("task") not in tasks:
                tasks.append(data.get("task", ""))
        elif name in FAILED_EVENTS and not data.get("ignore_errors"):
            res = data.get("res") or {}
            message = str(res.get("msg") or res.get("stderr") or "failed").strip().splitlines()
            text = f"{data.get('task', '?')}: {message[0][:300] if message else 'failed'}"
            self.failures.setdefault(host, text)
            self._above(f"  FAILED {host}: {text}")
        elif name == "playbook_on_stats":
            self.stats = {k: dict(data.get(k) or {}) for k in ("ok", "changed", "failures",
                                                               "dark", "skipped", "rescued",
                                                               "ignored", "processed")}  # fmt: skip
            self.done_hosts = set(self.stats.get("processed", {})) - set(self.failures)
        if not self.plain and (name.startswith("runner_on") or name == "playbook_on_stats"):
            self._line(self.status_line())
        return True  # keep the event in the artifacts

    def finish(self) -> None:
        if not self.plain:
            print(file=self.stream, flush=True)


class Interrupt:
    """SIGINT/SIGTERM set a flag that ansible-runner's cancel_callback reads; restored after."""

    def __init__(self) -> None:
        self.flag = threading.Event()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._set)
        return self

    def _set(self, signum: int, frame: Any) -> None:
        if self.flag.is_set():  # a second Ctrl-C: stop waiting for the cancellation
            raise KeyboardInterrupt
        print("\nstopping the run (Ctrl-C again to stop at once)...", file=sys.stderr)
        self.flag.set()

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def runner_env() -> dict[str, str]:
    """ansible-playbook from this interpreter's environment, the project's ansible.cfg."""
    from onprem_mlops.commands.phases import playbook_dir

    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    env = {"PATH": f"{bindir}:{path}" if bindir not in path.split(":") else path}
    config = playbook_dir().parent / "ansible.cfg"
    if "ANSIBLE_CONFIG" not in os.environ and config.is_file():
        env["ANSIBLE_CONFIG"] = str(config)
    return env


def run_playbook(
    *,
    phase: str,
    playbook: Path,
    inventory: Path,
    private_dir: Path,
    ident: str,
    limit: list[str],
    extravars: dict[str, Any],
    check: bool,
    cmdline: list[str],
    rotate: int,
    progress: Progress,
    cancel: Callable[[], bool],
    passwords: dict[str, str] | None = None,
) -> tuple[RunOutcome, Path]:
    """Run the playbook; the outcome and the run's artifact directory. ``passwords``:
    ansible-playbook's prompt (regular expression) -> the answer (become, vault)."""
    import ansible_runner

    # ansible-runner keeps what it was given in <private_dir>/env/ and reads it back on the
    # next run when that one does not say otherwise: a --check would stick to later runs.
    shutil.rmtree(private_dir / "env", ignore_errors=True)
    started = time.time()
    try:
        runner = ansible_runner.run(
            private_data_dir=str(private_dir),
            playbook=str(playbook),
            inventory=str(inventory),
            ident=ident,
            # The phases' plays on the control node (the wheelhouse build, the acceptance)
            # target localhost, which a limit to the hosts alone would leave out.
            limit=",".join([*limit, "localhost"]),
            extravars=extravars,
            cmdline=shlex.join(cmdline + (["--check"] if check else [])) or None,
            passwords=passwords or {},
            envvars=runner_env(),
            event_handler=progress.handle,
            cancel_callback=cancel,
            rotate_artifacts=rotate,
            quiet=True,
        )
    finally:
        # The answers to password prompts lie in env/passwords while ansible-playbook runs.
        shutil.rmtree(private_dir / "env", ignore_errors=True)
    if runner.status in ("canceled", "timeout"):
        stop_workers(private_dir)
    progress.finish()
    outcome = RunOutcome(
        status=runner.status,
        rc=runner.rc,
        stats=progress.stats,
        started=started,
        check=check,
        failures=dict(progress.failures),
    )
    return outcome, Path(runner.config.artifact_dir)


def _workers(private_dir: Path) -> list[int]:
    """Processes of ansible-playbook that name this run's private directory (its -e @env/...)."""
    needle = str(private_dir.resolve()).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(b"ansible-playbook" in arg for arg in argv[:3]) and any(needle in a for a in argv):
            found.append(int(entry.name))
    return found


def stop_workers(private_dir: Path, grace_s: float = 10.0) -> None:
    """After a cancellation: ansible-runner kills ansible-playbook's process group, but
    Ansible's workers run in sessions of their own (os.setsid) and would finish their task
    on the hosts. They get SIGTERM, then SIGKILL after ``grace_s``."""
    deadline = time.monotonic() + grace_s
    sig = signal.SIGTERM
    while pids := _workers(private_dir):
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for pid in pids:
            with contextlib.suppress(OSError):  # it ended meanwhile
                os.kill(pid, sig)
        time.sleep(0.2)
        if sig == signal.SIGKILL and time.monotonic() > deadline + grace_s:
            break


def run_aside(private_dir: Path, suffix: str, **kwargs: Any) -> Any:
    """An ansible-runner run beside a phase's runs, in its own private directory
    (``<private_dir>-<suffix>``): its artifacts never push a phase run's out of the rotation,
    only its last run is kept, and what it was given (passwords) does not stay in env/."""
    import ansible_runner

    own = private_dir.with_name(f"{private_dir.name}-{suffix}")
    own.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.rmtree(own / "env", ignore_errors=True)
    try:
        return ansible_runner.run(
            private_data_dir=str(own), envvars=runner_env(), rotate_artifacts=1, quiet=True,
            **kwargs,
        )  # fmt: skip
    finally:
        shutil.rmtree(own / "env", ignore_errors=True)


def reboot_required(
    private_dir: Path,
    inventory: Path,
    hosts: list[str],
    ident: str,
    cmdline: list[str],
    passwords: dict[str, str] | None = None,
) -> dict[str, bool]:
    """Whether /run/reboot-required exists on each host (the driver role and
    unattended-upgrades write it); hosts that do not answer are left out. Of ``cmdline``
    only the vault options apply (the inventory may be encrypted)."""
    if not hosts:
        return {}
    found: dict[str, bool] = {}

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data", {}) or {}
        if event.get("event") == "runner_on_ok":
            found[data.get("host", "")] = bool(
                (data.get("res") or {}).get("stat", {}).get("exists")
            )
        return True

    run_aside(
        private_dir, "reboot-check",
        inventory=str(inventory),
        host_pattern=",".join(hosts),
        module="ansible.builtin.stat",
        module_args="path=/run/reboot-required",
        cmdline=shlex.join([a for a in cmdline if a.startswith(("--vault", "--ask-vault"))])
        or None,
        passwords=passwords or {},
        ident=ident,
        event_handler=handle,
    )  # fmt: skip
    return found
