"""What every agent does around its domain logic.

For each message: parse and validate it (a bad one goes to ``picasso.deadletter`` with
the reason and the stream goes on), skip it if its command id was applied before, apply it,
record the command id together with the events it caused (an outbox in the same store), then
send those events and mark them sent. A crash anywhere in between is repaired by the
redelivery that at-least-once consumption guarantees: applying is idempotent, and events
recorded but not yet sent are sent then, with the same ids, or earlier by the outbox
sweeper (:meth:`Agent.send_unsent`), which a timer runs in every worker.

Failures are sorted by :func:`picasso.failures.is_transient`: a dependency's passing failure
(a database restarting, a broker away, a 5xx) is retried with backoff until it goes through;
anything else ends that message alone in the dead letters. ``handle`` and ``handle_batch``
never raise for a message, so the caller acknowledges a message only once it was applied or
dead-lettered.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Awaitable, Callable, Iterable, TypeVar

import structlog
from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorCursor, AsyncIOMotorDatabase
from pymongo import ReplaceOne

from picasso.blobs import BlobStore, open_blob_store
from picasso.failures import describe, is_transient
from picasso.kafka import MessageBus
from picasso.metrics import (
    MESSAGE_SECONDS,
    MESSAGES_APPLIED,
    MESSAGES_DEAD_LETTERED,
    MESSAGES_RETRIED,
)
from picasso.mongo import COMMAND_RESULTS, connect, ensure_expiry, insert_new
from picasso.settings import Settings
from picasso.tracing import bound as traced
from picasso.tracing import log_fields
from topics import DEADLETTER
from topics.deadletter import KEY_EXCERPT_BYTES, MESSAGE_REJECTED, PAYLOAD_EXCERPT_BYTES
from topics.envelope import CloudEvent, InvalidMessage, utc_now, utc_stamp
from topics.record import Record
from topics.registry import RECORDS, parse

log = structlog.get_logger()

SOURCE = "/picasso/agents"
# Backoff for failures of our own stores (database or blob store down): the message is
# retried until it goes through, never skipped, so nothing accepted is lost.
RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
# The most values a query's $in list holds (see Inbox.find_many).
IN_MAX = 50
# The inbox records' field its TTL index expires them by: a BSON date, which TTL indexes
# need (``applied_at`` is RFC 3339 text).
EXPIRES_FIELD = "applied_date"


class Rejected(Exception):
    """A valid message the domain refuses (e.g. not the owner); it goes to the dead letters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


T = TypeVar("T")
Send = Callable[[str, bytes, bytes], Awaitable[None]]
Handler = Callable[[Record, CloudEvent], Awaitable[list[CloudEvent]]]
# Applies many commands at once; returns the events each one caused, in the same order.
BatchHandler = Callable[[list[tuple[Record, CloudEvent]]], Awaitable[list[list[CloudEvent]]]]
# Where a command was read: (partition, offset) on its topic. Handlers that order what they
# write by it take it as a keyword (``versioned=True``).
Position = tuple[int, int]


@dataclass(frozen=True)
class Message:
    """One consumed Kafka message, as the runtime needs it."""

    raw: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass
class Resources:
    """The stores an agent process uses, opened once on first use."""

    settings: Settings
    db: AsyncIOMotorDatabase
    blobs: BlobStore
    bus: MessageBus

    @classmethod
    async def open(cls, settings: Settings) -> Resources:
        blobs = open_blob_store(settings)
        await blobs.start()
        bus = MessageBus(settings)
        await bus.start()
        return cls(settings=settings, db=connect(settings), blobs=blobs, bus=bus)


