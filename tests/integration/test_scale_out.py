"""Two workers share the reactions partitions; one stops mid-stream and comes back.

No command may be lost or applied twice, and the work must really be shared: each worker's
log shows the batches it applied.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from deploy.local.processes import Worker
from deploy.local.stack import Stack
from picasso.kafka import ensure_topics
from picasso.mongo import LIKE_COUNTS, LIKED, LIKES, REACTIONS_PROCESSED
from picasso.runtime import Inbox
from picasso.settings import Settings
from tests.integration.delivery import send_slowly
from tests.integration.test_reactions_delivery import random_reactions, wait_processed
from topics import REACTIONS_COMMANDS

APPLIED = re.compile(rb'"batch": (\d+)[^\n]*"event": "batch_applied"')  # LOG_FORMAT=json


def applied_by(worker: Worker) -> int:
    """How many commands this worker applied, from its own log (all its runs)."""
    return sum(int(n) for n in APPLIED.findall(worker.log_path.read_bytes()))


@pytest.mark.slow
async def test_two_workers_one_stopped_and_restarted_lose_and_repeat_nothing(
    stack: Stack, system_env: dict[str, str]
) -> None:
    run = uuid.uuid4().hex[:8]
    env = {**system_env, "PICASSO_APP_ID": f"picasso-scale-{run}",
           "PICASSO_TOPIC_PREFIX": f"scale{run}.", "MONGODB_DATABASE": f"scale_{run}",
           "LOG_LEVEL": "debug"}
    settings = Settings.from_env(env)
    assert settings.topic_partitions >= 2
    await ensure_topics(settings)
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    inbox = Inbox(db[REACTIONS_PROCESSED])

    pictures = [f"p{i}-{run}" for i in range(12)]  # keys spread over every partition
    commands, expected = random_reactions(3, pictures, 40, 900)
    ids = {c.id for c in commands}
    topic = REACTIONS_COMMANDS.name(settings.topic_prefix)

    logs = stack.data_dir / "logs"
    first, second = (Worker(f"scale-{n}-{run}", env, logs / f"scale-{n}-{run}.log",
                            stack.data_dir / f"s{n}-{run}", "reactions") for n in (1, 2))
    try:
        for worker in (first, second):
            worker.start()
        for worker in (first, second):
            worker.wait_ready()
        stream = asyncio.create_task(send_slowly(settings.kafka_bootstrap, topic, commands))
        while len(await inbox.applied()) < len(ids) // 4:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        second.stop()  # SIGTERM mid-stream: its partitions go to the first worker
        stopped_at = len(await inbox.applied())
        await asyncio.sleep(8)  # the first worker takes over while the stream goes on
        second.start()
        second.wait_ready()
        await stream
        assert await wait_processed(db, ids, 120) == len(ids)
    finally:
        for worker in (first, second):
            worker.stop()
    assert stopped_at < len(ids), "the stream ended before the worker was stopped"
    # Each applied its share, and together exactly the commands sent (none twice: the
    # counts match the likes).
    assert applied_by(first) > 0 and applied_by(second) > 0
    assert await inbox.applied() == ids
    counts = {d["_id"]: d["like_count"] async for d in db[LIKE_COUNTS].find()}
    assert counts == expected
    for picture in pictures:
        liked = await db[LIKES].count_documents({"picture_id": picture, **LIKED})
        assert liked == expected[picture]
