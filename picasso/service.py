"""One domain's service: its own Faust app, consumer group and process.

Every domain package builds its app here (``agents/<domain>/app.py``)::

    service = Service("reactions")
    app = service.app

and runs with ``faust -A agents.reactions.app worker -l info``. The app's id, and so its
Kafka consumer group, is ``<PICASSO_APP_ID>-<domain>``: one domain's workers share the work
of that domain's partitions, and a domain that is down (or behind) holds up no other.

What every service shares lives here too: the stores a worker opens once, the loop that
feeds a Faust stream to an :class:`~picasso.runtime.Agent` and acknowledges only what was
applied, the outbox sweeper, the worker's HTTP endpoint (``/healthz``, ``/readyz``,
``/metrics``: :mod:`picasso.probes`), and the operator's commands ``lag`` and ``resend`` (and
those of :mod:`picasso.ops.commands`: dead letters, rebuilds, topics, consumer lag).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Awaitable, Callable, TypeVar

import aiokafka
import faust
import structlog
from faust.cli import AppCommand, option
from faust.transport.drivers import aiokafka as faust_kafka

import picasso.lag
import picasso.ops.commands
from picasso import heap, probes
from picasso.batches import batches
from picasso.domains import DOMAINS, group_id
from picasso.logging import configure as configure_logging
from picasso.logging import logging_config
from picasso.metrics import BATCH_SECONDS, BATCH_SIZE, CONSUMER_LAG, mark_started
from picasso.ops.rebuild import ReadModel
from picasso.runtime import Agent, Inbox, Message, Resources
from picasso.settings import Settings, SettingsError
from topics import Topic
from topics.envelope import utc_stamp

log = structlog.get_logger()

T = TypeVar("T")

# A batching agent takes what has arrived, up to this many messages, gathering for at most
# this long after the first (picasso.batches).
BATCH_MAX = 2000
BATCH_WITHIN_S = 0.02
# Agents that handle one message at a time still take what has arrived in small batches
# (so acknowledging stays in our hands), and handle those one by one.
SINGLE_MAX = 100
# How often each worker sends events that were recorded but never sent, and how old such a
# record must be (younger ones belong to a handler that is sending them right now).
OUTBOX_SWEEP_INTERVAL_S = 5.0
OUTBOX_SWEEP_AGE_S = 5.0


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


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    """Faust's consumer with the broker's wait for an empty fetch set by BROKER_FETCH_WAIT_S
    instead of Faust's fixed 1.5 s (on the local broker, a delay of every message)."""

    def _create_worker_consumer(self, transport: faust_kafka.Transport
                                ) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read when the consumer starts, into every fetch request it makes.
        consumer._fetch_max_wait_ms = round(self.app.fetch_wait_s * 1000)
        return consumer


class _Consumer(faust_kafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_kafka.Transport):
    Consumer = _Consumer


class App(faust.App):
    """A Faust app whose workers' consumer waits ``fetch_wait_s`` at most for an empty fetch."""

    def __init__(self, *args: Any, fetch_wait_s: float, **kwargs: Any) -> None:
        self.fetch_wait_s = fetch_wait_s
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> _Transport:
        return _Transport(self.conf.broker_consumer, self)


class Command(AppCommand):
    """An operator's command: runs its coroutine itself and exits with the status it answers.

    Faust runs app commands inside a worker service by default, which logs an error and
    still exits 0; scripts (``make run``'s drain, deploy jobs) need the real outcome."""

    abstract = True  # a base for commands, not a command of its own

    def __call__(self, *args: object, **kwargs: object) -> None:
        status = asyncio.run(self.run(*self.args, *args, **{**self.kwargs, **kwargs}))
        raise SystemExit(status or 0)


