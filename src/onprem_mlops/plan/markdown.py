"""Markdown rendering of the gap report."""

from __future__ import annotations

from typing import Any

MARK = {
    "pass": "PASS",
    "fail": "FAIL",
    "incomplete": "INCOMPLETE",
    "not_planned": "NOT PLANNED",
    "below_recommended": "below recommended",
    "unknown": "unknown",
}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def render(plan: dict[str, Any]) -> str:
    summary = plan["summary"]
    lines = [
        "# Capacity plan and gap report",
        "",
        f"Generated {plan['generated_at']}. A figure meets a requirement at "
        f"{plan['tolerance']:.0%} of it. Hosts: {summary['pass']} pass, {summary['fail']} fail, "
        f"{summary['incomplete']} incomplete, {summary['not_planned']} without profiles.",
        "",
        "| Host | Result | Profiles | Recommendations |",
        "|---|---|---|---|",
    ]
    for host, result in plan["hosts"].items():
        lines.append(
            f"| {_cell(host)} | {MARK[result['status']]} | "
            f"{_cell(list(result['profiles']))} | {len(result['recommendations'])} |"
        )
    for host, result in plan["hosts"].items():
        lines += ["", f"## {host}: {MARK[result['status']]}", ""]
        for name, profile in result["profiles"].items():
            lines += [
                f"### {name}: {MARK[profile['status']]} ({profile['title']})",
                "",
                "| Resource | Minimum | Recommended | Measured | Result |",
                "|---|---|---|---|---|",
            ]
            for c in profile["checks"]:
                lines.append(
                    f"| {c['resource']} | {_cell(c['minimum'])} | "
                    f"{_cell(c['recommended'])} | {_cell(c['measured'])} | "
                    f"{MARK[c['status']]} |"
                )
            lines.append("")
        if result["recommendations"]:
            lines += ["Recommendations:", ""]
            lines += [f"- {_cell(r)}" for r in result["recommendations"]]
    lines += ["", "## Profiles used", ""]
    for name, profile in plan["profiles"].items():
        lines += [
            f"### {name}: {profile['title']}",
            "",
            f"Source: `{profile['source']}`",
            "",
            profile["sizing_rule"],
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
