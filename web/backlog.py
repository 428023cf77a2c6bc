"""Backpressure: the edge refuses a command early when the service that applies it is behind.

Each edge keeps, per partition, the offset and send time of every like, comment and follow
command (``GUARDED``) it sent that the service applying it (``picasso.domains.APPLIED_BY``)
has not applied yet, and asks the
service's consumer group every ``BACKLOG_POLL_S`` how far it has committed (read without
joining the group, so its workers see no rebalance). Workers commit what they applied every
``COMMIT_INTERVAL_S``. While the oldest command still waiting is older than
``BACKLOG_MAX_AGE_S`` and at least ``BACKLOG_MIN_WAITING`` wait, the edge answers 503 with
``Retry-After`` for that service's commands and sends nothing: the caller learns at once,
instead of its command joining a queue that grows without bound.

The age of the oldest command alone lets bursts in: the queue just drained, every command
offered is accepted until the new oldest one is old enough, and those then wait behind each
other for seconds. So the edge also refuses while the commands waiting would take longer
than ``BACKLOG_MAX_AGE_S`` to apply at the rate the service was last seen applying them at
its best: the most commands applied per second of a ``RATE_WINDOW_S`` window with commands
waiting, over the last ``CAPACITY_WINDOW_S`` (a lull does not lower it; a worker that stops
is caught by the age). The measure is the work itself, not a fixed rate: when the service
applies faster (more workers, a lighter load), the edge accepts more; when a worker stops,
the edge refuses within about ``BACKLOG_MAX_AGE_S`` once a few commands wait. A few
commands waiting are no queue (as a router's queue discipline drops nothing from an almost
empty queue): one batch that is slow to apply, or a commit not seen yet, would otherwise
refuse a lone person's next like.

An edge sees only its own commands; when other edges overload a service, this edge's commands
wait too, so it refuses as well. The age read here is at most one commit interval and one
poll later than the truth, so it errs towards refusing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, deque
from typing import Callable

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from picasso.domains import APPLIED_BY, group_id
from picasso.settings import Settings
from picasso.tasks import cancel_all
from topics import COMMENTS_COMMANDS, REACTIONS_COMMANDS, SOCIAL_COMMANDS, Topic
from web.problems import Problem

log = structlog.get_logger()
# The commands people send many of and expect to see applied at once. An upload or a purchase
# takes its time by nature (images to make, a payment to confirm) and has its rate limits.
GUARDED: tuple[Topic, ...] = (REACTIONS_COMMANDS, COMMENTS_COMMANDS, SOCIAL_COMMANDS)
# The most commands remembered per partition: far more than any service applies in
# BACKLOG_MAX_AGE_S; past it the oldest are forgotten (their age is then under-read).
MAX_TRACKED = 100_000
# The service's rate is measured over this long (several of its commits and the edge's polls).
RATE_WINDOW_S = 1.0
# Its best rate is remembered this long: through a lull, where it has little to apply, but
# not for long, since under heavy load the edges' refusals take CPU the service then lacks
# (30 s let a rate of the load's first seconds admit twice what was then applied).
CAPACITY_WINDOW_S = 5.0


class Backlog:
    """Commands sent and not yet applied, per partition, and the refusal they lead to."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.max_age_s = settings.backlog_max_age_s
        self.poll_s = settings.backlog_poll_s
        self.min_waiting = settings.backlog_min_waiting
        self._bootstrap = settings.kafka_bootstrap
        self._clock = clock
        # Full topic name -> the domain whose service applies it.
        self._domains = {topic.name(settings.topic_prefix): APPLIED_BY[topic]
                         for topic in GUARDED}
        self._groups = {domain: group_id(settings.app_id, domain)
                        for domain in self._domains.values()}
        self._waiting: dict[TopicPartition, deque[tuple[int, float]]] = {}
        # Per topic: (when, commands applied, seconds with commands waiting) of each poll
        # that found commands waiting, over RATE_WINDOW_S; and (when, rate) of each window.
        self._applies: dict[str, deque[tuple[float, int, float]]] = {}
        self._rates: dict[str, deque[tuple[float, float]]] = {}
        self._polled_at: float | None = None
        self._readers: dict[str, AIOKafkaConsumer] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.max_age_s > 0

    def check(self, topic: Topic, prefix: str) -> None:
        """Raise a 503 problem when ``topic``'s service has left a command of this edge
        waiting longer than the limit."""
        if not self.enabled:
            return
        name = topic.name(prefix)
        domain = self._domains.get(name)
        if domain is None:
            return
        waiting = self.waiting(name)
        if waiting < self.min_waiting:
            return
        age = self.oldest_age(name)
        capacity = self.capacity(name)
        # Seconds until a command sent now is applied, at the service's best rate.
        ahead = (waiting + 1) / capacity if capacity else 0.0
        if age > self.max_age_s or ahead > self.max_age_s:
            # The queue drains at the rate the service applies, so it is clear again in
            # about the time its oldest command has waited, or its work waiting takes.
            retry = max(1, math.ceil(max(age, ahead)))
            raise Problem(503, f"the {domain} service is behind ({waiting} commands wait, "
                               f"the oldest for {age:.1f} s); nothing was changed; try "
                               f"again in {retry} s", headers={"Retry-After": str(retry)})

    def sent(self, topic: str, partition: int, offset: int) -> None:
        """Remember a command the broker took, until its service has applied it."""
        if not self.enabled or topic not in self._domains:
            return
        waiting = self._waiting.setdefault(TopicPartition(topic, partition), deque())
        waiting.append((offset, self._clock()))
        if len(waiting) > MAX_TRACKED:
            waiting.popleft()

    def applied(self, tp: TopicPartition, committed: int) -> int:
        """The service's group has applied everything before ``committed`` on ``tp``;
        answers how many of this edge's commands that was."""
        waiting = self._waiting.get(tp)
        before = len(waiting) if waiting else 0
        while waiting and waiting[0][0] < committed:
            waiting.popleft()
        return before - (len(waiting) if waiting else 0)

    def measured(self, topic: str, applied: int, seconds: float) -> None:
        """``applied`` commands of ``topic`` were applied in ``seconds`` during which some
        waited: one more sample of the service's rate."""
        now = self._clock()
        samples = self._applies.setdefault(topic, deque())
        samples.append((now, applied, seconds))
        while samples and samples[0][0] <= now - RATE_WINDOW_S:
            samples.popleft()
        busy = sum(s for _, _, s in samples)
        if busy >= RATE_WINDOW_S / 2:  # enough time with work to tell a rate
            rates = self._rates.setdefault(topic, deque())
            rates.append((now, sum(n for _, n, _ in samples) / busy))
            while rates[0][0] <= now - CAPACITY_WINDOW_S:
                rates.popleft()

    def capacity(self, topic: str) -> float | None:
        """The most commands of this edge per second the service was seen applying over
        the last CAPACITY_WINDOW_S (None: not measured yet)."""
        rates = self._rates.get(topic)
        now = self._clock()
        while rates and rates[0][0] <= now - CAPACITY_WINDOW_S:
            rates.popleft()
        return max(rate for _, rate in rates) if rates else None

    def waiting(self, topic: str) -> int:
        """How many commands of this edge to ``topic`` wait unapplied."""
        return sum(len(waiting) for tp, waiting in self._waiting.items() if tp.topic == topic)

    def oldest_age(self, topic: str) -> float:
        """Seconds the oldest command of this edge to ``topic`` has waited unapplied."""
        now = self._clock()
        oldest = min((waiting[0][1] for tp, waiting in self._waiting.items()
                      if tp.topic == topic and waiting), default=now)
        return now - oldest

    async def start(self) -> None:
        if self.enabled:
            self._task = asyncio.ensure_future(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_all(self._task)
        for reader in self._readers.values():
            await reader.stop()

    async def _reader(self, domain: str) -> AIOKafkaConsumer:
        reader = self._readers.get(domain)
        if reader is None:
            reader = AIOKafkaConsumer(bootstrap_servers=self._bootstrap,
                                      group_id=self._groups[domain],
                                      enable_auto_commit=False)
            await reader.start()
            self._readers[domain] = reader
        return reader

    async def poll(self) -> None:
        """Ask each service's group how far it has applied, for the partitions where this
        edge has commands waiting."""
        pending = [tp for tp, waiting in self._waiting.items() if waiting]
        readers = [await self._reader(self._domains[tp.topic]) for tp in pending]
        offsets = await asyncio.gather(*(reader.committed(tp)
                                         for reader, tp in zip(readers, pending)))
        now = self._clock()
        seconds = now - self._polled_at if self._polled_at is not None else 0.0
        self._polled_at = now
        applied: Counter[str] = Counter({tp.topic: 0 for tp in pending})
        for tp, committed in zip(pending, offsets):
            if committed is not None:
                applied[tp.topic] += self.applied(tp, committed)
        if seconds > 0:
            for topic, n in applied.items():
                self.measured(topic, n, seconds)

    async def _watch(self) -> None:
        while True:
            try:
                await self.poll()
            except (TimeoutError, KafkaError, OSError) as exc:
                # The commands keep waiting (and age) until the broker answers again.
                log.warning("backlog_poll_failed", error=repr(exc))
            await asyncio.sleep(self.poll_s)
