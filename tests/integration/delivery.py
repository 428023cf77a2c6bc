"""What the delivery tests share: a run of a service isolated in its own topics and
database, and a worker of it killed mid-stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase

from deploy.local.processes import Worker
from deploy.local.stack import Stack
from picasso.kafka import ensure_topics
from picasso.runtime import Inbox
from picasso.settings import Settings
from topics.envelope import CloudEvent
from topics.registry import RECORDS


class Producer:
    """Sends events in order, each to its record's topic (the contract's, under the
    session's prefix), keyed by its subject, or onto one ``partition`` to order them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")

    async def send(self, *events: CloudEvent, partition: int | None = None) -> None:
        for e in events:
            topic = RECORDS[e.type].topic.name(self.settings.topic_prefix)
            await self.kafka.send_and_wait(topic, e.to_json(), key=e.subject.encode(),
                                           partition=partition)


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


async def wait_sent(db: AsyncIOMotorDatabase, inbox: str, command_ids: set[str],
                    timeout_s: float) -> int:
    """How many of ``command_ids`` the ``inbox`` holds as applied and sent, once that is all
    of them or the time is up."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        done = len(command_ids & await Inbox(db[inbox]).applied())
        if done == len(command_ids) or asyncio.get_running_loop().time() > deadline:
            return done
        await asyncio.sleep(0.2)


async def isolated(system_env: dict[str, str], name: str
                   ) -> tuple[str, dict[str, str], Settings, AsyncIOMotorDatabase]:
    """A run id, and the environment, settings and database of a run with its own consumer
    group, topics (created) and database."""
    run = uuid.uuid4().hex[:8]
    env = {**system_env, "PICASSO_APP_ID": f"picasso-{name}-{run}",
           "PICASSO_TOPIC_PREFIX": f"{name}{run}.", "MONGODB_DATABASE": f"{name}_{run}"}
    settings = Settings.from_env(env)
    await ensure_topics(settings)
    return run, env, settings, AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]


async def kill_mid_stream(stack: Stack, env: dict[str, str], name: str, domain: str,
                          inbox: str, commands: list[CloudEvent],
                          then: Callable[[AsyncIOMotorDatabase], Awaitable[None]] | None = None
                          ) -> None:
    """Start a worker of ``domain``, send ``commands`` to it as a steady stream (a batching
    worker could apply them all at once in two batches), SIGKILL it once a quarter are in
    its ``inbox`` (no chance to commit or clean up), let the rest arrive while it is down,
    start it again and wait until every command is applied and its events sent, and then
    for ``then`` (what the worker's other agents do with those events) before it stops."""
    settings = Settings.from_env(env)
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    topic = RECORDS[commands[0].type].topic.name(settings.topic_prefix)
    logs = stack.data_dir / "logs"
    worker = Worker(name, env, logs / f"{name}.log", stack.data_dir / name, domain)
    worker.start()
    try:
        worker.wait_ready()
        trickle = asyncio.create_task(send_slowly(settings.kafka_bootstrap, topic, commands))
        while len(await Inbox(db[inbox]).applied()) < len(commands) // 4:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        worker.kill()
        killed_at = len(await Inbox(db[inbox]).applied())
        await trickle
        assert killed_at < len(commands), "the worker finished before it could be killed"
        worker.start()
        worker.wait_ready()
        assert await wait_sent(db, inbox, {c.id for c in commands}, 120) == len(commands)
        if then is not None:
            await then(db)
    finally:
        worker.stop()


async def partition_moved(apply, log: list, rng, committed_in: tuple[int, int],
                          moved_before: int, sizes: tuple[int, int]) -> None:
    """Apply ``log`` (a partition's commands, in order) as two workers do when the partition
    moves: up to a commit point first, then at the same time the old owner's last batches
    (what it had fetched before the move) and the new owner's, from the commit on, each in
    batches of its own size. ``apply(batch)`` applies one batch."""
    committed = rng.randrange(*committed_in)
    await apply(log[:committed])
    moved_at = rng.randrange(committed, moved_before)

    async def worker(commands: list, size: int) -> None:
        for start in range(0, len(commands), size):
            await apply(commands[start:start + size])

    await asyncio.gather(worker(log[committed:moved_at], rng.randrange(*sizes)),
                         worker(log[committed:], rng.randrange(*sizes)))