class Inbox:
    """Command ids an agent has applied, each with the events it caused and whether they went.

    With ``retention_s`` (INBOX_RETENTION_HOURS) a record is kept that long after it was
    applied and then removed by the database (a TTL index on ``applied_date``, the BSON date
    of ``applied_at``): the window is longer than the topics keep messages, so a command that
    can still be delivered again is still found here."""

    def __init__(self, collection: AsyncIOMotorCollection,
                 retention_s: float | None = None) -> None:
        self.collection = collection
        self.retention_s = retention_s

    async def ensure_indexes(self) -> None:
        """The outbox sweeper looks for unsent records by age; the TTL index removes records
        older than the window (its window set again when the setting changed)."""
        await self.collection.create_index([("sent", 1), ("applied_at", 1)])
        if self.retention_s is None:
            return
        await ensure_expiry(self.collection, EXPIRES_FIELD, self.retention_s)

    async def find_unsent(self, older_than_s: float, limit: int = 500) -> list[dict]:
        """Records whose events were not marked sent ``older_than_s`` after being applied."""
        cutoff = utc_stamp(datetime.now(UTC) - timedelta(seconds=older_than_s))
        found = self.collection.find({"sent": False, "applied_at": {"$lt": cutoff}}).limit(limit)
        return [doc async for doc in found]

    def applied_since(self, since: str) -> AsyncIOMotorCursor:
        """Records applied at or after the RFC 3339 time ``since``, oldest first."""
        return self.collection.find({"applied_at": {"$gte": since}}).sort("applied_at", 1)

    async def find(self, command_id: str) -> dict | None:
        return await self.collection.find_one({"_id": command_id})

    @staticmethod
    def _doc(command: CloudEvent, events: list[dict], sent: bool, applied_at: str) -> dict:
        # ``time``: the command's own time, which read models stamp (a picture's
        # ``updated_at``), so that a rebuild from these records makes the same documents.
        return {"_id": command.id, "subject": command.subject, "type": command.type,
                "time": command.time, "events": events, "sent": sent,
                "applied_at": applied_at,
                EXPIRES_FIELD: datetime.fromisoformat(applied_at)}

    async def record(self, command: CloudEvent, events: list[CloudEvent]) -> dict:
        doc = self._doc(command, [e.to_dict() for e in events], False, utc_now())
        await self.collection.replace_one({"_id": command.id}, doc, upsert=True)
        return doc

    async def mark_sent(self, command_id: str) -> None:
        await self.collection.update_one({"_id": command_id}, {"$set": {"sent": True}})

    async def find_many(self, command_ids: list[str]) -> dict[str, dict]:
        # In slices: the local MongoDB-compatible server answers a long $in list far more
        # slowly than several short ones (2,000 ids: 13 s in one query, 0.3 s in 40).
        found: dict[str, dict] = {}
        for start in range(0, len(command_ids), IN_MAX):
            ids = command_ids[start:start + IN_MAX]
            async for doc in self.collection.find({"_id": {"$in": ids}}):
                found[doc["_id"]] = doc
        return found

    async def record_sent(self, done: list[tuple[CloudEvent, list[dict]]]) -> None:
        """Record commands whose events went out already; one that is there stays as it is."""
        now = utc_now()
        await insert_new(self.collection,
                         [self._doc(command, events, True, now) for command, events in done])

    @staticmethod
    def commands_of(record: dict) -> list[str]:
        """The ids of the commands a record is about: its own, or a batch record's."""
        return record.get("commands") or [record["_id"]]

    @staticmethod
    def subjects_of(record: dict) -> list[str]:
        """The ids a record's commands changed: its own subject, or a batch record's."""
        return [s for s in record.get("subjects") or [record.get("subject")] if s]

    async def applied(self) -> set[str]:
        """The ids of every command recorded as applied and its events sent."""
        return {command_id async for doc in self.collection.find({"sent": True}, {"commands": 1})
                for command_id in self.commands_of(doc)}

    async def record_batch(self, done: list[tuple[CloudEvent, list[dict]]]) -> None:
        """Record a batch of a versioned agent, whose events went out: one document for the
        whole batch, with its commands' ids (``commands``), the ids they changed
        (``subjects``) and their events. A versioned agent never asks its inbox whether a
        command was applied (its writes tell by their versions), so nothing looks a command
        up by its id; the record is kept for ``resend`` and the read models' rebuilds, and a
        batch costs the store one document instead of one per command (500 commands: 5 ms
        instead of 75 on the local server). The same batch delivered again is the same
        document."""
        if not done:
            return
        ids = [command.id for command, _ in done]
        now = utc_now()
        await insert_new(self.collection, [{
            "_id": "batch-" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32],
            "commands": ids, "subjects": sorted({c.subject for c, _ in done if c.subject}),
            "events": [event for _, events in done for event in events], "sent": True,
            "applied_at": now, EXPIRES_FIELD: datetime.fromisoformat(now)}])

    async def mark_many_sent(self, command_ids: list[str]) -> None:
        if command_ids:
            await self.collection.update_many({"_id": {"$in": command_ids}},
                                              {"$set": {"sent": True}})


