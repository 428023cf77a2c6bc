"""The reactions agent's batch logic on a real MongoDB: last word per (picture, user),
counts equal to the likers, a batch applied twice (a redelivery) changing nothing, a
popular picture's other likes never read, a batch cut short by a crash counted once, and
two workers applying overlapping batches at once (a partition that moved) exact."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import uuid

import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import monitoring

from agents.reactions.likes import apply_reactions, ensure_indexes
from picasso.failpoints import ENV as FAILPOINTS
from picasso.mongo import LIKE_COUNTS, LIKED, LIKES
from picasso.settings import Settings
from tests.integration.delivery import partition_moved
from tests.integration.test_reactions_delivery import like_command
from topics.reactions import LIKE_PICTURE, UNLIKE_PICTURE

# Offsets as the stream gives them: every command a later one than the last.
OFFSETS = itertools.count()


@pytest.fixture
def url(stack) -> str:
    return Settings.from_env(stack.env()).mongodb_url


@pytest.fixture
async def db(url):
    client = AsyncIOMotorClient(url)
    name = f"reactions_{uuid.uuid4().hex[:8]}"
    await ensure_indexes(client[name])
    yield client[name]
    await client.drop_database(name)


def batch(*steps: tuple[str, str, bool]):
    """Commands as read off the stream: (record, command, position), in order."""
    out = []
    for picture, user, like in steps:
        command = like_command(picture, user, like)
        out.append((LIKE_PICTURE if like else UNLIKE_PICTURE, command, (0, next(OFFSETS))))
    return out


async def apply(db, commands):
    """Apply a batch as the agent does, with each command's position."""
    return await apply_reactions(db, [(r, c) for r, c, _ in commands],
                                 positions=[p for _, _, p in commands])


async def state(db) -> tuple[dict, set]:
    counts = {d["_id"]: d["like_count"] async for d in db[LIKE_COUNTS].find()}
    likes = {(d["picture_id"], d["user_id"]) async for d in db[LIKES].find(LIKED)}
    return counts, likes


async def test_the_last_word_per_user_wins_and_counts_follow(db) -> None:
    first = batch(("a", "u1", True), ("a", "u2", True), ("b", "u1", True), ("a", "u1", True))
    caused = await apply(db, first)
    assert [e.data["like_count"] for [e] in caused] == [2, 2, 1, 2]
    second = batch(("a", "u1", False), ("a", "u3", True), ("a", "u3", False),
                   ("b", "u2", False), ("b", "u2", True), ("c", "u9", False))
    await apply(db, second)
    counts, likes = await state(db)
    assert counts == {"a": 1, "b": 2, "c": 0}
    assert likes == {("a", "u2"), ("b", "u1"), ("b", "u2")}
    # The same batch again, as after a crash before the inbox recorded it: no change.
    again = await apply(db, second)
    assert await state(db) == (counts, likes)
    assert {e.data["picture_id"]: e.data["like_count"] for [e] in again} == counts
    # An older batch again (a worker that lost its partitions, late): no change either.
    await apply(db, first)
    assert await state(db) == (counts, likes)


class Reads(monitoring.CommandListener):
    """The documents the server answered from one collection's finds (command monitor)."""

    def __init__(self, collection: str) -> None:
        self.collection = collection
        self.documents = 0

    def started(self, event) -> None:
        pass

    def succeeded(self, event) -> None:
        if event.command_name in ("find", "getMore", "aggregate"):
            cursor = event.reply.get("cursor", {})
            if cursor.get("ns", "").endswith(f".{self.collection}"):
                self.documents += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))

    def failed(self, event) -> None:
        pass


async def test_a_popular_picture_is_not_read_whole(db, url: str) -> None:
    """The batch reads its own (picture, user) pairs, not the picture's other likes, and
    changes the count by its real changes only."""
    popular = 2_000
    await db[LIKES].insert_many([{"picture_id": "hot", "user_id": f"old{n}", "liked_at": "t"}
                                 for n in range(popular)])
    await db[LIKE_COUNTS].insert_one({"_id": "hot", "like_count": popular})
    reads = Reads(LIKES)
    client = AsyncIOMotorClient(url, event_listeners=[reads])
    watched = client[db.name]
    steps = ([("hot", f"new{n}", True) for n in range(30)]  # 30 new likes
             + [("hot", f"old{n}", True) for n in range(10)]  # liked already: no change
             + [("hot", f"old{n}", False) for n in range(10, 20)]  # 10 unlikes
             + [("hot", f"never{n}", False) for n in range(5)])  # not liked: no change
    caused = await apply(watched, batch(*steps))
    assert reads.documents <= len(steps), reads.documents
    assert reads.documents > 0  # the monitor sees the pairs that are there
    expected = popular + 30 - 10
    assert {e.data["like_count"] for [e] in caused} == {expected}
    assert (await db[LIKE_COUNTS].find_one({"_id": "hot"}))["like_count"] == expected
    assert await db[LIKES].count_documents({"picture_id": "hot", **LIKED}) == expected
    client.close()


