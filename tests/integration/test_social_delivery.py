"""Exact follow counts under duplicate delivery and under a worker killed mid-stream."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from deploy.local.stack import Stack
from picasso.mongo import FOLLOWING, FOLLOWS, SOCIAL_COUNTED, SOCIAL_COUNTS, SOCIAL_PROCESSED
from picasso.settings import Settings
from tests.integration.delivery import isolated, kill_mid_stream, send_all, wait_sent
from topics import SOCIAL_COMMANDS
from topics.envelope import CloudEvent, derived_id
from topics.social import FOLLOW_USER, UNFOLLOW_USER, USER_FOLLOWED, USER_UNFOLLOWED


def follow_command(follower: str, followee: str, follow: bool = True) -> CloudEvent:
    record = FOLLOW_USER if follow else UNFOLLOW_USER
    return CloudEvent(type=record.type, subject=follower, source="/tests",
                      data={"follower_id": follower, "followee_id": followee})


def last_words(commands: list[CloudEvent]) -> dict[tuple[str, str], bool]:
    """Whether each pair the commands name follows, by the last command about it."""
    return {(c.data["follower_id"], c.data["followee_id"]): c.type == FOLLOW_USER.type
            for c in commands}


def random_follows(seed: int, people: list[str], n: int
                   ) -> tuple[list[CloudEvent], dict[str, int], dict[str, int]]:
    """``n`` follows and unfollows among ``people``, and each person's following and
    followers counts once all are applied (the last word on each pair counts)."""
    rng = random.Random(seed)
    commands = [follow_command(*rng.sample(people, 2), rng.random() < 0.7) for _ in range(n)]
    last = last_words(commands)
    following = {p: sum(1 for (a, _), on in last.items() if a == p and on) for p in people}
    followers = {p: sum(1 for (_, b), on in last.items() if b == p and on) for p in people}
    return commands, following, followers


async def counts(db, people: list[str], field: str) -> dict[str, int]:
    found = db[SOCIAL_COUNTS].find({"_id": {"$in": people}})
    return {doc["_id"]: doc.get(field, 0) async for doc in found}


async def settled_counts(db, people: list[str], field: str, expected: dict[str, int],
                         timeout_s: float) -> dict[str, int]:
    """``field`` of each person once it equals ``expected`` (the followers agent counts a
    moment after the follows agent), or as it is when the time is up."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        now = await counts(db, people, field)
        if now == expected or asyncio.get_running_loop().time() > deadline:
            return now
        await asyncio.sleep(0.2)


async def test_duplicate_delivery_counts_once(system: str, settings: Settings) -> None:
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    ada, bob, cy = (f"{name}-{uuid.uuid4().hex}" for name in ("ada", "bob", "cy"))
    follow = follow_command(bob, ada)
    again = follow_command(bob, ada)  # the same follow as a new command
    other = follow_command(cy, ada)
    topic = SOCIAL_COMMANDS.name(settings.topic_prefix)
    await send_all(settings.kafka_bootstrap, topic, [follow, follow, again, other, other])
    assert await wait_sent(db, SOCIAL_PROCESSED, {follow.id, again.id, other.id}, 20) == 3
    assert await settled_counts(db, [ada], "followers_count", {ada: 2}, 20) == {ada: 2}
    assert await counts(db, [bob, cy], "following_count") == {bob: 1, cy: 1}
    assert await db[FOLLOWS].count_documents({"followee_id": ada, **FOLLOWING}) == 2


@pytest.mark.slow
async def test_worker_killed_mid_stream_loses_and_repeats_nothing(
    stack: Stack, system_env: dict[str, str]
) -> None:
    run, env, _, db = await isolated(system_env, "social")
    people = [f"u{i}-{run}" for i in range(12)]
    commands, following, followers = random_follows(11, people, 600)
    # The facts the follows tell, each counted by the followers agent of the same worker:
    # it stops only once they all are (the follows alone being applied is not the end).
    facts = {derived_id(c.id, (USER_FOLLOWED if c.type == FOLLOW_USER.type
                               else USER_UNFOLLOWED).type) for c in commands}

    async def all_counted(db) -> None:
        assert await wait_sent(db, SOCIAL_COUNTED, facts, 120) == len(facts)

    await kill_mid_stream(stack, env, f"social-crash-{run}", "social", SOCIAL_PROCESSED,
                          commands, then=all_counted)
    # The follows themselves first, pair by pair: a wrong count then tells whether the
    # follows or only their counting went wrong.
    pairs = {(d["follower_id"], d["followee_id"]) async for d in db[FOLLOWS].find(FOLLOWING)}
    assert pairs == {(a, b) for (a, b), on in last_words(commands).items() if on}
    assert await counts(db, people, "followers_count") == followers
    assert await counts(db, people, "following_count") == following
