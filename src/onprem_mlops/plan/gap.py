"""The gap report: every host against its assigned profiles, with a pass/fail gate."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from . import evaluate
from .profiles import Profile, ProfileError
from .resources import from_assessment

SCHEMA_VERSION = "1.0"
HOST_STATUSES = ("fail", "incomplete", "pass", "not_planned")


def _host(doc: dict[str, Any] | None, profiles: list[Profile]) -> dict[str, Any]:
    if not profiles:
        return {
            "status": "not_planned",
            "profiles": {},
            "health": [],
            "recommendations": ["assign workload profiles (plan_workload_profiles)"],
        }
    if doc is None:
        return {
            "status": "fail",
            "profiles": {},
            "health": [],
            "recommendations": ["no assessment found: run playbooks/phase1_assess.yml"],
        }
    resources = from_assessment(doc)
    results = {p.name: evaluate.evaluate_profile(resources, p) for p in profiles}
    health, blocking = evaluate.health(doc)
    recommendations = []
    for status in ("fail", "unknown", "below_recommended"):
        for name, result in results.items():
            recommendations += [
                f"[{name}] {c['recommendation']}"
                for c in result["checks"]
                if c["status"] == status and c["recommendation"]
            ]
    recommendations += [f"{f['message']}: {f['remedy']}" for f in health]
    statuses = {r["status"] for r in results.values()}
    if "fail" in statuses or blocking:
        status = "fail"
    elif "unknown" in statuses:
        status = "incomplete"
    else:
        status = "pass"
    return {
        "status": status,
        "hostname": (doc.get("host") or {}).get("hostname"),
        "assessed_at": doc.get("generated_at"),
        "profiles": results,
        "health": health,
        "blocking_health": blocking,
        "recommendations": list(dict.fromkeys(recommendations)),
    }


def resolve(
    assignments: Mapping[str, Sequence[str]],
    profiles: Mapping[str, Profile],
    origin: str = "plan_workload_profiles",
) -> dict[str, list[Profile]]:
    resolved: dict[str, list[Profile]] = {}
    for host, names in assignments.items():
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ProfileError(
                f"host {host}: {origin} must be a list of profile names, got {names!r}"
            )
        unknown = [n for n in names if n not in profiles]
        if unknown:
            raise ProfileError(
                f"host {host}: unknown workload profile {unknown[0]!r} (from {origin}); "
                f"known: {', '.join(sorted(profiles))}"
            )
        resolved[host] = [profiles[n] for n in dict.fromkeys(names)]
    return resolved


def build(
    assessments: Mapping[str, dict[str, Any]],
    assigned: Mapping[str, list[Profile]],
) -> dict[str, Any]:
    hosts = sorted(set(assessments) | set(assigned))
    results = {h: _host(assessments.get(h), assigned.get(h, [])) for h in hosts}
    used = {p.name: p for plist in assigned.values() for p in plist}
    summary: dict[str, Any] = {
        s: sum(1 for r in results.values() if r["status"] == s) for s in HOST_STATUSES
    }
    summary["failed_hosts"] = [h for h, r in results.items() if r["status"] == "fail"]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tolerance": evaluate.TOLERANCE,
        "profiles": {n: _profile_dict(p) for n, p in sorted(used.items())},
        "hosts": results,
        "summary": summary,
    }


def _profile_dict(profile: Profile) -> dict[str, Any]:
    data = dataclasses.asdict(profile)
    data.pop("name")
    return data
