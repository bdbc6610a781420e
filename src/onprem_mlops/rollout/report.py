"""The management report of a rollout: plan, assessment, capacity, security, risks, sign-off.

``write_report`` writes ``rollout-report.<lang>.md`` and ``rollout-report.<lang>.html`` (a
self-contained page) from the status table and the reports the phases left in the reports
directory. This module gathers the facts and formats numbers and dates for the language; every
sentence comes from ``data/rollout/strings.yml`` and the templates next to it lay it out.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from onprem_mlops.commands.phases import playbook_dir
from onprem_mlops.plan.gap import HOST_STATUSES
from onprem_mlops.rollout.model import Cell, StatusTable

LANGUAGES = ("de", "en")
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "rollout"
TEMPLATES = {"md": "report.md.j2", "html": "report.html.j2"}
GIB = 1024**3
# Recommendations of the capacity plan shown per host; the rest is counted.
FIRST_RECOMMENDATIONS = 3
# Acceptance test cases that check the GPU stack (by name or skip message).
GPU_WORDS = re.compile(r"gpu|nvidia|cuda", re.IGNORECASE)
# Messages of failed acceptance tests are cut to this length.
MESSAGE_CHARS = 200
# What a cell shows when there is no value.
DASH = "\N{EN DASH}"


# --------------------------------------------------------------------------- text


def load_catalog() -> dict[str, dict[str, Any]]:
    """``{lang: strings}`` of strings.yml."""
    return yaml.safe_load((DATA_DIR / "strings.yml").read_text(encoding="utf-8"))


def strings_for(lang: str) -> dict[str, Any]:
    """The strings of one language; ValueError naming the languages there are."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown report language {lang!r}: choose one of {', '.join(LANGUAGES)}")
    return load_catalog()[lang]


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time in UTC (naive times count as UTC); None when there is none."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class Formats:
    """Dates and numbers the way the report's language writes them (strings.yml ``format``)."""

    def __init__(self, spec: dict[str, str]) -> None:
        self.spec = spec

    def date(self, text: str | None) -> str | None:
        moment = parse_time(text)
        if moment is None:
            return text or None
        return moment.strftime(self.spec["date"])

    def number(self, value: float, digits: int = 1) -> str:
        return f"{value:.{digits}f}".replace(".", self.spec["decimal"])

    def percent(self, value: float | None) -> str | None:
        return None if value is None else self.spec["percent"].format(value=self.number(value))

    def gib(self, size_bytes: int | None) -> str | None:
        if size_bytes is None:
            return None
        return self.spec["gib"].format(value=self.number(size_bytes / GIB))


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when it cannot be read or is no object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- (a) the plan


def _available(table: StatusTable, playbooks_dir: Path) -> dict[str, bool]:
    """Phase key -> whether this release has its playbook."""
    return {p.key: (playbooks_dir / p.playbook).is_file() for p in table.phases}


def plan_rows(table: StatusTable, available: dict[str, bool], fmt: Formats) -> list[dict]:
    """One row per phase: number, days, state, the date the gate last passed, the hosts."""
    rows = []
    for number, phase in enumerate(table.phases):
        row: dict[str, Any] = {
            "number": number,
            "key": phase.key,
            "title": phase.title,
            "days": phase.days.replace("-", DASH),
            "state": "planned",
            "date": None,
            "all_hosts": False,
            "hosts": [],
            "details": [],
        }
        if available[phase.key]:
            row.update(_phase_status(table, phase.key, fmt))
        rows.append(row)
    return rows


def _phase_status(table: StatusTable, phase: str, fmt: Formats) -> dict[str, Any]:
    """State and date of a phase with a playbook; per host when hosts differ or were forced."""
    hosts = table.hosts_of(phase)
    cells = [(host, table.cell(phase, host)) for host in hosts]
    differ = len({cell.state for _, cell in cells}) > 1 or any(c.forced for _, c in cells)
    details = [{"host": h, "state": c.state, "forced": c.forced} for h, c in cells if differ]
    return {
        "state": table.phase_state(phase),
        "date": fmt.date(table.phase_date(phase)),
        "all_hosts": bool(hosts) and hosts == table.hosts,
        "hosts": hosts,
        "details": details,
    }


