"""The fleet report templates of playbooks/phase1_assess.yml, on the synthetic host trees.

Rendered with Jinja2 the way the template module does (trim_blocks, strict undefined), so
that a template error shows up here and not only in a Molecule run.
"""

import re
import sys
from pathlib import Path

import jinja2
import pytest

from onprem_mlops.hwassess import assess

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "hwassess"
sys.path.insert(0, str(FIXTURES))
from fake_nvml import scenario  # noqa: E402

HOSTS = {
    "gpu01": "healthy-h100",
    "gpu02": "pcie-x8-degraded",
    "gpu03": "gpu-no-driver",
    "cpu01": "no-gpu",
}


@pytest.fixture(scope="module")
def hostvars():
    docs = {h: assess(**scenario(FIXTURES / tree)) for h, tree in HOSTS.items()}
    docs["cpu01"]["benchmarks"] = {
        "disk": {"status": "ok", "write_mbps": 480.5, "read_mbps": 530.1},
        "memory": {"status": "ok", "copy_gbs": 12.3},
        "cpu_matmul": {"status": "skipped", "reason": "numpy is not installed"},
        "gpu": {"status": "skipped", "reason": "PyTorch is not installed"},
    }
    docs["cpu01"]["findings"].append(
        {
            "id": "x-test",
            "severity": "info",
            "message": "<script>alert(1)</script> | pipe",
            "remedy": "none",
        }
    )
    return {h: {"ansible_facts": {"onprem_assessment": d}} for h, d in docs.items()}


def render(name, hostvars):
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "playbooks" / "templates"),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(name).render(
        fleet_hosts=sorted(hostvars), hostvars=hostvars, fleet_rendered_at="2026-01-01 00:00 UTC"
    )


def test_markdown_fleet_report(hostvars):
    text = render("fleet_report.md.j2", hostvars)
    rows = [line for line in text.splitlines() if line.startswith("| gpu01 |")]
    assert rows[0].startswith("| gpu01 | Ubuntu 22.04.4 LTS | 5.15.0-105-generic |")
    assert "| 2 / 16 / 32 (32) | 251.6 | yes | 1 / 1 |" in rows[0]
    gpu02 = r"\| gpu02 \| 0000:3b:00\.0 \| NVIDIA H100 PCIe \| 79\.6 \| .* \| x8/x16 \|"
    assert re.search(gpu02, text)
    assert "H100 PCIe 80GB (not visible to NVML, driver: nouveau)" in text
    assert "10de:2bff (not visible to NVML, driver: none)" in text
    assert "| cpu01 | 480.5 / 530.1 | 12.3 |" in text  # benchmarks table
    assert "\\| pipe" in text  # pipes escaped inside cells
    assert "`gpu-pcie-width-degraded`" in text


def test_html_fleet_report_is_self_contained_and_escaped(hostvars):
    html = render("fleet_report.html.j2", hostvars)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert not re.search(r"""(src|href)=["']https?:""", html)  # no external resources
    assert html.count("<table>") == html.count("</table>") == 6
    assert '<tr class="critical"><td>gpu03</td>' in html
    assert '<td class="warning">x8/x16</td>' in html
