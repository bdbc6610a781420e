"""Running one Molecule scenario (molecule/<name>/) with its full test sequence.

Sequence (from .config/molecule/config.yml): destroy, syntax, create, check, converge,
idempotence (second run changed=0), verify (Testinfra), destroy. The full output of each
scenario is kept in .cache/molecule-logs/<name>.log.

make test runs pytest with two workers and ``--dist loadscope`` (tests/conftest.py says what a
scope is): every other scenario is a unit of work of its own, every unit and quality test file
one unit, and the scenarios that build or read the control node's wheelhouses
(.cache/wheelhouse, test_wheelhouse_scenarios.py) one unit that runs on one worker in order,
so that no two of them write the same wheelhouse at once. The units start longest first, so
that both workers end at about the same time.

The platform image: the platform scenario (model_serving) converges phases 3, 4, 5 and 7 and,
after its idempotence step, commits its container as onprem-mlops/platform:latest
(molecule/model_serving/side_effect.yml) with the generated credentials in .cache/platform/.
Scenarios that only need a converged platform to start from (PLATFORM_USERS; their
molecule.yml names the image) wait for that image instead of converging the platform again.
The image is described by the digest of everything it was built from (roles, playbooks,
collection, package, the scenario itself, the test image): a scenario refuses an image built
from other inputs, so a stale platform is never tested.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
LOGS = ROOT / ".cache" / "molecule-logs"
# In this order: model_serving (the platform scenario) builds the torch and MLflow
# wheelhouses that ml_stack and mlflow read again, and the platform image early.
WHEELHOUSE_USERS = ["model_serving", "ml_stack", "mlflow"]
PLATFORM_SOURCE = "model_serving"
# Scenarios that start from the platform image; each waits for it (see above).
PLATFORM_USERS = ["security", "slurm", "model_pipeline", "gitlab_runner", "monitoring", "backup"]
PLATFORM_DIR = ROOT / ".cache" / "platform"
PLATFORM_INPUTS = [
    "roles", "playbooks", "collections/ansible_collections/onprem", "src",
    "molecule/model_serving", ".config/molecule",
]  # fmt: skip
PLATFORM_WAIT_S = 45 * 60
# Where make test starts (after the wheelhouse chain): the other scenarios, longest first, as
# measured (docs/benchmarks.md); a platform user late enough that the platform image exists.
# A scenario not listed starts after these; a stale order costs minutes, never a result.
LONGEST_FIRST = [
    "reverse_proxy", "base", "data_storage", "nvidia_driver", "os_hardening", "security",
    "slurm", "monitoring", "backup", "postgresql", "container_runtime", "ssh_hardening",
    "firewall", "rollout", "cuda_toolkit", "fail2ban", "assess",
]  # fmt: skip


def work_unit(scenario: str) -> tuple[int, str]:
    """The xdist group of a scenario's test and where it starts (lower: earlier)."""
    if scenario in WHEELHOUSE_USERS:
        return 0, "wheelhouse"
    rank = LONGEST_FIRST.index(scenario) if scenario in LONGEST_FIRST else len(LONGEST_FIRST)
    return 1 + rank, f"molecule-{scenario}"


def run_scenario(scenario: str) -> None:
    assert shutil.which("docker"), "docker is not installed: run `make docker`"
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{scenario}.log"
    # ONPREM_MOLECULE_LOG: a scenario's own tests may read its whole output so far (the
    # platform scenario searches it for secrets).
    env = {
        **os.environ, "NO_COLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0",
        "ONPREM_MOLECULE_LOG": str(log),
    }  # fmt: skip
    digest = platform_digest() if scenario in (PLATFORM_SOURCE, *PLATFORM_USERS) else ""
    if scenario == PLATFORM_SOURCE:
        start_platform_build(digest)
        env["ONPREM_PLATFORM_DIGEST"] = digest
    if scenario in PLATFORM_USERS:
        wait_for_platform(digest)
    returncode = run_logged(["molecule", "test", "-s", scenario], env, log)
    text = log.read_text()
    if scenario == PLATFORM_SOURCE:
        finish_platform_build(digest)
    assert returncode == 0, f"molecule test -s {scenario} failed ({log}):\n{text[-8000:]}"
    for step in sequence_of(scenario):
        if step in {"idempotence", "verify"}:
            assert f"{step}: Executed: Successful" in text, f"{scenario}: {step} did not run"


