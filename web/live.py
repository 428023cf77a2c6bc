"""Live updates: each edge process follows the event topics itself and pushes what its own
subscribers watch to them as Server-Sent Events (``GET /api/v1/live``, web.routes.live).

One Kafka consumer per edge, without a consumer group: every partition of each topic below
is assigned to it, starting at the end, so every edge sees every event and fans it out to
its own streams only. What a stream receives (the SSE ``event`` names):

- ``likes`` ``{picture_id, like_count}`` and ``comments`` ``{picture_id, comment_count}`` for
  the pictures it watches: the counts the reactions and comments services put in their
  events (each picture's events are in order on one partition);
- for a signed-in user: ``purchase`` ``{purchase_id, picture_id, status, failure_reason}``
  for their purchases; ``notifications`` ``{unread}``, read from the notifications read
  model when the service says their notifications changed (and once on connecting);
  ``timeline`` ``{picture_id, owner_id, title}`` when someone they follow (the ``follows``
  read model) publishes a picture;
- ``ready`` on connecting, ``reset`` when missed messages cannot be replayed (refetch).

Every message has an id ``<epoch>.<sequence>``: the epoch is this process's, the sequence
counts its messages. The last ``LIVE_REPLAY_MAX`` messages are kept; a client that comes
back with ``Last-Event-ID`` of this epoch, not older than the buffer, gets what it missed
(of what it watches); any other id gets ``reset``.

Bounds: streams per edge, per user and per address (visitors); each stream has a queue of
``LIVE_QUEUE_MAX`` messages, and a client that lets it fill (it does not read) is closed
rather than buffered for; a comment line every ``LIVE_HEARTBEAT_S`` keeps proxies from
closing a quiet stream and finds clients that went away.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable

import structlog
from aiokafka import AIOKafkaConsumer
from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.mongo import FOLLOWING, FOLLOWS, NOTIFICATIONS
from picasso.numbers import whole_number
from picasso.settings import Settings
from picasso.tasks import cancel_all
from topics import (
    COMMENTS_EVENTS,
    NOTIFICATIONS_EVENTS,
    PICTURES_EVENTS,
    PURCHASES_EVENTS,
    REACTIONS_EVENTS,
)
from topics.comments import COMMENT_ADDED, COMMENT_DELETED
from topics.notifications import NOTIFICATIONS_CHANGED
from topics.pictures import PICTURE_PUBLISHED
from topics.purchases import (
    PURCHASE_AWAITING_PAYMENT,
    PURCHASE_COMPLETED,
    PURCHASE_FAILED,
    PURCHASE_REFUNDED,
)
from topics.reactions import PICTURE_LIKED, PICTURE_UNLIKED
from web.metrics import (
    LIVE_DROPPED,
    LIVE_EVENTS,
    LIVE_MESSAGES,
    LIVE_REFUSED,
    LIVE_STREAMS,
)

log = structlog.get_logger()

# How many pictures one stream may watch (the pictures a page shows).
PICTURES_MAX = 100
TOPICS = (REACTIONS_EVENTS, COMMENTS_EVENTS, PURCHASES_EVENTS, NOTIFICATIONS_EVENTS,
          PICTURES_EVENTS)
# How long the browser waits before it reconnects a stream that ended (the SSE retry field).
RETRY_MS = 2000
# How often streams whose client went away are looked for.
REAP_INTERVAL_S = 1.0
# A signed-in user still counts as watching this long after their stream ended, so that a
# reconnect gets the timeline pictures published meanwhile from the replay buffer.
RECENT_USER_S = 60.0
PURCHASE_STATUS = {
    PURCHASE_AWAITING_PAYMENT.type: "awaiting_payment",
    PURCHASE_COMPLETED.type: "completed",
    PURCHASE_FAILED.type: "failed",
    PURCHASE_REFUNDED.type: "refunded",
}
_CLOSE = b""  # put in a stream's queue: end it


class Refused(Exception):
    """A stream this edge will not open now: ``status`` 429 (the caller's own limit) or 503
    (the edge's)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def picture_key(picture_id: str) -> str:
    return f"p:{picture_id}"


def user_key(user_id: str) -> str:
    return f"u:{user_id}"


def frame(event: str, data: dict[str, Any], message_id: str | None = None,
          retry_ms: int | None = None) -> bytes:
    """One Server-Sent Event (JSON has no raw line breaks, so ``data`` is one line)."""
    head = f"id: {message_id}\n" if message_id else ""
    head += f"retry: {retry_ms}\n" if retry_ms else ""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


HEARTBEAT = b": heartbeat\n\n"


@dataclass(eq=False)
class Stream:
    """One open stream: what it watches and the messages waiting for its client."""

    keys: tuple[str, ...]
    user_id: str | None
    address: str
    queue: asyncio.Queue[bytes]
    transport: asyncio.Transport | None = None
    closed: bool = False

    def offer(self, message: bytes) -> bool:
        """Queue a message; False when the queue is full (the client does not read)."""
        if self.closed:
            return True
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True


@dataclass
class LiveHub:
    """The edge's live updates: its consumer, its streams and its replay buffer."""

    settings: Settings
    db: AsyncIOMotorDatabase
    epoch: str = field(default_factory=lambda: os.urandom(4).hex())
    sequence: int = 0
    streams: set[Stream] = field(default_factory=set)
    watching: dict[str, set[Stream]] = field(default_factory=dict)
    per_user: Counter[str] = field(default_factory=Counter)
    per_address: Counter[str] = field(default_factory=Counter)
    recent_users: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.buffer: deque[tuple[int, str, bytes]] = deque(maxlen=self.settings.live_replay_max)
        self.consumer: AIOKafkaConsumer | None = None
        self.tasks: list[asyncio.Task] = []
        self.side_tasks: set[asyncio.Task] = set()
        self.counting: dict[str, bool] = {}  # users whose unread count is being read: again?
        # Told the user whose likes or purchases changed (the edge's ReaderMarks.forget).
        self.marks_changed: Callable[[str], None] = lambda user_id: None
        self.handlers: dict[str, Callable[[str, dict], None]] = {
            PICTURE_LIKED.type: self._likes, PICTURE_UNLIKED.type: self._likes,
            COMMENT_ADDED.type: self._comments, COMMENT_DELETED.type: self._comments,
            NOTIFICATIONS_CHANGED.type: self._notifications,
            PICTURE_PUBLISHED.type: self._published,
            **{type_: self._purchase for type_ in PURCHASE_STATUS},
        }

    # -- lifetime

    async def start(self) -> None:
        prefix = self.settings.topic_prefix
        self.consumer = AIOKafkaConsumer(
            *(topic.name(prefix) for topic in TOPICS),
            bootstrap_servers=self.settings.kafka_bootstrap, group_id=None,
            enable_auto_commit=False, auto_offset_reset="latest",
            fetch_max_wait_ms=round(self.settings.broker_fetch_wait_s * 1000))
        await self.consumer.start()
        await self._positioned()
        self.tasks = [asyncio.create_task(self._consume(), name="live-consumer"),
                      asyncio.create_task(self._heartbeats(), name="live-heartbeats"),
                      asyncio.create_task(self._reaper(), name="live-reaper")]
        log.info("live_started", epoch=self.epoch,
                 partitions=len(self.consumer.assignment()))

    async def _positioned(self, timeout_s: float = 10.0) -> None:
        """Wait until every partition is assigned and its position (the end) is known, so
        that what happens after the edge is ready is seen."""
        assert self.consumer is not None
        deadline = time.monotonic() + timeout_s
        wanted = {topic.name(self.settings.topic_prefix) for topic in TOPICS}
        while time.monotonic() < deadline:
            assigned = self.consumer.assignment()
            if {tp.topic for tp in assigned} >= wanted:
                for tp in assigned:
                    await self.consumer.position(tp)
                return
            await asyncio.sleep(0.05)
        log.warning("live_partitions_not_assigned", wanted=sorted(wanted))

    def close_all(self) -> None:
        """End every stream (the edge is stopping): their handlers return at once."""
        for stream in list(self.streams):
            self._end(stream)

    async def stop(self) -> None:
        self.close_all()
        await cancel_all(*self.tasks, *self.side_tasks)
        if self.consumer is not None:
            await self.consumer.stop()

    # -- streams

    def open(self, picture_ids: list[str], user_id: str | None, address: str) -> Stream:
        """A new stream, or :class:`Refused` past a limit."""
        s = self.settings
        if len(self.streams) >= s.live_max_connections:
            LIVE_REFUSED.labels("edge").inc()
            raise Refused(503, "this edge holds as many live streams as it may; "
                               "try again shortly")
        if user_id is not None and self.per_user[user_id] >= s.live_max_per_user:
            LIVE_REFUSED.labels("user").inc()
            raise Refused(429, f"at most {s.live_max_per_user} live streams per user; "
                               "close one first")
        if user_id is None and self.per_address[address] >= s.live_max_per_address:
            LIVE_REFUSED.labels("address").inc()
            raise Refused(429, f"at most {s.live_max_per_address} live streams per address "
                               "without signing in")
        keys = tuple(picture_key(p) for p in picture_ids)
        if user_id is not None:
            keys += (user_key(user_id),)
            self.per_user[user_id] += 1
        else:
            self.per_address[address] += 1
        stream = Stream(keys, user_id, address, asyncio.Queue(s.live_queue_max))
        self.streams.add(stream)
        LIVE_STREAMS.inc()
        return stream

    def start_stream(self, stream: Stream, transport: asyncio.Transport | None,
                     last_event_id: str | None) -> None:
        """Watch: queue ``ready``, then what was missed since ``last_event_id`` (or
        ``reset`` when that cannot be told), then live messages as they come."""
        stream.transport = transport
        missed = self._missed(stream, last_event_id)
        stream.offer(frame("ready", {"edge": self.epoch}, self._current_id(), RETRY_MS))
        if missed is None:
            stream.offer(frame("reset", {}))
        else:
            for message in missed:
                stream.offer(message)
        for key in stream.keys:
            self.watching.setdefault(key, set()).add(stream)
        if stream.user_id is not None:
            self.recount(stream.user_id)

    def _missed(self, stream: Stream, last_event_id: str | None) -> list[bytes] | None:
        """The buffered messages after ``last_event_id`` that ``stream`` watches; [] for a
        first connection; None when they cannot be told (another edge's or run's id, older
        than the buffer, or more than the stream's queue holds)."""
        if not last_event_id:
            return []
        epoch, _, number = last_event_id.partition(".")
        after = whole_number(number)
        if epoch != self.epoch or after is None or after > self.sequence:
            return None
        oldest = self.buffer[0][0] if self.buffer else self.sequence + 1
        if after < oldest - 1:
            return None
        keys = set(stream.keys)
        missed = [message for seq, key, message in self.buffer if seq > after and key in keys]
        return missed if len(missed) < self.settings.live_queue_max - 1 else None

    def close(self, stream: Stream) -> None:
        """Forget a stream whose handler ended."""
        self._end(stream)
        if stream not in self.streams:
            return
        self.streams.discard(stream)
        LIVE_STREAMS.dec()
        if stream.user_id is not None:
            self.per_user[stream.user_id] -= 1
            if self.per_user[stream.user_id] <= 0:
                del self.per_user[stream.user_id]
                self.recent_users[stream.user_id] = time.monotonic()
        else:
            self.per_address[stream.address] -= 1
            if self.per_address[stream.address] <= 0:
                del self.per_address[stream.address]

    def _end(self, stream: Stream) -> None:
        if stream.closed:
            return
        stream.closed = True
        for key in stream.keys:
            watchers = self.watching.get(key)
            if watchers is not None:
                watchers.discard(stream)
                if not watchers:
                    del self.watching[key]
        try:
            stream.queue.put_nowait(_CLOSE)
        except asyncio.QueueFull:  # its handler is stuck writing: cut the connection
            if stream.transport is not None:
                stream.transport.abort()

    def _drop(self, stream: Stream) -> None:
        """A client that lets its queue fill is not read for: close it."""
        LIVE_DROPPED.inc()
        log.info("live_stream_dropped", user_id=stream.user_id, address=stream.address)
        self._end(stream)  # its queue is full: the connection is cut

    # -- messages

    def _current_id(self) -> str:
        return f"{self.epoch}.{self.sequence}"

    def publish(self, key: str, event: str, data: dict[str, Any]) -> None:
        """Number a message, keep it for replay, and queue it for every stream watching."""
        self.sequence += 1
        message = frame(event, data, self._current_id())
        self.buffer.append((self.sequence, key, message))
        watchers = self.watching.get(key)
        if not watchers:
            return
        for stream in list(watchers):
            if not stream.offer(message):
                self._drop(stream)
        LIVE_MESSAGES.inc(len(watchers))

    async def _consume(self) -> None:
        assert self.consumer is not None
        while True:
            try:
                batches = await self.consumer.getmany(timeout_ms=1000, max_records=1000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker away: the consumer reconnects itself
                log.warning("live_consume_failed", error=repr(exc))
                await asyncio.sleep(1.0)
                continue
            for messages in batches.values():
                for message in messages:
                    self._event(message.value)
                    # Let the streams write it before the next is queued: a burst must not
                    # fill the queues of clients that read.
                    await asyncio.sleep(0)

    def _event(self, raw: bytes | None) -> None:
        try:
            doc = json.loads(raw or b"")
            handler = self.handlers.get(doc["type"])
            if handler is not None:
                handler(doc["type"], doc["data"])
                LIVE_EVENTS.inc()
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            # Not ours to judge: the services dead-letter what does not parse.
            log.debug("live_event_skipped", error=repr(exc))

    def _likes(self, type_: str, d: dict) -> None:
        self.marks_changed(d["user_id"])
        self.publish(picture_key(d["picture_id"]), "likes",
                     {"picture_id": d["picture_id"], "like_count": int(d["like_count"])})

    def _comments(self, type_: str, d: dict) -> None:
        self.publish(picture_key(d["picture_id"]), "comments",
                     {"picture_id": d["picture_id"],
                      "comment_count": int(d["comment_count"])})

    def _purchase(self, type_: str, d: dict) -> None:
        self.marks_changed(d["buyer_id"])
        self.publish(user_key(d["buyer_id"]), "purchase", {
            "purchase_id": d["purchase_id"], "picture_id": d.get("picture_id"),
            "status": PURCHASE_STATUS[type_],
            "failure_reason": d.get("reason") if type_ == PURCHASE_FAILED.type else None})

    def _notifications(self, type_: str, d: dict) -> None:
        if d["user_id"] in self.per_user:
            self.recount(d["user_id"])

    def _published(self, type_: str, d: dict) -> None:
        self._forget_users()
        readers = (set(self.per_user) | set(self.recent_users)) - {d["owner_id"]}
        if readers:
            self._side(self._timeline(d, list(readers)))

    def _forget_users(self) -> None:
        """Users whose last stream ended longer than RECENT_USER_S ago no longer count."""
        now = time.monotonic()
        self.recent_users = {u: t for u, t in self.recent_users.items()
                             if now - t < RECENT_USER_S}

    # -- what needs a read model: off the consumer's path, so one slow read holds up nothing

    def _side(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.side_tasks.add(task)
        task.add_done_callback(self.side_tasks.discard)

    async def _timeline(self, d: dict, readers: list[str]) -> None:
        try:
            follows = self.db[FOLLOWS].find(
                {"followee_id": d["owner_id"], "follower_id": {"$in": readers}, **FOLLOWING},
                {"_id": 0, "follower_id": 1})
            async for follow in follows:
                self.publish(user_key(follow["follower_id"]), "timeline", {
                    "picture_id": d["picture_id"], "owner_id": d["owner_id"],
                    "title": d.get("title")})
        except Exception as exc:
            log.warning("live_timeline_failed", error=repr(exc))

    def recount(self, user_id: str) -> None:
        """Send ``user_id`` their unread count; reads for one user never overlap, and a
        change during a read is followed by one more read, so the last count sent is
        the read model's latest."""
        if user_id in self.counting:
            self.counting[user_id] = True
            return
        self.counting[user_id] = False
        self._side(self._count(user_id))

    async def _count(self, user_id: str) -> None:
        try:
            while True:
                self.counting[user_id] = False
                unread = await self.db[NOTIFICATIONS].count_documents(
                    {"user_id": user_id, "count": {"$ne": 0}, "read": False})
                self.publish(user_key(user_id), "notifications", {"unread": unread})
                if not self.counting.get(user_id):
                    break
        except Exception as exc:
            log.warning("live_count_failed", error=repr(exc))
        finally:
            self.counting.pop(user_id, None)

    # -- upkeep

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.live_heartbeat_s)
            for stream in list(self.streams):
                if not stream.offer(HEARTBEAT):
                    self._drop(stream)

    async def _reaper(self) -> None:
        """End streams whose client went away (their handlers wait on an empty queue)."""
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            self._forget_users()
            for stream in list(self.streams):
                transport = stream.transport
                if transport is not None and transport.is_closing():
                    self._end(stream)


def sse_headers() -> dict[str, str]:
    return {"Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"}

