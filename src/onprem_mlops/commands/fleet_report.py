"""``onprem-mlops fleet-report``: every host's assessment and the fleet report, in one go.

Phase 1 (playbooks/phase1_assess.yml) passes all hosts' assessment documents on standard
input as one JSON object ``{host: document}``; this writes ``<host>.json`` for each and
renders the fleet report templates (Markdown and HTML) next to them. One process on the
control node instead of one module call per host and per report.

Exit status: 0 written, 2 bad input (not a JSON object of documents, templates missing,
Jinja2 not installed).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

TEMPLATES = ("fleet_report.md.j2", "fleet_report.html.j2")


def _fail(message: str) -> int:
    print(f"onprem-mlops fleet-report: {message}", file=sys.stderr)
    return 2


def read_documents(text: str) -> dict[str, dict[str, Any]]:
    """``{host: assessment}`` from standard input; ValueError naming what is wrong."""
    data = json.loads(text)
    if not isinstance(data, dict) or not data:
        raise ValueError("standard input must be a JSON object {host: assessment document}")
    for host, document in data.items():
        if not isinstance(document, dict) or "schema_version" not in document:
            raise ValueError(f"the entry of {host!r} is not an assessment document")
        if not host or "/" in host or host.startswith("."):
            raise ValueError(f"{host!r} is not usable as a file name")
    return data


def render(templates: Path, documents: dict[str, dict[str, Any]], rendered_at: str) -> dict:
    """File name -> text of each fleet report, rendered as Ansible's template module does."""
    import jinja2  # the control node has it with Ansible

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    hostvars = {h: {"ansible_facts": {"onprem_assessment": d}} for h, d in documents.items()}
    return {
        name.removesuffix(".j2").replace("fleet_report", "fleet-report"): env.get_template(
            name
        ).render(fleet_hosts=sorted(documents), hostvars=hostvars, fleet_rendered_at=rendered_at)
        for name in TEMPLATES
    }


def _run(args: argparse.Namespace) -> int:
    templates = Path(args.templates)
    missing = [name for name in TEMPLATES if not (templates / name).is_file()]
    if missing:
        return _fail(f"--templates {templates}: {', '.join(missing)} not found there")
    try:
        documents = read_documents(sys.stdin.read())
    except ValueError as exc:  # json.JSONDecodeError is one
        return _fail(str(exc))
    try:
        rendered_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        reports = render(templates, documents, rendered_at)
    except ImportError:
        return _fail("Jinja2 is not installed (it comes with Ansible on the control node)")
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for host, document in documents.items():
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
        (output / f"{host}.json").write_text(text + "\n", encoding="utf-8")
    for name, text in reports.items():
        (output / name).write_text(text, encoding="utf-8")
    print(f"{len(documents)} assessment(s) and {', '.join(reports)} in {output}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fleet-report",
        help="write the hosts' assessments (JSON on stdin) and the fleet report",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--output-dir", required=True, help="reports directory (assessment/)")
    parser.add_argument("--templates", required=True, help="directory of fleet_report.*.j2")
    parser.set_defaults(func=_run)