class Service:
    """A domain's Faust app and what its agents share in one worker process."""

    def __init__(self, domain: str, *, inboxes: tuple[str, ...] = (),
                 kept_whole: tuple[str, ...] = ()) -> None:
        """``inboxes``: the domain's inbox collections, whose recorded events ``resend``
        sends again. Inboxes keep a record for INBOX_RETENTION_HOURS, except those in
        ``kept_whole``: the source of truth of a read model's rebuild, kept for good."""
        if domain not in DOMAINS:
            raise ValueError(f"{domain!r} is not one of {DOMAINS}")
        try:
            settings = Settings.from_env(role=domain)
        except SettingsError as exc:
            # Every command of the app (worker, lag, resend, ...) stops here, before it connects.
            raise SystemExit(str(exc)) from None
        configure_logging(settings, domain)
        self.domain = domain
        self.settings = settings
        self.inboxes = inboxes
        self.kept_whole = kept_whole
        self.app = App(
            group_id(settings.app_id, domain),
            fetch_wait_s=settings.broker_fetch_wait_s,
            broker=f"kafka://{settings.kafka_bootstrap}",
            store="memory://",
            # Records are CloudEvents JSON that agents parse themselves, so that a message
            # that does not parse goes to the dead-letter topic instead of stopping the stream.
            key_serializer="raw",
            value_serializer="raw",
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            # Faust's 60 s default makes every group join wait ~30 s on the local broker,
            # and a worker cut off keep its partitions for a minute (README, "Across hosts").
            broker_session_timeout=settings.broker_session_timeout_s,
            broker_heartbeat_interval=settings.broker_heartbeat_interval_s,
            broker_rebalance_timeout=settings.broker_rebalance_timeout_s,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            # What was applied is committed often: the edges' backpressure reads it.
            broker_commit_interval=settings.commit_interval_s,
            web_enabled=False,
            # The worker sets logging up again as it starts: the same JSON lines.
            logging_config=logging_config(settings),
        )
        # The worker's stores, opened on first use and shared by its agents.
        self.resources = opened_once(lambda: Resources.open(settings))
        self._agents: list[Agent] = []  # every agent with an outbox, for the sweeper
        # The read models ``rebuild`` can make again, by collection (see read_model).
        self.read_models: dict[str, ReadModel] = {}
        self.app.timer(OUTBOX_SWEEP_INTERVAL_S, name=f"{domain}-outbox-sweeper")(
            self._sweep_outboxes)
        # The worker's /healthz, /readyz and /metrics (picasso.probes); a task runs in the
        # worker only, not in the app's other commands (lag, resend, migrate).
        self._joined = False
        self._lag_labels: set[tuple[str, str]] = set()  # partitions with a lag series
        self.app.on_rebalance_complete.connect(self._on_joined)
        self.app.task(self._serve_endpoint)
        self._define_commands()

    @property
    def group_id(self) -> str:
        """The Kafka consumer group of this domain's workers."""
        return self.app.conf.id

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        """Produce one message and wait until the broker has it.

        Our own aiokafka producer rather than Faust's: Faust's buffered send resolves its
        future only on the producer's periodic flush, which capped an agent at a few
        messages a second when it waits for each acknowledgement."""
        await (await self.resources()).bus.send_raw(topic, key, value)

    def read_model(self, model: ReadModel) -> ReadModel:
        """Let ``faust -A agents.<domain>.app rebuild <name>`` make ``model`` again."""
        self.read_models[model.name] = model
        return model

    def topic(self, topic: Topic) -> faust.TopicT:
        """The Faust topic object for one of the contract's topics."""
        return self.app.topic(
            topic.name(self.settings.topic_prefix),
            key_type=bytes,
            value_type=bytes,
            partitions=self.settings.topic_partitions,
        )

    def consumed_topics(self) -> list[str]:
        """The full names of the topics this app's agents consume."""
        return sorted({name for agent in self.app.agents.values()
                       for name in agent.channel.topics})

    async def consume(self, stream: faust.StreamT, domain: Agent) -> None:
        """Feed the messages of a Faust stream to ``domain``; the body of every agent.

        Messages are acknowledged here, and only after ``domain`` has applied or
        dead-lettered them: Faust's own ``take``/``take_events`` acknowledge a batch even
        when its handling was cut short (an exception, or a worker stopping mid-batch), which
        would let Kafka commit past work that was never done. Agents with a batch handler get
        whole batches, the others one message at a time."""
        if domain.inbox is not None:
            await domain.inbox.ensure_indexes()
            self._agents.append(domain)
        most = BATCH_MAX if domain.batch_handler is not None else SINGLE_MAX
        batch_size, batch_seconds = BATCH_SIZE.labels(domain.name), BATCH_SECONDS.labels(
            domain.name)
        async for events in batches(stream, most, BATCH_WITHIN_S):
            began = time.perf_counter()
            messages = [_message(event) for event in events]
            if domain.batch_handler is not None:
                await domain.handle_batch(messages)
            else:
                for m in messages:
                    await domain.handle(m.raw, m.key, m.topic, m.partition, m.offset)
            for event in events:
                await stream.ack(event)
            batch_size.observe(len(events))
            batch_seconds.observe(time.perf_counter() - began)

    def agent(self, name: str, accepted: Any, handler: Any, *, inbox: str | None = None,
              db: Any = None, **options: Any) -> Agent:
        """The runtime agent called ``name`` of this service, with the inbox collection
        ``inbox`` (of ``db``) when its commands must be applied once."""
        retention = (None if inbox in self.kept_whole
                     else self.settings.inbox_retention_hours * 3600)
        box = Inbox(db[inbox], retention) if inbox is not None else None
        return Agent(name, accepted, handler, self.send, self.settings.topic_prefix, box,
                     **options)

    async def _on_joined(self, app: faust.App, **kwargs: Any) -> None:
        self._joined = True

    def readiness_checks(self) -> dict[str, probes.Check]:
        """What a worker of this service needs to do its work: a consumer in its group,
        the broker and MongoDB answering."""

        async def consumer() -> None:
            if not self._joined:
                raise RuntimeError("the consumer has not joined its group yet")

        async def broker() -> None:
            await (await self.resources()).bus.ping()

        async def mongodb() -> None:
            await (await self.resources()).db.command("ping")

        return {"consumer": consumer, "broker": broker, "mongodb": mongodb}

    def measure_lag(self) -> None:
        """Set ``picasso_consumer_lag`` for every partition this worker holds now: the
        partition's end offset less its group's committed one, as the consumer last saw
        them (no request to the broker); partitions it no longer holds are dropped. Faust's
        own topics (its leader assignor's) are left out."""
        consumer = self.app.consumer
        ours = set(self.consumed_topics())
        held: set[tuple[str, str]] = set()
        for tp in consumer.assignment():
            if tp.topic not in ours:
                continue
            end = consumer.highwater(tp)
            if end is None:
                continue  # nothing fetched from it yet
            # Faust's own record of the group's offset: read at assignment, moved by commits.
            committed = consumer._committed_offset.get(tp) or 0
            labels = (tp.topic, str(tp.partition))
            CONSUMER_LAG.labels(*labels).set(max(0, end - committed))
            held.add(labels)
        for labels in self._lag_labels - held:
            CONSUMER_LAG.remove(*labels)
        self._lag_labels = held

    async def _serve_endpoint(self) -> None:
        s = self.settings
        checks = self.readiness_checks()
        endpoint = probes.worker_endpoint(checks, before_scrape=self.measure_lag)
        try:
            runner, port = await probes.serve(endpoint, s.metrics_host, s.metrics_port)
        except OSError as exc:  # the worker stops: its probes would fail anyway
            raise RuntimeError(f"the worker's endpoint cannot listen on {s.metrics_host}:"
                               f"{s.metrics_port} (METRICS_HOST, METRICS_PORT): {exc}") from exc
        mark_started()
        log.info("worker_endpoint", service=self.domain,
                 url=f"http://{s.metrics_host}:{port}", paths="/healthz /readyz /metrics",
                 objects_frozen=heap.settle())
        try:
            await probes.keep_checking(checks)
        finally:
            await runner.cleanup()

    async def _sweep_outboxes(self) -> None:
        """Send events recorded in an outbox but never sent (their worker died in between)."""
        for domain in list(self._agents):
            try:
                await domain.send_unsent(OUTBOX_SWEEP_AGE_S)
            except Exception as exc:  # noqa: BLE001 - a store away now; the next sweep tries
                log.warning("outbox_sweep_failed", agent=domain.name, error=repr(exc))

    def _define_commands(self) -> None:
        service = self
        picasso.ops.commands.define(self, Command)

        @self.app.command(
            option("--wait", type=float, default=0.0,
                             help="Wait up to this many seconds until nothing is pending."),
            base=Command,
        )
        async def lag(self: Command, wait: float) -> int:
            """Print the accepted messages this service has not applied yet, per partition.

            With --wait, wait until there are none; exit status 1 if some are left."""
            lags = await picasso.lag.wait_drained(
                service.settings.kafka_bootstrap, service.group_id, service.consumed_topics(),
                wait, report=lambda line: print(f"lag: {service.domain}: {line}", flush=True))
            return 1 if lags else 0

        @self.app.command(
            option("--within", type=float, default=None,
                             help="Seconds back (default BROKER_JOURNAL_RETENTION_S)."),
            base=Command,
        )
        async def resend(self: Command, within: float | None) -> int:
            """Send again the events this service recorded in the last WITHIN seconds.

            For a broker that lost its messages (the local one keeps them in memory only):
            events keep their ids, so consumers apply each once. ``make run``'s supervisor
            runs it for every service after it started the broker again."""
            return await service._resend(within)

    async def _resend(self, within: float | None) -> int:
        seconds = self.settings.broker_journal_retention_s if within is None else within
        stamp = utc_stamp(datetime.now(UTC) - timedelta(seconds=seconds))
        res = await self.resources()
        total = 0
        for name in self.inboxes:
            domain = self.agent(name, (), None, inbox=name, db=res.db)
            async for doc in domain.inbox.applied_since(stamp):
                await domain.send_events(doc["events"])
                total += len(doc["events"])
        await res.bus.stop()
        print(f"resend: {self.domain}: {total} recorded event(s) sent again", flush=True)
        return 0


def _message(event: faust.EventT) -> Message:
    m = event.message
    return Message(event.value, m.key, m.topic, m.partition, m.offset)
