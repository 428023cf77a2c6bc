"""The edge's journal of accepted messages: what replay puts back, in which order."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from web.journal import Journal, entries, prune


def test_entries_come_back_oldest_first_across_edges(tmp_path: Path) -> None:
    first = Journal(tmp_path, retention_s=3600)
    first.record("t.picasso.reactions.commands", b"p1", b'{"id": "a"}')
    # A second edge process writes its own file.
    second = Journal(tmp_path, retention_s=3600)
    second._name = "edge-other"
    second.record("t.picasso.reactions.commands", b"p2", b'{"id": "b"}')
    first.record("t.picasso.users.events", b"u1", b'{"id": "c"}')
    first.close()
    second.close()
    found = entries(tmp_path, since=0)
    assert [json.loads(e["value"])["id"] for e in found] == ["a", "b", "c"]
    assert [(e["topic"], e["key"]) for e in found][0] == ("t.picasso.reactions.commands", "p1")
    assert entries(tmp_path, since=time.time() + 1) == []


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path, retention_s=3600)
    journal.record("t.x", b"k", b'{"id": "whole"}')
    journal.close()
    [path] = tmp_path.glob("*.jsonl")
    with path.open("a") as file:
        file.write('{"t": 1, "topic": "t.x", "ke')  # the edge died mid-write, unanswered
    assert [json.loads(e["value"])["id"] for e in entries(tmp_path, since=0)] == ["whole"]


def test_files_older_than_the_retention_are_removed(tmp_path: Path) -> None:
    old, recent = tmp_path / "edge-1-2026010100.jsonl", tmp_path / "edge-1-2026120200.jsonl"
    old.write_text("{}\n")
    recent.write_text("{}\n")
    two_hours_ago = time.time() - 7200 - 60
    os.utime(old, (two_hours_ago, two_hours_ago))
    prune(tmp_path, retention_s=3600)
    assert not old.exists() and recent.exists()