# --------------------------------------------------------------------------- (b) assessment


def read_assessments(table: StatusTable, reports_dir: Path) -> dict[str, dict | None]:
    """Host -> its phase 1 document (None: unreadable), for the hosts that have a file."""
    directory = reports_dir / "assessment"
    return {
        host: _read_json(directory / f"{host}.json")
        for host in table.hosts
        if (directory / f"{host}.json").is_file()
    }


def assessment_rows(
    hosts: list[str], documents: dict[str, dict | None], fmt: Formats
) -> list[dict]:
    rows = []
    for host in hosts:
        if host not in documents:
            rows.append({"host": host, "status": "missing"})
        elif documents[host] is None:
            rows.append({"host": host, "status": "unreadable"})
        else:
            rows.append({"host": host, "status": "ok", **_assessment_figures(documents[host], fmt)})
    return rows


def _assessment_figures(doc: dict[str, Any], fmt: Formats) -> dict[str, Any]:
    cpu, memory = doc.get("cpu") or {}, doc.get("memory") or {}
    nvml, system = doc.get("nvml") or {}, doc.get("os") or {}
    names = Counter(str(gpu.get("name") or "NVIDIA GPU") for gpu in doc.get("gpus") or [])
    severities = Counter(f.get("severity") for f in doc.get("findings") or [])
    return {
        "cpu_model": cpu.get("model") or DASH,
        "cores": cpu.get("physical_cores") or cpu.get("logical_cpus") or DASH,
        "ram": fmt.gib(memory.get("total_bytes")),
        "gpus": [{"count": count, "model": name} for name, count in names.items()],
        "driver": nvml.get("driver_version") or system.get("nvidia_driver_version"),
        "critical": severities["critical"],
        "warnings": severities["warning"],
    }


# --------------------------------------------------------------------------- (c) capacity


def capacity_section(table: StatusTable, reports_dir: Path) -> dict[str, Any]:
    """Per host the plan's verdict and its first recommendations; counts per verdict."""
    path = reports_dir / "plan" / "capacity-plan.json"
    if not path.is_file():
        return {"ran": False, "unreadable": False, "rows": [], "counts": {}}
    plan = _read_json(path)
    if plan is None or not isinstance(plan.get("hosts"), dict):
        return {"ran": True, "unreadable": True, "rows": [], "counts": {}}
    rows = [_capacity_row(host, plan["hosts"].get(host)) for host in table.hosts]
    counts = {status: sum(r["status"] == status for r in rows) for status in HOST_STATUSES}
    return {"ran": True, "unreadable": False, "rows": rows, "counts": counts}


