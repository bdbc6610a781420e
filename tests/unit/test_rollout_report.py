"""The management report (onprem-mlops rollout report): both languages, golden files, the HTML
page as headless Chromium renders it.

The golden files tests/fixtures/rollout/golden/rollout-report.{de,en}.md are reviewed text:
after a deliberate change, regenerate them with ONPREM_UPDATE_GOLDEN=1 and read the diff.
"""

# The report's text uses typographic dashes and the multiplication sign: so do the assertions.
# ruff: noqa: RUF001

from __future__ import annotations

import os
import re
import shutil
import string
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from onprem_mlops.commands.phases import PHASES
from onprem_mlops.rollout.model import Cell, StatusTable
from onprem_mlops.rollout.report import LANGUAGES, load_catalog, write_report

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "rollout"
GOLDEN = FIXTURES / "golden"
GENERATED_AT = "2026-12-04T16:30:00+00:00"
CHROMIUM_TIMEOUT_S = 120

DONE = "2026-12-01T10:05:00+00:00"
LATER = "2026-12-02T11:40:00+00:00"


def status_table() -> StatusTable:
    """Two hosts, every kind of trouble the report has to name."""
    cells = {
        ("base", "gpu01"): Cell("done", DONE, passed_at=DONE),
        ("base", "cpu01"): Cell("done", DONE, passed_at=DONE),
        ("assess", "gpu01"): Cell("done", DONE, passed_at=DONE),
        ("assess", "cpu01"): Cell("done", DONE, passed_at=DONE),
        ("plan", "gpu01"): Cell("done", LATER, passed_at=LATER),
        ("plan", "cpu01"): Cell(
            "failed", LATER, reason="capacity plan: cpu01 fails predictive-maintenance-tabular"
        ),
        ("software", "gpu01"): Cell(
            "done", LATER, forced=True, reboot_required=True, passed_at=LATER
        ),
        ("software", "cpu01"): Cell(
            "stale",
            DONE,
            reason="the inventory changed since the gate passed",
            passed_at=DONE,
        ),
        ("data", "gpu01"): Cell(
            "interrupted", LATER, reason="the run ended without a result (killed or crashed)"
        ),
        ("security", "gpu01"): Cell("check", LATER),
        ("security", "cpu01"): Cell("check", LATER),
    }
    return StatusTable(
        inventory="acme-prod",
        hosts=["gpu01", "cpu01"],
        cells=cells,
        problems=["journal line 7: not JSON (Expecting value: line 1 column 1 (char 0))"],
        targets={"data": ["gpu01"], "models": ["gpu01"]},
    )


@pytest.fixture
def playbooks(tmp_path: Path) -> Path:
    """Every phase has its playbook except enablement (phase 6): it is still planned."""
    directory = tmp_path / "playbooks"
    directory.mkdir()
    for phase in PHASES:
        if phase.key != "enablement":
            (directory / phase.playbook).write_text("---\n")
    return directory


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """A reports directory as the phases leave it (the fixture is not named reports/: git
    ignores every reports/ directory)."""
    directory = tmp_path / "reports"
    shutil.copytree(FIXTURES / "report-inputs", directory)
    return directory


def write(tmp_path: Path, lang: str, reports_dir: Path, playbooks_dir: Path) -> dict[str, str]:
    paths = write_report(
        status_table(),
        reports_dir,
        lang,
        tmp_path / "out",
        generated_at=GENERATED_AT,
        playbooks_dir=playbooks_dir,
    )
    assert [p.name for p in paths] == [f"rollout-report.{lang}.md", f"rollout-report.{lang}.html"]
    return {p.suffix[1:]: p.read_text(encoding="utf-8") for p in paths}


def visible_text(html: str) -> str:
    """The text of an HTML document (no tags, no style), whitespace collapsed."""

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []
            self.skip = 0

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.skip += tag in ("style", "script", "title")

        def handle_endtag(self, tag: str) -> None:
            self.skip -= tag in ("style", "script", "title")

        def handle_data(self, data: str) -> None:
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


# --------------------------------------------------------------------------- the catalog


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def flatten(tree: object, prefix: str = "") -> dict[str, object]:
    if isinstance(tree, dict):
        out: dict[str, object] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tree}


