"""The progress display follows ansible-runner's events."""

from __future__ import annotations

import io

from onprem_mlops.rollout.runner import Progress


def event(name: str, **data) -> dict:
    return {"event": name, "event_data": data}


EVENTS = [
    event("playbook_on_task_start", task="Install essential packages"),
    event("runner_on_ok", host="srv", task="Install essential packages", res={"changed": True}),
    event("runner_on_ok", host="gpu", task="Install essential packages", res={"changed": False}),
    event("playbook_on_task_start", task="Set the time zone"),
    event(
        "runner_on_failed",
        host="gpu",
        task="Set the time zone",
        res={"msg": "unknown time zone\nmore detail"},
    ),
    event("runner_on_failed", host="srv", task="Probe", ignore_errors=True, res={"msg": "x"}),
    event(
        "playbook_on_stats",
        ok={"srv": 2, "gpu": 1},
        changed={"srv": 1},
        failures={"gpu": 1},
        processed={"srv": 1, "gpu": 1},
    ),
]


def test_plain_mode_prints_a_line_per_task_and_each_failure():
    out = io.StringIO()
    progress = Progress("base", out=out, plain=True)
    assert all(progress.handle(e) for e in EVENTS)  # every event stays in the artifacts
    lines = out.getvalue().splitlines()
    assert [line.split(" ", 1)[1] for line in lines if "base:" in line] == [
        "base: Install essential packages", "base: Set the time zone",
    ]  # fmt: skip
    assert "  FAILED gpu: Set the time zone: unknown time zone" in lines
    assert "\r" not in out.getvalue()
    assert progress.failures == {"gpu": "Set the time zone: unknown time zone"}  # ignored: no
    assert progress.changed_tasks == {"srv": ["Install essential packages"]}
    assert progress.done_hosts == {"srv"}
    assert progress.stats["failures"] == {"gpu": 1}


def test_on_a_terminal_one_status_line_is_rewritten():
    out = io.StringIO()
    progress = Progress("base", out=out, plain=False)
    for e in EVENTS:
        progress.handle(e)
    progress.finish()
    text = out.getvalue()
    assert text.count("\r\033[K[base ") >= 4
    assert "task 1: Install essential packages" in text and "2 host(s) answered" in text
    assert "Set the time zone" in text and "hosts done 1, failed 1" in text
    assert text.endswith("\n")
