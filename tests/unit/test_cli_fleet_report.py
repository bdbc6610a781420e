"""onprem-mlops fleet-report: the hosts' documents and both fleet reports from stdin."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from onprem_mlops.cli import main
from onprem_mlops.hwassess import assess

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "playbooks" / "templates"
FIXTURES = ROOT / "tests" / "fixtures" / "hwassess"
sys.path.insert(0, str(FIXTURES))
from fake_nvml import scenario  # noqa: E402


def run(monkeypatch, stdin: str, *args: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(["fleet-report", *args])


def test_documents_and_reports_are_written(tmp_path, monkeypatch, capsys):
    docs = {
        "gpu01": assess(**scenario(FIXTURES / "healthy-h100")),
        "cpu01": assess(**scenario(FIXTURES / "no-gpu")),
    }
    out = tmp_path / "assessment"
    rc = run(monkeypatch, json.dumps(docs), f"--output-dir={out}", f"--templates={TEMPLATES}")
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [
        "cpu01.json", "fleet-report.html", "fleet-report.md", "gpu01.json",
    ]  # fmt: skip
    assert json.loads((out / "gpu01.json").read_text()) == docs["gpu01"]
    markdown = (out / "fleet-report.md").read_text()
    assert "2 host(s)." in markdown and "| gpu01 | Ubuntu 22.04.4 LTS |" in markdown
    assert (out / "fleet-report.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("[]", "must be a JSON object"),
        ("{}", "must be a JSON object"),
        ('{"gpu01": {"cpu": {}}}', "'gpu01' is not an assessment document"),
        ('{"../x": {"schema_version": "1.1"}}', "'../x' is not usable as a file name"),
        ("not json", "Expecting value"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, monkeypatch, capsys, stdin, message):
    out = tmp_path / "assessment"
    rc = run(monkeypatch, stdin, f"--output-dir={out}", f"--templates={TEMPLATES}")
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_templates_are_named(tmp_path, monkeypatch, capsys):
    rc = run(monkeypatch, "{}", f"--output-dir={tmp_path}", f"--templates={tmp_path}")
    assert rc == 2
    assert "fleet_report.md.j2, fleet_report.html.j2 not found" in capsys.readouterr().err
