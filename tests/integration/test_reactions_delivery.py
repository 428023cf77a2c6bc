"""Exact like counts under duplicate delivery and under a worker killed mid-stream."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from motor.motor_asyncio import AsyncIOMotorClient

from deploy.local.processes import Worker
from deploy.local.stack import Stack
from picasso.kafka import ensure_topics
from picasso.mongo import LIKE_COUNTS, LIKES, REACTIONS_PROCESSED
from picasso.settings import Settings
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


async def send_all(bootstrap: str, topic: str, commands: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(topic, c.to_json(), key=c.subject.encode())
                for c in commands]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def send_slowly(bootstrap: str, topic: str, commands: list[CloudEvent]) -> None:
    """Send in small chunks over a few seconds."""
    for start in range(0, len(commands), 20):
        await send_all(bootstrap, topic, commands[start:start + 20])
        await asyncio.sleep(0.1)


async def wait_processed(db, command_ids: set[str], timeout_s: float) -> int:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        done = await db[REACTIONS_PROCESSED].count_documents(
            {"_id": {"$in": list(command_ids)}, "sent": True})
        if done == len(command_ids) or asyncio.get_running_loop().time() > deadline:
            return done
        await asyncio.sleep(0.2)


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
    assert await db[LIKES].count_documents({"picture_id": picture_id}) == 2


@pytest.mark.slow
async def test_worker_killed_mid_stream_loses_and_repeats_nothing(
    stack: Stack, system_env: dict[str, str]
) -> None:
    run = uuid.uuid4().hex[:8]
    env = {**system_env, "PICASSO_APP_ID": f"picasso-crash-{run}",
           "PICASSO_TOPIC_PREFIX": f"crash{run}.", "MONGODB_DATABASE": f"crash_{run}"}
    settings = Settings.from_env(env)
    await ensure_topics(settings)
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]

    pictures = [f"p{i}-{run}" for i in range(8)]
    commands, expected = random_reactions(7, pictures, 30, 600)
    topic = REACTIONS_COMMANDS.name(settings.topic_prefix)

    logs = stack.data_dir / "logs"
    worker = Worker(f"crash-{run}", env, logs / f"crash-{run}.log", stack.data_dir / f"c-{run}",
                    "reactions")
    worker.start()
    try:
        worker.wait_ready()
        # A steady stream (the worker applies batches, so all at once could be done in two).
        trickle = asyncio.create_task(send_slowly(settings.kafka_bootstrap, topic, commands))
        ids = {c.id for c in commands}
        while await db[REACTIONS_PROCESSED].count_documents({}) < len(ids) // 4:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        worker.kill()  # SIGKILL mid-stream: no chance to commit or clean up
        killed_at = await db[REACTIONS_PROCESSED].count_documents({})
        await trickle  # the rest arrives while the worker is down
        assert killed_at < len(ids), "the worker finished before it could be killed"
        worker.start()
        worker.wait_ready()
        assert await wait_processed(db, ids, 120) == len(ids)
    finally:
        worker.stop()
    counts = {d["_id"]: d["like_count"] async for d in db[LIKE_COUNTS].find()}
    assert counts == {p: n for p, n in expected.items() if p in counts}
    assert set(counts) == {c.data["picture_id"] for c in commands}  # every picture touched
    for picture in pictures:
        assert await db[LIKES].count_documents({"picture_id": picture}) == expected[picture]