def platform_digest() -> str:
    """SHA-256 over the platform's inputs (paths and contents) and the test image's id."""
    digest = hashlib.sha256()
    for top in PLATFORM_INPUTS:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    image = os.environ.get("ONPREM_TEST_IMAGE", "onprem-mlops/debian12-systemd:latest")
    inspect = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", image],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    digest.update(inspect.stdout.strip().encode())
    return digest.hexdigest()


def start_platform_build(digest: str) -> None:
    """Forget any older platform image's description; say that this one is being built."""
    PLATFORM_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("platform.json", "failed.json"):
        (PLATFORM_DIR / name).unlink(missing_ok=True)
    (PLATFORM_DIR / "building.json").write_text(json.dumps({"digest": digest, "pid": os.getpid()}))


def finish_platform_build(digest: str) -> None:
    (PLATFORM_DIR / "building.json").unlink(missing_ok=True)
    built = PLATFORM_DIR / "platform.json"
    if not (built.exists() and json.loads(built.read_text()).get("inputs_digest") == digest):
        (PLATFORM_DIR / "failed.json").write_text(json.dumps({"digest": digest}))


def _read(name: str) -> dict:
    try:
        return json.loads((PLATFORM_DIR / name).read_text())
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def wait_for_platform(digest: str, timeout_s: float = PLATFORM_WAIT_S) -> None:
    """Return once the platform image of these inputs exists; fail clearly when it cannot."""
    deadline = time.monotonic() + timeout_s
    how = (
        f"it is built by the {PLATFORM_SOURCE} scenario: "
        f"make test-molecule SCENARIOS='{PLATFORM_SOURCE} <this scenario>'"
    )
    while True:
        if _read("platform.json").get("inputs_digest") == digest:
            return
        if _read("failed.json").get("digest") == digest:
            raise AssertionError(f"the {PLATFORM_SOURCE} scenario failed: no platform image")
        building = _read("building.json")
        if not (building.get("digest") == digest and _alive(int(building.get("pid", 0)))):
            raise AssertionError(f"no platform image for the current roles and playbooks; {how}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the platform image was not ready within {timeout_s:.0f} s")
        time.sleep(10)


STEP_LINE = re.compile(r"\[(?P<scenario>\w+) > (?P<step>\w+)\] (?P<what>Executing|Executed)")


def run_logged(command: list[str], env: dict[str, str], log: Path, timeout: float = 1800) -> int:
    """Run ``command``, its output into ``log``; the wall time of each Molecule step (create,
    converge, idempotence, verify...) goes to ``<log>.steps.json`` for the suite's timing
    report (scripts/suite-times.py). Killed after ``timeout`` seconds. Returns the exit status.
    """
    started = time.monotonic()
    steps: list[dict[str, object]] = []
    with (
        log.open("w", buffering=1) as out,  # line-buffered: the scenario's tests read it
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
        ) as process,
    ):
        killed = threading.Event()
        watchdog = threading.Timer(timeout, lambda: (killed.set(), process.kill()))
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                out.write(line)
                match = STEP_LINE.search(line)
                if match and match["what"] == "Executing" and not line.rstrip().endswith("..."):
                    steps.append({"step": match["step"], "start": time.monotonic() - started})
                elif match and match["what"] == "Executed" and steps:
                    steps[-1]["seconds"] = round(time.monotonic() - started - steps[-1]["start"], 1)
            returncode = process.wait()
        finally:
            watchdog.cancel()
        if killed.is_set():
            out.write(f"\nkilled after {timeout} s\n")
    summary = {
        "total": round(time.monotonic() - started, 1),
        "steps": [{"step": step["step"], "seconds": step.get("seconds")} for step in steps],
    }
    log.with_suffix(".steps.json").write_text(json.dumps(summary, indent=1) + "\n")
    return returncode


def sequence_of(scenario: str) -> list[str]:
    """The scenario's own test sequence, else the shared one (.config/molecule/config.yml).

    A scenario may leave idempotence out only with a comment in its molecule.yml saying why
    (phase 1 rewrites its reports on every run, for instance); verify is never optional.
    """
    for path in (
        ROOT / "molecule" / scenario / "molecule.yml",
        ROOT / ".config/molecule/config.yml",
    ):
        sequence = (yaml.safe_load(path.read_text()) or {}).get("scenario", {}).get("test_sequence")
        if sequence:
            assert "verify" in sequence, f"{path}: the test sequence has no verify step"
            return sequence
    raise AssertionError("no test_sequence in .config/molecule/config.yml")
