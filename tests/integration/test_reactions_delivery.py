"""Exact like counts under duplicate delivery and under a worker killed mid-stream."""

from __future__ import annotations

import random
import uuid

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from deploy.local.stack import Stack
from picasso.mongo import LIKE_COUNTS, LIKED, LIKES, REACTIONS_PROCESSED
from picasso.settings import Settings
from tests.integration.delivery import isolated, kill_mid_stream, send_all, wait_sent
from topics import REACTIONS_COMMANDS
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE, UNLIKE_PICTURE


def like_command(picture_id: str, user_id: str, like: bool = True) -> CloudEvent:
    record = LIKE_PICTURE if like else UNLIKE_PICTURE
    return CloudEvent(type=record.type, subject=picture_id, source="/tests",
                      data={"picture_id": picture_id, "user_id": user_id})


def random_reactions(seed: int, pictures: list[str], users: int,
                     n: int) -> tuple[list[CloudEvent], dict[str, int]]:
    """``n`` likes and unlikes by random users of ``pictures``, and each picture's count
    once all are applied (the last word of each user on each picture counts)."""
    rng = random.Random(seed)
    commands: list[CloudEvent] = []
    last: dict[tuple[str, str], bool] = {}
    for _ in range(n):
        picture, user = rng.choice(pictures), f"u{rng.randrange(users)}"
        is_like = rng.random() < 0.7
        commands.append(like_command(picture, user, is_like))
        last[(picture, user)] = is_like
    expected = {p: sum(1 for (q, _), liked in last.items() if q == p and liked)
                for p in pictures}
    return commands, expected


async def wait_processed(db, command_ids: set[str], timeout_s: float) -> int:
    return await wait_sent(db, REACTIONS_PROCESSED, command_ids, timeout_s)


async def test_duplicate_delivery_counts_once(system: str, settings: Settings) -> None:
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    picture_id = f"dup-{uuid.uuid4().hex}"
    like = like_command(picture_id, "user-a")
    again = like_command(picture_id, "user-a")  # a second like by the same user: new id
    other = like_command(picture_id, "user-b")
    topic = REACTIONS_COMMANDS.name(settings.topic_prefix)
    await send_all(settings.kafka_bootstrap, topic, [like, like, again, other, other])
    assert await wait_processed(db, {like.id, again.id, other.id}, 20) == 3
    counts = await db[LIKE_COUNTS].find_one({"_id": picture_id})
    assert counts["like_count"] == 2
    assert await db[LIKES].count_documents({"picture_id": picture_id, **LIKED}) == 2


@pytest.mark.slow
async def test_worker_killed_mid_stream_loses_and_repeats_nothing(
    stack: Stack, system_env: dict[str, str]
) -> None:
    run, env, _, db = await isolated(system_env, "crash")
    pictures = [f"p{i}-{run}" for i in range(8)]
    commands, expected = random_reactions(7, pictures, 30, 600)
    await kill_mid_stream(stack, env, f"crash-{run}", "reactions", REACTIONS_PROCESSED, commands)
    counts = {d["_id"]: d["like_count"] async for d in db[LIKE_COUNTS].find()}
    assert counts == {p: n for p, n in expected.items() if p in counts}
    assert set(counts) == {c.data["picture_id"] for c in commands}  # every picture touched
    for picture in pictures:
        liked = await db[LIKES].count_documents({"picture_id": picture, **LIKED})
        assert liked == expected[picture]