class CommandResults:
    """The public read model of what became of each command (``command_results``): the
    edge's ``?after=<command_id>`` reads it, never a service's inbox.

    Written after the command's own writes and its inbox record, so a result means the read
    models show the command; one document per command id: a redelivery writes the same
    result again and a command replayed from the dead letters replaces its rejection."""

    def __init__(self, db: AsyncIOMotorDatabase, service: str) -> None:
        self.collection = db[COMMAND_RESULTS]
        self.service = service

    def _doc(self, command: CloudEvent, outcome: str, reason: str | None) -> dict:
        return {"_id": command.id, "service": self.service, "type": command.type,
                "subject": command.subject, "outcome": outcome, "reason": reason,
                "applied_at": utc_now()}

    async def record(self, records: Iterable[tuple[Record, CloudEvent]], outcome: str,
                     reason: str | None = None) -> None:
        """Write ``outcome`` ("applied" or "rejected") for each command among ``records``
        (events are facts, not commands: they get no result).

        Inserted, which the local MongoDB-compatible server does about four times faster
        than upserts; a command that has a result already (a redelivery, a replay of a
        rejected one) has it replaced."""
        await self.write([event for record, event in records if record.kind == "command"],
                         outcome, reason)

    async def write(self, events: list[CloudEvent], outcome: str,
                    reason: str | None = None) -> None:
        """Write ``outcome`` under each of ``events``' ids, whatever they are (a service
        whose readers wait on a fact's id, as the follows' counts do, writes it for
        facts)."""
        docs = [self._doc(event, outcome, reason) for event in events]
        taken = await insert_new(self.collection, docs)
        if taken:
            await self.collection.bulk_write(
                [ReplaceOne({"_id": docs[n]["_id"]}, docs[n], upsert=True) for n in taken],
                ordered=False)


