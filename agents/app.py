"""The one Faust app of Picasso's workers: ``faust -A agents.app worker -l info``.

Each domain package (uploads, reactions, purchases, mail, users) registers its agents on
this app when it is imported at the bottom of this module.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Awaitable, Callable, TypeVar

import faust
import structlog

import agents.lag
from agents.runtime import Agent, Inbox, Message, Resources
from picasso.logging import configure as configure_logging
from picasso.mongo import INBOXES
from picasso.settings import Settings, SettingsError
from topics import Topic
from topics.envelope import utc_stamp

try:
    settings = Settings.from_env()
except SettingsError as exc:
    # Every command of this app (worker, lag, resend) stops here, before it connects.
    raise SystemExit(str(exc)) from None
configure_logging(settings)
log = structlog.get_logger()

app = faust.App(
    settings.app_id,
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="memory://",
    # Records are CloudEvents JSON that agents parse themselves, so that a message that
    # does not parse goes to the dead-letter topic instead of stopping the stream.
    key_serializer="raw",
    value_serializer="raw",
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=1,
    # Faust's 60 s default makes every group join wait ~30 s on the local broker.
    broker_session_timeout=6.0,
    broker_heartbeat_interval=1.0,
    broker_rebalance_timeout=20.0,
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    web_enabled=False,
)


T = TypeVar("T")


def opened_once(open_: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    """A getter that opens something on its first call and hands every caller the same one.

    Agents start concurrently, so the first call holds a lock while it opens."""
    lock = asyncio.Lock()
    held: list[T] = []

    async def get() -> T:
        async with lock:
            if not held:
                held.append(await open_())
        return held[0]

    return get


# The worker's stores, opened on first use and shared by its agents.
resources = opened_once(lambda: Resources.open(settings))


async def send(topic: str, key: bytes, value: bytes) -> None:
    """Produce one message and wait until the broker has it.

    Our own aiokafka producer rather than Faust's: Faust's buffered send resolves its
    future only on the producer's periodic flush, which capped an agent at a few
    messages a second when it waits for each acknowledgement.
    """
    bus = (await resources()).bus
    await bus.send_raw(topic, key, value)


# A batching agent takes what has arrived, up to this many messages, waiting at most this long.
BATCH_MAX = 2000
BATCH_WITHIN_S = 0.02
# Agents that handle one message at a time still take what has arrived in small batches
# (so acknowledging stays in our hands), and handle those one by one.
SINGLE_MAX = 100
# How often each worker sends events that were recorded but never sent, and how old such a
# record must be (younger ones belong to a handler that is sending them right now).
OUTBOX_SWEEP_INTERVAL_S = 5.0
OUTBOX_SWEEP_AGE_S = 5.0

# Every agent with an outbox, for the sweeper.
_domains: list[Agent] = []


async def consume(stream: faust.StreamT, domain: Agent) -> None:
    """Feed the messages of a Faust stream to ``domain``; the body of every agent.

    Messages are acknowledged here, and only after ``domain`` has applied or dead-lettered
    them: Faust's own ``take``/``take_events`` acknowledge a batch even when its handling
    was cut short (an exception, or a worker stopping mid-batch), which would let Kafka
    commit past work that was never done. Agents with a batch handler get whole batches,
    the others one message at a time.
    """
    if domain.inbox is not None:
        await domain.inbox.ensure_indexes()
        _domains.append(domain)
    most = BATCH_MAX if domain.batch_handler is not None else SINGLE_MAX
    async for events in stream.noack_take(most, within=BATCH_WITHIN_S):
        messages = [_message(event) for event in events]
        if domain.batch_handler is not None:
            await domain.handle_batch(messages)
        else:
            for m in messages:
                await domain.handle(m.raw, m.key, m.topic, m.partition, m.offset)
        for event in events:
            await stream.ack(event)


@app.timer(OUTBOX_SWEEP_INTERVAL_S)
async def sweep_outboxes() -> None:
    """Send events recorded in an outbox but never sent (their worker died in between)."""
    for domain in list(_domains):
        try:
            await domain.send_unsent(OUTBOX_SWEEP_AGE_S)
        except Exception as exc:  # noqa: BLE001 - a store away now; the next sweep tries again
            log.warning("outbox_sweep_failed", agent=domain.name, error=repr(exc))


def _message(event: faust.EventT) -> Message:
    m = event.message
    return Message(event.value, m.key, m.topic, m.partition, m.offset)


def faust_topic(topic: Topic) -> faust.TopicT:
    """The Faust topic object for one of the contract's topics."""
    return app.topic(
        topic.name(settings.topic_prefix),
        key_type=bytes,
        value_type=bytes,
        partitions=settings.topic_partitions,
    )


def consumed_topics() -> list[str]:
    """The full names of the topics this app's agents consume."""
    return sorted({name for agent in app.agents.values() for name in agent.channel.topics})


class Command(faust.cli.AppCommand):
    """An operator's command: runs its coroutine itself and exits with the status it answers.

    Faust runs app commands inside a worker service by default, which logs an error and
    still exits 0; scripts (``make run``'s drain, deploy jobs) need the real outcome."""

    def __call__(self, *args: object, **kwargs: object) -> None:
        status = asyncio.run(self.run(*self.args, *args, **{**self.kwargs, **kwargs}))
        raise SystemExit(status or 0)


@app.command(
    faust.cli.option("--wait", type=float, default=0.0,
                     help="Wait up to this many seconds until nothing is pending."),
    base=Command,
)
async def lag(self: Command, wait: float) -> int:
    """Print the accepted messages this app's agents have not applied yet, per partition.

    With --wait, wait until there are none; exit status 1 if some are left at the end."""
    lags = await agents.lag.wait_drained(
        settings.kafka_bootstrap, settings.app_id, consumed_topics(), wait,
        report=lambda line: print(f"lag: {line}", flush=True))
    return 1 if lags else 0


@app.command(
    faust.cli.option("--within", type=float, default=None,
                     help="Seconds back (default BROKER_JOURNAL_RETENTION_S)."),
    base=Command,
)
async def resend(self: Command, within: float | None) -> int:
    """Send again the events the services recorded in the last WITHIN seconds.

    For a broker that lost its messages (the local one keeps them in memory only): events
    keep their ids, so consumers apply each once. ``make run``'s supervisor runs it after
    it started the broker again."""
    seconds = settings.broker_journal_retention_s if within is None else within
    stamp = utc_stamp(datetime.now(UTC) - timedelta(seconds=seconds))
    res = await resources()
    total = 0
    for name in INBOXES:
        domain = Agent(name, (), None, send, settings.topic_prefix, Inbox(res.db[name]))
        async for doc in domain.inbox.applied_since(stamp):
            await domain.send_events(doc["events"])
            total += len(doc["events"])
    await res.bus.stop()
    print(f"resend: {total} recorded event(s) sent again", flush=True)
    return 0


# Importing the domains registers their agents on the app.
import agents.mail.agent  # noqa: E402,F401
import agents.purchases.agent  # noqa: E402,F401
import agents.reactions.agent  # noqa: E402,F401
import agents.uploads.agent  # noqa: E402,F401
import agents.users.agent  # noqa: E402,F401
