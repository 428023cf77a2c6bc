"""The social agents' batch logic on a real MongoDB, with two workers applying overlapping
batches at once (a partition that moved while its old owner was still writing): every
follow ends at its last command, and every count is its follows'."""

from __future__ import annotations

import itertools
import random
import uuid

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from agents.social.follows import apply_follows, count_followers, ensure_indexes
from picasso.mongo import FOLLOWING, FOLLOWS
from picasso.settings import Settings
from tests.integration.delivery import partition_moved
from tests.integration.test_social_delivery import (
    counts,
    follow_command,
    last_words,
    random_follows,
)
from topics.social import FOLLOW_USER, UNFOLLOW_USER, USER_FOLLOWED, USER_UNFOLLOWED

OFFSETS = itertools.count()


@pytest.fixture
async def db(stack):
    client = AsyncIOMotorClient(Settings.from_env(stack.env()).mongodb_url)
    name = f"social_{uuid.uuid4().hex[:8]}"
    await ensure_indexes(client[name])
    yield client[name]
    await client.drop_database(name)


def positioned(commands):
    """Commands as read off the stream: (record, command, position), in order."""
    return [(FOLLOW_USER if c.type == FOLLOW_USER.type else UNFOLLOW_USER, c, (0, next(OFFSETS)))
            for c in commands]


async def apply(db, commands) -> None:
    """Apply a batch as the follows agent does, then count its facts as the followers agent
    does."""
    caused = await apply_follows(db, [(r, c) for r, c, _ in commands],
                                 positions=[p for _, _, p in commands])
    records = {r.type: r for r in (USER_FOLLOWED, USER_UNFOLLOWED)}
    await count_followers(db, [(records[e.type], e) for [e] in caused])


async def test_an_older_batch_again_changes_nothing(db) -> None:
    ada, bob = "ada", "bob"
    first = positioned([follow_command(bob, ada)])
    second = positioned([follow_command(bob, ada, False)])
    await apply(db, first)
    await apply(db, second)
    await apply(db, first)  # late, from a worker that lost its partitions
    assert await db[FOLLOWS].count_documents(FOLLOWING) == 0
    assert await counts(db, [ada], "followers_count") == {ada: 0}
    assert await counts(db, [bob], "following_count") == {bob: 0}


@pytest.mark.parametrize("seed", range(4))
async def test_two_workers_on_overlapping_batches_at_once_stay_exact(db, seed: int) -> None:
    rng = random.Random(seed)
    people = [f"u{n}" for n in range(8)]
    commands, following, followers = random_follows(seed, people, 400)
    await partition_moved(lambda some: apply(db, some), positioned(commands), rng,
                          (50, 200), 300, (5, 40))
    pairs = {(d["follower_id"], d["followee_id"]) async for d in db[FOLLOWS].find(FOLLOWING)}
    assert pairs == {pair for pair, on in last_words(commands).items() if on}
    assert await counts(db, people, "following_count") == following
    assert await counts(db, people, "followers_count") == followers