def _capacity_row(host: str, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        return {"host": host, "status": "missing", "recommendations": [], "more": 0}
    status = entry.get("status") if entry.get("status") in HOST_STATUSES else "incomplete"
    advice = [str(item) for item in entry.get("recommendations") or []]
    return {
        "host": host,
        "status": status,
        "recommendations": advice[:FIRST_RECOMMENDATIONS],
        "more": max(len(advice) - FIRST_RECOMMENDATIONS, 0),
    }


# --------------------------------------------------------------------------- (d) security


def security_rows(table: StatusTable, reports_dir: Path, fmt: Formats) -> list[dict]:
    """Lynis hardening index and OpenSCAP pass rate per host (playbooks/security_audit.yml)."""
    rows = []
    for host in table.hosts:
        summary = _read_json(reports_dir / "security" / host / "summary.json")
        if summary is None or summary.get("lynis_hardening_index") is None:
            rows.append({"host": host, "measured": False})
            continue
        rows.append(
            {
                "host": host,
                "measured": True,
                "lynis": summary["lynis_hardening_index"],
                "oscap_rate": fmt.percent(summary.get("oscap_pass_rate")),
                "oscap_pass": summary.get("oscap_pass", DASH),
                "oscap_fail": summary.get("oscap_fail", DASH),
            }
        )
    return rows


def read_acceptance(path: Path, fmt: Formats) -> dict[str, Any] | None:
    """Totals and test cases of the JUnit XML of the acceptance; None when it has not run."""
    if not path.is_file():
        return None
    try:
        root = ET.parse(path).getroot()  # written by our own pytest run
        suites = list(root.iter("testsuite"))
        totals = {
            key: sum(int(suite.get(key) or 0) for suite in suites)
            for key in ("tests", "failures", "errors", "skipped")
        }
    except (ET.ParseError, OSError, ValueError) as error:
        return {"error": str(error)}
    passed = totals["tests"] > 0 and totals["failures"] == 0 and totals["errors"] == 0
    return {
        "error": None,
        **totals,
        "passed": passed,
        "date": fmt.date(suites[0].get("timestamp") if suites else None),
        "cases": [_testcase(case) for case in root.iter("testcase")],
    }


def _testcase(case: ET.Element) -> dict[str, str]:
    outcome, message = "passed", ""
    for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        found = case.find(tag)
        if found is not None:
            outcome = name
            message = found.get("message") or (found.text or "").strip()
            break
    if len(message) > MESSAGE_CHARS:
        message = message[: MESSAGE_CHARS - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return {"name": case.get("name") or "", "outcome": outcome, "message": message}


# --------------------------------------------------------------------------- (e) risks


def _phase_number(table: StatusTable, key: str) -> str | None:
    """The number of a phase in the plan (its index: phase0_base.yml is 0)."""
    keys = [phase.key for phase in table.phases]
    return str(keys.index(key)) if key in keys else None


def _risk(kind: str, host: str | None, phase: str | None, reason: str = "", **params: Any) -> dict:
    return {"kind": kind, "host": host, "phase": phase, "reason": reason, "params": params}


def _cells(table: StatusTable, available: dict[str, bool]) -> list[tuple[int, str, Cell]]:
    """(phase number, host, cell) of every phase with a playbook, in plan order."""
    return [
        (number, host, table.cell(phase.key, host))
        for number, phase in enumerate(table.phases)
        if available[phase.key]
        for host in table.hosts_of(phase.key)
    ]


def cell_risks(table: StatusTable, available: dict[str, bool]) -> list[dict]:
    """Failed and interrupted, then stale, then forced runs."""
    cells = _cells(table, available)
    risks = [
        _risk(cell.state, host, str(number), cell.reason)
        for state in ("failed", "interrupted", "stale")
        for number, host, cell in cells
        if cell.state == state
    ]
    risks += [_risk("forced", host, str(number)) for number, host, cell in cells if cell.forced]
    return risks


def _host_in(name: str, hosts: list[str]) -> str | None:
    """The host a Testinfra test id names (``test_x[ansible://HOST-param]``)."""
    named = [h for h in hosts if re.search(rf"ansible://{re.escape(h)}(?:[-\]]|$)", name)]
    return max(named, key=len) if named else None


def acceptance_risks(table: StatusTable, acceptance: dict[str, Any] | None) -> list[dict]:
    """Failed acceptance tests (phase 7), then skipped ones that check the GPU stack."""
    if not acceptance or acceptance["error"]:
        return []
    cases, phase = acceptance["cases"], _phase_number(table, "security")
    failed = [c for c in cases if c["outcome"] in ("failed", "error")]
    gpu = [
        c
        for c in cases
        if c["outcome"] == "skipped" and GPU_WORDS.search(c["name"] + " " + c["message"])
    ]
    return [
        _risk(kind, _host_in(c["name"], table.hosts), phase, test=c["name"], message=c["message"])
        for kind, group in (("acceptance", failed), ("gpu_skipped", gpu))
        for c in group
    ]


def gpu_risks(table: StatusTable, documents: dict[str, dict | None]) -> list[dict]:
    """Hosts whose assessment (phase 1) found no NVIDIA GPU usable through NVML."""
    phase, risks = _phase_number(table, "assess"), []
    for host, doc in documents.items():
        if doc is None:
            continue
        status = (doc.get("nvml") or {}).get("status") or "unknown"
        if status != "ok" or not doc.get("gpus"):
            risks.append(_risk("no_gpu", host, phase, status=status))
    return risks


def reboot_risks(table: StatusTable, available: dict[str, bool]) -> list[dict]:
    """One line per host with /run/reboot-required after a run, naming the phases."""
    phases: dict[str, list[str]] = {}
    for number, host, cell in _cells(table, available):
        if cell.reboot_required:
            phases.setdefault(host, []).append(str(number))
    return [
        _risk("reboot", host, ", ".join(phases[host])) for host in table.hosts if host in phases
    ]


def all_risks(
    table: StatusTable,
    available: dict[str, bool],
    documents: dict[str, dict | None],
    acceptance: dict[str, Any] | None,
) -> list[dict]:
    return (
        cell_risks(table, available)
        + acceptance_risks(table, acceptance)
        + gpu_risks(table, documents)
        + reboot_risks(table, available)
        + [_risk("journal", None, None, problem=problem) for problem in table.problems]
    )


# --------------------------------------------------------------------------- the report


def build_report(
    table: StatusTable,
    reports_dir: Path,
    lang: str,
    strings: dict[str, Any],
    generated_at: str,
    playbooks_dir: Path,
) -> dict[str, Any]:
    """Everything the templates show, formatted for the language of ``strings``."""
    fmt = Formats(strings["format"])
    available = _available(table, playbooks_dir)
    plan = plan_rows(table, available, fmt)
    documents = read_assessments(table, reports_dir)
    acceptance = read_acceptance(reports_dir / "security" / "acceptance.xml", fmt)
    risks = all_risks(table, available, documents, acceptance)
    moment = parse_time(generated_at) or datetime.now(timezone.utc)
    return {
        "lang": lang,
        "inventory": table.inventory,
        "date": fmt.date(moment.isoformat()),
        "time": moment.strftime("%H:%M"),
        "summary": {
            "done": sum(row["state"] == "done" for row in plan if available[row["key"]]),
            "available": sum(available.values()),
            "planned": len(plan) - sum(available.values()),
        },
        "plan": plan,
        "assessment": {
            "ran": bool(documents),
            "rows": assessment_rows(table.hosts, documents, fmt),
        },
        "capacity": capacity_section(table, reports_dir),
        "security": security_rows(table, reports_dir, fmt),
        "acceptance": acceptance,
        "risks": risks,
    }


def _fill(text: str, **values: Any) -> str:
    """A catalog sentence with its ``{placeholders}`` filled in."""
    return text.format(**values)


def _md_cell(value: Any) -> str:
    """A Markdown table cell: no pipes, no line breaks."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def render(report: dict[str, Any], strings: dict[str, Any]) -> dict[str, str]:
    """Format -> text of the report (``md``, ``html``: autoescaped)."""
    import jinja2  # the control node has it with Ansible

    texts = {}
    for kind, name in TEMPLATES.items():
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(DATA_DIR),
            autoescape=kind == "html",
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            undefined=jinja2.StrictUndefined,
        )
        env.filters.update(fill=_fill, md_cell=_md_cell)
        texts[kind] = env.get_template(name).render(t=strings, r=report)
    return texts


def write_report(
    table: StatusTable,
    reports_dir: Path,
    lang: str,
    out_dir: Path,
    *,
    generated_at: str | None = None,
    playbooks_dir: Path | None = None,
) -> list[Path]:
    """Write ``rollout-report.<lang>.md`` and ``.html`` into ``out_dir``; return both paths.

    ``generated_at``: ISO 8601 time the report is dated (default: now, UTC).
    ``playbooks_dir``: where phases have their playbook (default: this checkout's); a phase
    without one is shown as planned. ValueError for a language not in LANGUAGES.
    """
    strings = strings_for(lang)
    when = generated_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    directory = playbooks_dir or playbook_dir()
    report = build_report(table, Path(reports_dir), lang, strings, when, directory)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, text in render(report, strings).items():
        path = out_dir / f"rollout-report.{lang}.{kind}"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