CRASH = """
import asyncio, json, sys
from motor.motor_asyncio import AsyncIOMotorClient
from agents.reactions.likes import apply_reactions
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE, UNLIKE_PICTURE
url, name = sys.argv[1:3]
given = json.load(sys.stdin)
records = {r.type: r for r in (LIKE_PICTURE, UNLIKE_PICTURE)}
commands = [CloudEvent.from_dict(c) for c, _ in given]
asyncio.run(apply_reactions(AsyncIOMotorClient(url)[name],
                            [(records[c.type], c) for c in commands],
                            positions=[tuple(p) for _, p in given]))
"""


@pytest.mark.parametrize("failpoint", ["reactions.after_counts_claimed",
                                       "reactions.after_likes_written"])
async def test_a_batch_redelivered_after_a_crash_half_way_counts_once(
        db, url: str, failpoint: str) -> None:
    """A worker killed (SIGKILL at a failpoint) after claiming a batch's counts, before or
    after writing its likes; the batch redelivered to the next worker: every count exact."""
    await apply(db, batch(("a", "u1", True), ("a", "u2", True), ("b", "u1", True)))
    second = batch(("a", "u3", True), ("a", "u1", False), ("b", "u2", True), ("b", "u3", True),
                   ("c", "u1", True), ("a", "u2", True))
    crashed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", CRASH, url, db.name],
        input=json.dumps([(c.to_dict(), p) for _, c, p in second]), text=True,
        capture_output=True, env={**os.environ, FAILPOINTS: failpoint}, timeout=120)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    # Half-way: the counts are claimed (their new values, the writes pending beside them).
    assert {d["_id"]: d["like_count"] async for d in db[LIKE_COUNTS].find()} == {
        "a": 2, "b": 3, "c": 1}
    assert await db[LIKE_COUNTS].count_documents({"pending": {"$exists": True}}) == 3
    written = {(d["picture_id"], d["user_id"]) async for d in db[LIKES].find(LIKED)}
    if failpoint == "reactions.after_counts_claimed":
        assert written == {("a", "u1"), ("a", "u2"), ("b", "u1")}  # as before the batch
    else:
        assert written == {("a", "u2"), ("a", "u3"), ("b", "u1"), ("b", "u2"), ("b", "u3"),
                           ("c", "u1")}
    again = await apply(db, second)  # the redelivery
    counts, likes = await state(db)
    assert likes == {("a", "u2"), ("a", "u3"), ("b", "u1"), ("b", "u2"), ("b", "u3"),
                     ("c", "u1")}
    assert counts == {"a": 2, "b": 3, "c": 1}
    assert {e.data["picture_id"]: e.data["like_count"] for [e] in again} == counts
    assert await db[LIKE_COUNTS].count_documents({"pending": {"$exists": True}}) == 0
    await apply(db, second)  # and once more: nothing changes
    assert await state(db) == (counts, likes)


@pytest.mark.parametrize("seed", range(6))
async def test_two_workers_on_overlapping_batches_at_once_stay_exact(db, seed: int) -> None:
    """A partition moved: the worker that lost it is still applying its last batches while
    the one that took it applies the same commands again from the last commit, on, at the
    same time (each in batches of its own size). Every pair ends at its last command, every
    count equals its likers: nothing the slower worker wrote late undid a newer command."""
    rng = random.Random(seed)
    pictures, users = [f"p{n}" for n in range(4)], [f"u{n}" for n in range(12)]
    log = batch(*[(rng.choice(pictures), rng.choice(users), rng.random() < 0.6)
                  for _ in range(600)])
    await partition_moved(lambda some: apply(db, some), log, rng, (100, 300), 450, (5, 60))
    last = {}
    for record, command, _ in log:
        last[(command.data["picture_id"], command.data["user_id"])] = record is LIKE_PICTURE
    expected = {(p, u) for (p, u), liked in last.items() if liked}
    counts, likes = await state(db)
    assert likes == expected
    assert counts == {p: sum(1 for q, _ in expected if q == p) for p in pictures}
    assert await db[LIKE_COUNTS].count_documents({"pending": {"$exists": True}}) == 0


async def test_a_pair_made_after_it_was_read_is_decided_by_its_version(db) -> None:
    """A pair read as absent is inserted; if another writer made it meanwhile, the insert
    hits its key and the write is made again under the version guard: over an older state
    it lands, under a newer one it changes nothing (and the other pairs of the batch are
    inserted either way)."""
    from agents.reactions.likes import _write_states
    from picasso.versions import NONE

    at = "2026-12-04T10:00:00.000Z"
    older, ours, newer = (f"{at}|{n:020d}" for n in (1, 2, 3))
    await db[LIKES].insert_many([
        {"picture_id": "a", "user_id": "stale", "liked": False, "version": older},
        {"picture_id": "a", "user_id": "fresh", "liked": False, "version": newer}])
    await _write_states(db[LIKES], [
        ("a", {"u": user, "liked": True, "v": ours, "held": NONE, "at": at})
        for user in ("stale", "fresh", "new")])
    found = {d["user_id"]: (d["liked"], d["version"]) async for d in db[LIKES].find()}
    assert found == {"stale": (True, ours), "fresh": (False, newer), "new": (True, ours)}