def test_both_languages_have_the_same_keys_and_placeholders():
    catalog = load_catalog()
    assert sorted(catalog) == sorted(LANGUAGES)
    de, en = flatten(catalog["de"]), flatten(catalog["en"])
    assert sorted(de) == sorted(en)
    for key, text in en.items():
        if isinstance(text, str):
            assert placeholders(text) == placeholders(str(de[key])), key
    assert len(catalog["de"]["signoff"]["roles"]) == len(catalog["en"]["signoff"]["roles"])


def test_the_german_text_is_german_and_not_the_english_one():
    de, en = flatten(load_catalog()["de"]), flatten(load_catalog()["en"])
    # Same words in both languages are fine for codes and figures, not for sentences.
    sentences = [k for k, v in en.items() if isinstance(v, str) and len(v.split()) > 3]
    assert sentences
    assert [k for k in sentences if de[k] == en[k] and "{" not in str(en[k])[:1]] == []
    german = " ".join(str(v) for v in de.values())
    for word in ("Härtungsindex", "Abnahme", "Freigabe", "Unterschrift", "Offene Risiken"):
        assert word in german
    assert not re.search(r"\b(?:du|dein|deine)\b", german, re.IGNORECASE), "Sie-form only"


# --------------------------------------------------------------------------- content


