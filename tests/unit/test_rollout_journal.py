"""The rollout journal: whole lines, unreadable lines named and skipped, the lock."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from onprem_mlops.rollout.journal import Journal, JournalLocked


def start(run: str = "r1", phase: str = "base", hosts: tuple[str, ...] = ("h1",)) -> dict:
    return {"event": "start", "run": run, "phase": phase, "hosts": list(hosts), "start": "t0"}


def result(run: str = "r1", phase: str = "base", host: str = "h1", outcome: str = "done") -> dict:
    return {"event": "result", "run": run, "phase": phase, "host": host, "result": outcome}


def test_entries_are_appended_as_whole_lines_in_order(tmp_path):
    journal = Journal(tmp_path / "journal", "site")
    journal.append(start())
    journal.append(result(), result(host="h2"))
    lines = journal.path.read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["start", "result", "result"]
    assert all(json.loads(line)["v"] == 1 for line in lines)
    entries, problems = journal.read()
    assert problems == [] and [e.get("host") for e in entries] == [None, "h1", "h2"]


def test_a_line_that_does_not_parse_is_named_and_the_rest_is_read(tmp_path):
    journal = Journal(tmp_path, "site")
    journal.append(start())
    with journal.path.open("a") as handle:
        handle.write('{"event": "result", "run": "r1"\n')  # cut short by a crash of old
        handle.write('{"event": "result", "run": "r1", "phase": "base", "host": "h1", '
                     '"result": "maybe"}\n')  # fmt: skip
        handle.write("[1, 2]\n")
    journal.append(result())
    entries, problems = journal.read()
    assert [e["event"] for e in entries] == ["start", "result"]
    assert len(problems) == 3
    assert "line 2: not JSON" in problems[0]
    assert "line 3: result 'maybe' is not one of done, failed, check, interrupted" in problems[1]
    assert "line 4: not a JSON object" in problems[2]


def test_a_missing_journal_reads_as_empty(tmp_path):
    assert Journal(tmp_path / "none", "site").read() == ([], [])


def _hold(directory: str, ready, release) -> None:
    journal = Journal(Path(directory), "site")
    with journal.lock("pid 1, alice@ctl, phase base"):
        ready.set()
        release.wait(30)


def test_a_second_run_on_the_same_inventory_is_refused_while_the_first_holds_the_lock(tmp_path):
    journal = Journal(tmp_path, "site")
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        assert journal.holder() == "pid 1, alice@ctl, phase base"
        with (
            pytest.raises(JournalLocked, match=r"alice@ctl, phase base.*wait for it"),
            journal.lock("me"),
        ):
            pass
    finally:
        release.set()
        holder.join(30)
    assert journal.holder() is None
    with journal.lock("me"):  # free again once the first run ended
        assert journal.lock_path.read_text() == "me"
    assert journal.lock_path.read_text() == ""


def test_the_journal_file_is_not_world_writable(tmp_path):
    journal = Journal(tmp_path, "site")
    journal.append(start())
    assert not journal.path.stat().st_mode & 0o022