class Agent:
    """One domain's message handling, independent of Faust so tests can drive it directly."""

    def __init__(
        self,
        name: str,
        accepted: Iterable[Record],
        handler: Handler,
        send: Send,
        prefix: str,
        inbox: Inbox | None,
        batch_handler: BatchHandler | None = None,
        results: CommandResults | None = None,
        versioned: bool = False,
    ) -> None:
        """``versioned``: the handlers' writes are guarded by the versions of the commands
        (:mod:`picasso.versions`), so a command applied again changes nothing: the handlers
        are told where each command was read (``position=`` for one, ``positions=`` for a
        batch, in its order), and a batch is applied without asking the inbox first."""
        self.name = name
        self.accepted = tuple(accepted)
        self.handler = handler
        self.send = send
        self.prefix = prefix
        self.inbox = inbox
        self.batch_handler = batch_handler
        self.versioned = versioned
        # Every service with an inbox tells its commands' results, in the inbox's database.
        if results is None and inbox is not None:
            results = CommandResults(inbox.collection.database, name)
        self.results = results

    async def handle(self, raw: bytes | None, key: bytes | None, topic: str, partition: int,
                     offset: int) -> None:
        """Process one message from ``topic``; never raises for a bad message.

        It returns once the message was applied (its events sent) or dead-lettered; a
        transient failure of a store or of the broker is retried until it goes through.
        """
        m = Message(raw, key, topic, partition, offset)
        parsed = await self._read(m)
        if parsed is None:
            return
        record, event = parsed
        with traced(event):  # every line logged meanwhile carries the message's trace
            await self._handle(record, event, m)

    async def _handle(self, record: Record, event: CloudEvent, m: Message) -> None:
        raw, key, topic, partition, offset = m.raw, m.key, m.topic, m.partition, m.offset
        bound = log.bind(agent=self.name, command_id=event.id, type=event.type,
                         subject=event.subject)
        began = time.perf_counter()
        try:
            caused = await self._with_retries(lambda: self._apply(record, event, m), bound,
                                              (event.type,))
            MESSAGES_APPLIED.labels(self.name, event.type).inc()
            bound.info("message_applied", caused=caused,
                       ms=round((time.perf_counter() - began) * 1000, 1))
        except Rejected as exc:
            bound.info("message_rejected", reason=exc.reason)
            await self.dead_letter(exc.reason, raw, key, topic, partition, offset, event.id,
                                   event.type)
            await self._tell([(record, event)], "rejected", exc.reason, bound)
        except Exception as exc:  # noqa: BLE001 - a defect: keep the message for replay, go on
            bound.exception("message_failed")
            await self.dead_letter(f"internal error: {describe(exc)}", raw, key, topic,
                                   partition, offset, event.id, event.type)
        MESSAGE_SECONDS.labels(self.name, event.type).observe(time.perf_counter() - began)

    async def _read(self, m: Message) -> tuple[Record, CloudEvent] | None:
        """Parse and validate one message, or dead-letter it and answer None."""
        try:
            return parse(m.raw, self.accepted)
        except InvalidMessage as exc:
            reason = exc.reason
        except Exception as exc:  # noqa: BLE001 - e.g. a validator's RecursionError
            reason = f"message could not be read: {describe(exc)}"
        await self.dead_letter(reason, m.raw, m.key, m.topic, m.partition, m.offset, None)
        return None

    async def handle_batch(self, messages: list[Message]) -> None:
        """Process many messages with a few round trips; never raises for a bad message.

        Bad messages go to the dead letters one by one; the rest are looked up in the inbox
        at once (not for a versioned agent: see ``__init__``), applied at once by
        ``batch_handler``, recorded at once and their events sent together. A refusal or
        defect inside the batch falls back to one message at a time, so that only the
        message at fault is dead-lettered. Applying must stay idempotent
        (state-derived), as for single messages: a crash before the inbox records the batch
        is repaired by applying it again on redelivery. Without an inbox (a handler whose own
        writes are keyed and guarded so that applying an event twice changes nothing), the
        batch goes to ``batch_handler`` as it is and its events are sent, nothing recorded.
        """
        if self.batch_handler is None:
            for m in messages:
                await self.handle(m.raw, m.key, m.topic, m.partition, m.offset)
            return
        parsed: dict[str, tuple[Record, CloudEvent, Message]] = {}
        for m in messages:
            read = await self._read(m)
            if read is None:
                continue
            record, event = read
            parsed.setdefault(event.id, (record, event, m))  # a command twice: once
        if not parsed:
            return
        bound = log.bind(agent=self.name, batch=len(parsed))
        began = time.perf_counter()
        types = tuple(event.type for _, event, _ in parsed.values())
        try:
            caused = await self._with_retries(lambda: self._apply_batch(list(parsed.values())),
                                              bound, types)
            for type_ in types:
                MESSAGES_APPLIED.labels(self.name, type_).inc()
        except Exception as exc:  # noqa: BLE001 - isolate the message at fault
            bound.warning("batch_failed_one_at_a_time", error=repr(exc))
            for _, _, m in parsed.values():
                await self.handle(m.raw, m.key, m.topic, m.partition, m.offset)
            return
        ms = round((time.perf_counter() - began) * 1000, 1)
        bound.debug("batch_applied", ms=ms)
        for _, event, _ in parsed.values():  # one line per message, with its trace
            log.info("message_applied", agent=self.name, command_id=event.id, type=event.type,
                     subject=event.subject, caused=caused.get(event.id, []), batch_ms=ms,
                     **log_fields(event))

    async def _apply_batch(self, items: list[tuple[Record, CloudEvent, Message]]
                           ) -> dict[str, list[str]]:
        """Apply, send, then record: the batch path needs no outbox round trip.

        A batch handler is state-derived and its events' ids derive from the commands', so
        a crash after sending and before recording only means the redelivered batch is
        applied again (changing nothing) and its events sent again under the same ids,
        which consumers deduplicate. Commands the one-at-a-time path recorded but had not
        sent are sent from their outbox as usual.
        """
        done = (await self.inbox.find_many([event.id for _, event, _ in items])
                if self.inbox is not None and not self.versioned else {})
        fresh = [(record, event) for record, event, _ in items if event.id not in done]
        if not fresh:
            caused = []
        elif self.versioned:
            caused = await self.batch_handler(fresh, positions=[
                (m.partition, m.offset) for _, event, m in items if event.id not in done])
        else:
            caused = await self.batch_handler(fresh)
        # Events carry the trace of the command that caused them (the outbox keeps it).
        outgoing = [(event, [e.traced_by(event).to_dict() for e in events])
                    for (_, event), events in zip(fresh, caused)]
        unsent = [doc for doc in done.values() if not doc["sent"]]
        await asyncio.gather(*(self.send_events(events) for _, events in outgoing),
                             *(self.send_events(doc["events"]) for doc in unsent))
        if self.inbox is not None and self.versioned:
            await self.inbox.record_batch(outgoing)
        elif self.inbox is not None:
            await self.inbox.record_sent(outgoing)
            await self.inbox.mark_many_sent([doc["_id"] for doc in unsent])
        if self.results is not None:
            await self.results.record([(record, event) for record, event, _ in items],
                                      "applied")
        return {event.id: [e["id"] for e in events] for event, events in outgoing}

    async def _apply(self, record: Record, event: CloudEvent, m: Message) -> list[str]:
        """Apply one message; answers the ids of the events it caused."""
        done = await self.inbox.find(event.id) if self.inbox else None
        caused: list[str] = []
        if done is None:
            # Events carry the trace of the command that caused them (the outbox keeps it).
            applied = (self.handler(record, event, position=(m.partition, m.offset))
                       if self.versioned else self.handler(record, event))
            events = [e.traced_by(event) for e in await applied]
            caused = [e.id for e in events]
            if self.inbox is None:
                await self.send_events(e.to_dict() for e in events)
            else:
                done = await self.inbox.record(event, events)
        elif not done["sent"]:  # recorded by an earlier run that did not send them
            caused = [e["id"] for e in done["events"]]
        if done is not None and not done["sent"]:
            await self.send_events(done["events"])
            await self.inbox.mark_sent(event.id)
        if self.results is not None:  # also on a redelivery: the last run may have stopped
            await self.results.record([(record, event)], "applied")
        return caused

    async def _tell(self, records: list[tuple[Record, CloudEvent]], outcome: str,
                    reason: str, bound) -> None:
        if self.results is not None:
            await self._with_retries(lambda: self.results.record(records, outcome, reason),
                                     bound, tuple(event.type for _, event in records))

    async def send_events(self, events: Iterable[dict]) -> None:
        """Put recorded events (CloudEvent dicts) on their topics, one after the other."""
        for doc in events:
            record = RECORDS[doc["type"]]
            raw = CloudEvent.from_dict(doc).to_json()
            await self.send(record.topic.name(self.prefix), doc["subject"].encode(), raw)

    async def send_unsent(self, older_than_s: float = 5.0) -> int:
        """Send the events of commands applied at least ``older_than_s`` ago but never marked
        sent (a worker that died between recording and sending); answers how many commands.

        Runs from a timer in every worker, so events do not wait for the command to be
        redelivered. Two sweepers, or a sweeper and the handler, may send the same events
        twice; they keep their ids, and consumers deduplicate by id.
        """
        if self.inbox is None:
            return 0
        unsent = await self.inbox.find_unsent(older_than_s)
        for doc in unsent:
            await self.send_events(doc["events"])
            await self.inbox.mark_sent(doc["_id"])
            log.info("outbox_swept", agent=self.name, command_id=doc["_id"],
                     events=len(doc["events"]))
        return len(unsent)

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]], bound,
                            types: tuple[str, ...]) -> T:
        """``attempt`` until it goes through or fails for good; each retry is counted for
        each of the messages (by their ``types``) it was for."""
        for n in range(10**9):
            try:
                return await attempt()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                for type_ in types:
                    MESSAGES_RETRIED.labels(self.name, type_).inc()
                delay = RETRY_DELAYS[min(n, len(RETRY_DELAYS) - 1)]
                bound.warning("dependency_unavailable_retrying", error=describe(exc),
                              delay_s=delay, attempt=n + 1)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def dead_letter(self, reason: str, raw: bytes | None, key: bytes | None, topic: str,
                          partition: int, offset: int, original_id: str | None,
                          type_: str = "unknown") -> None:
        """Put a message the agent cannot accept on ``picasso.deadletter`` with ``reason``
        (``type_``: the message's type, for the metrics; unknown when it did not parse).

        The letter always fits: a huge payload is cut to an excerpt, with the whole one's
        size and digest. Sending is retried while the broker is away, so the message is
        acknowledged only once its letter is on the topic.
        """
        data = dead_letter_data(self.name, reason, raw, key, topic, partition, offset,
                                original_id)
        letter = CloudEvent(
            type=MESSAGE_REJECTED.type, subject=data["key"] or "", data=data, source=SOURCE,
            id=f"{topic}/{partition}/{offset}",
        )
        log.warning("dead_lettered", agent=self.name, topic=topic, partition=partition,
                    offset=offset, reason=reason[:500])
        bound = log.bind(agent=self.name, topic=topic, partition=partition, offset=offset)
        body = letter.to_json()
        await self._with_retries(
            lambda: self.send(DEADLETTER.name(self.prefix), (key or b"")[:KEY_EXCERPT_BYTES],
                              body), bound, (type_,))
        MESSAGES_DEAD_LETTERED.labels(self.name, type_).inc()


def dead_letter_data(agent: str, reason: str, raw: bytes | None, key: bytes | None, topic: str,
                     partition: int, offset: int, original_id: str | None) -> dict:
    """The body of a dead letter, bounded in size whatever the message was."""
    payload = raw or b""
    excerpt = payload[:PAYLOAD_EXCERPT_BYTES]
    short_key = key[:KEY_EXCERPT_BYTES] if key is not None else None
    return {
        "reason": reason[:4000],
        "agent": agent,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": short_key.decode("utf-8", "replace") if short_key is not None else None,
        "payload": excerpt.decode("utf-8", "replace"),
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "payload_truncated": len(excerpt) < len(payload),
        "original_id": original_id,
    }