def row(*cells: object) -> str:
    """A Markdown table row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def test_english_report_names_the_facts(tmp_path, reports, playbooks):
    md = write(tmp_path, "en", reports, playbooks)["md"]
    assert md.startswith("# MLOps platform rollout: acme-prod, status on 2026-12-04\n")
    assert "Generated on 2026-12-04 at 16:30 UTC" in md
    assert "Progress: 2 of 7 phases complete. Planned for a later release: 1 phase(s)." in md
    assert "Open risks: 9 (section 5)." in md
    for heading in ("1. The 30-day plan", "2. Assessment (phase 1)", "3. Capacity plan (phase 2)",
                    "4. Security", "5. Open risks", "6. Sign-off"):  # fmt: skip
        assert f"\n## {heading}\n" in md
    # The plan: overall state, per-host detail where hosts differ, forced runs, planned phase.
    base = "OS baseline: time, certificates, proxy, admin group"
    assert row(0, 0, base, "done", "2026-12-01", "all hosts") in md
    plan = "Capacity plan and gap report"
    assert row(2, "4–7", plan, "failed", "2026-12-02", "gpu01: done; cpu01: failed") in md
    assert "| stale | 2026-12-02 | gpu01: done (forced); cpu01: stale |" in md
    assert row(6, "21–25", "User accounts and onboarding", "planned", "–", "–") in md
    assert "| pending | – | gpu01 |" in md  # phase 5 targets gpu01 only
    assert "| dry run only | – | all hosts |" in md
    # Assessment, capacity, security.
    xeon = "Intel(R) Xeon(R) Gold 5415+, 16 cores"
    assert row("gpu01", xeon, "251.6 GiB", "2 × NVIDIA H100 PCIe", "550.54.15", 1, 1) in md
    assert row("cpu01", "AMD EPYC, 2 cores", "23.5 GiB", "none", "not installed", 0, 2) in md
    assert "Hosts that meet the workload profiles: 1; that fall short: 1;" in md
    assert row("gpu01", "meets the profiles", "none") in md
    assert "add 8 GB RAM (has about 24 GB, needs 32 GB)" in md
    assert "(and 4 more in reports/plan/capacity-plan.md)" in md
    assert row("gpu01", 67, "87.6%", "148 / 21") in md
    assert row("cpu01", "not measured yet: run playbooks/security_audit.yml", "–", "–") in md
    assert "run on 2026-12-03" in md and row(7, 1, 0, 2, "not passed") in md
    # Risks.
    failed = "capacity plan: cpu01 fails predictive-maintenance-tabular"
    assert row("Phase failed", "cpu01", 2, failed) in md
    crashed = "the run ended without a result (killed or crashed)"
    assert row("Run interrupted", "gpu01", 4, crashed) in md
    assert (
        row("Result out of date", "cpu01", 3, "the inventory changed since the gate passed") in md
    )
    assert "| Run forced | gpu01 | 3 |" in md
    assert "| Reboot pending | gpu01 | 3 |" in md
    skipped = (
        "test_gpu_visible_in_containers[ansible://cpu01] was skipped: no NVIDIA GPU on this host"
    )
    assert row("GPU check skipped", "cpu01", 7, skipped) in md
    assert "| No usable NVIDIA GPU | cpu01 | 1 |" in md and "(NVML: library_missing)" in md
    assert "| Acceptance test failed | gpu01 | 7 |" in md and "TLSv1.1 handshake" in md
    assert "| Journal line unreadable | – | – | journal line 7: not JSON" in md
    # The kernel-parameter skip is no GPU check; gpu01 has a usable GPU.
    assert "test_kernel_parameters" not in md
    assert "| No usable NVIDIA GPU | gpu01 |" not in md
    assert "| IT lead | | | |" in md and "| Data science lead | | | |" in md


def test_german_report_names_the_facts(tmp_path, reports, playbooks):
    md = write(tmp_path, "de", reports, playbooks)["md"]
    assert md.startswith("# Einführung der MLOps-Plattform – acme-prod – Stand 04.12.2026\n")
    assert "Erstellt am 04.12.2026 um 16:30 Uhr (UTC)" in md
    assert "Stand der Umsetzung: 2 von 7 Phasen abgeschlossen." in md
    for heading in ("1. 30-Tage-Plan", "2. Bestandsaufnahme (Phase 1)",
                    "3. Kapazitätsplanung (Phase 2)", "4. Sicherheit und Abnahme",
                    "5. Offene Risiken", "6. Abnahme und Freigabe"):  # fmt: skip
        assert f"\n## {heading}\n" in md
    plan = "Kapazitätsplanung und Lückenanalyse"
    hosts = "gpu01: abgeschlossen; cpu01: fehlgeschlagen"
    assert row(2, "4–7", plan, "fehlgeschlagen", "02.12.2026", hosts) in md
    assert "| veraltet | 02.12.2026 | gpu01: abgeschlossen (erzwungen); cpu01: veraltet |" in md
    assert "| Benutzerkonten und Einarbeitung der Anwender | geplant |" in md
    assert row(7, "26–30", "Härtung, TLS, Geheimnisverwaltung, Abnahme", "nur Probelauf") in md
    assert row("cpu01", "AMD EPYC, 2 Kerne", "23,5 GiB", "keine", "nicht installiert", 0, 2) in md
    assert row("gpu01", 67, "87,6 %", "148 / 21") in md
    assert "Lynis-Härtungsindex" in md
    assert "noch nicht gemessen – führen Sie dazu playbooks/security_audit.yml aus" in md
    assert "vom 03.12.2026" in md and row(7, 1, 0, 2, "nicht bestanden") in md
    assert "| Phase fehlgeschlagen | cpu01 | 2 | capacity plan: cpu01 fails" in md
    assert "| Neustart ausstehend | gpu01 | 3 |" in md
    assert "| Protokolleintrag nicht lesbar | – | – | journal line 7" in md
    assert row("Funktion", "Name", "Datum", "Unterschrift") in md
    assert "| Geschäftsführung | | | |" in md
    # No English report words leaked into the German text, no ISO dates outside the data.
    for english in ("failed |", "pending", "planned", "Sign-off", "not measured"):
        assert english not in md
    assert not re.search(r"\b2026-12-0\d\b", md)


def test_nothing_run_yet_gives_sentences_not_a_crash(tmp_path, playbooks):
    table = StatusTable(inventory="fresh", hosts=["srv01"])
    for lang, expected in (
        ("en", ["Phase 1 (assessment) has not run yet", "Phase 2 (capacity plan) has not run yet",
                "The acceptance tests (phase 7) have not run yet",
                "not measured yet: run playbooks/security_audit.yml",
                "None: no open risks are known.", "Progress: 0 of 7 phases"]),
        ("de", ["Die Bestandsaufnahme (Phase 1) wurde noch nicht durchgeführt",
                "Die Kapazitätsplanung (Phase 2) wurde noch nicht durchgeführt",
                "Die Abnahmetests (Phase 7) wurden noch nicht ausgeführt",
                "Derzeit sind keine offenen Risiken bekannt."]),
    ):  # fmt: skip
        out = write_report(
            table, tmp_path / "missing", lang, tmp_path / lang, playbooks_dir=playbooks
        )
        for path in out:
            text = path.read_text(encoding="utf-8")
            flat = visible_text(text) if path.suffix == ".html" else " ".join(text.split())
            for sentence in expected:
                assert sentence in flat, (path.name, sentence)


def test_unreadable_reports_are_said_so(tmp_path, playbooks):
    reports = tmp_path / "reports"
    (reports / "assessment").mkdir(parents=True)
    (reports / "assessment" / "gpu01.json").write_text("{not json")
    (reports / "plan").mkdir()
    (reports / "plan" / "capacity-plan.json").write_text("[]")
    (reports / "security").mkdir()
    (reports / "security" / "acceptance.xml").write_text("<testsuites><testsuite")
    md = write(tmp_path, "en", reports, playbooks)["md"]
    assert "| gpu01 | unreadable file |" in md and "| cpu01 | not assessed yet |" in md
    assert "reports/plan/capacity-plan.json could not be read." in md
    assert "reports/security/acceptance.xml could not be read:" in md


def test_unknown_language_is_refused_naming_the_languages(tmp_path):
    with pytest.raises(ValueError, match=r"'fr'.*de, en"):
        write_report(status_table(), tmp_path, "fr", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_html_is_escaped_self_contained_and_coloured(tmp_path, reports, playbooks):
    table = status_table()
    table.problems.append("journal line 9: <script>alert(1)</script> & more")
    html = write_report(
        table, reports, "de", tmp_path, generated_at=GENERATED_AT, playbooks_dir=playbooks
    )[1].read_text(encoding="utf-8")
    assert html.startswith('<!DOCTYPE html>\n<html lang="de">')
    assert '<meta charset="utf-8">' in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert not re.search(r"""(?:src|href)\s*=|@import|url\(""", html), "no external resources"
    assert '<span class="state state-failed">fehlgeschlagen</span>' in html
    assert '<span class="state state-planned">geplant</span>' in html
    assert ".state-failed" in html and "Härtungsindex" in html


# --------------------------------------------------------------------------- golden files


@pytest.mark.parametrize("lang", LANGUAGES)
def test_markdown_matches_the_reviewed_golden_file(tmp_path, reports, playbooks, lang):
    md = write(tmp_path, lang, reports, playbooks)["md"]
    golden = GOLDEN / f"rollout-report.{lang}.md"
    if os.environ.get("ONPREM_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(md, encoding="utf-8")
    assert golden.is_file(), f"{golden} missing: run with ONPREM_UPDATE_GOLDEN=1 and review it"
    assert md == golden.read_text(encoding="utf-8"), (
        f"the report differs from {golden.relative_to(ROOT)}; if that is intended, rerun with "
        "ONPREM_UPDATE_GOLDEN=1 and review the diff"
    )


# --------------------------------------------------------------------------- the browser


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: run scripts/ensure-chromium.sh (make browser)")
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=False,
    )  # fmt: skip


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_chromium_renders_the_german_page(tmp_path, reports, playbooks):
    html = write_report(
        status_table(), reports, "de", tmp_path, generated_at=GENERATED_AT, playbooks_dir=playbooks
    )[1]
    url = html.as_uri()
    dumped = chromium("--dump-dom", url, profile=tmp_path / "profile-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    text = visible_text(dumped.stdout)
    for words in ("1. 30-Tage-Plan", "4. Sicherheit und Abnahme", "5. Offene Risiken",
                  "6. Abnahme und Freigabe", "gpu01", "cpu01", "fehlgeschlagen",
                  "Lynis-Härtungsindex", "Geschäftsführung", "Übersprungen",
                  "Stand 04.12.2026"):  # fmt: skip
        assert words in text, words
    assert "Ã" not in text, "umlauts decoded with the wrong charset"
    shot = tmp_path / "report.png"
    taken = chromium(
        f"--screenshot={shot}", "--window-size=1280,2000", url, profile=tmp_path / "profile-shot"
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 50_000, "screenshot missing or blank"
    assert png_size(shot) == (1280, 2000)
