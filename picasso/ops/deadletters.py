"""The dead letters on ``picasso.deadletter``: read them, choose some, and replay them.

A letter names the message it stands for by topic, partition and offset (its id is
``<topic>/<partition>/<offset>``), and carries the payload, cut to 64 KiB, with the whole
one's size and SHA-256 (:mod:`topics.deadletter`). Replaying puts the original message back
on the topic it came from, with its key, so that it goes to the same partition and is
consumed as it was the first time; a command the inbox recorded as applied is skipped there,
so replaying one twice (or a letter that two redeliveries wrote twice) applies it once.

Where the bytes come from: the original message, fetched from its topic at its offset, when
the broker still has it and its SHA-256 is the letter's (a broker whose log was refilled
after a crash can hold another message at that offset). Otherwise the letter's own payload,
when it is whole (not cut) and its bytes have that SHA-256. A letter for which neither holds
(a payload over 64 KiB, or one that was not UTF-8, whose original is past the topic's
retention) cannot be replayed: the replay says so, changes nothing for it, and exits 1.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from picasso.failures import describe
from topics.deadletter import MESSAGE_REJECTED
from topics.envelope import InvalidMessage, decode

# How long a read waits for the broker's next batch before it takes a topic's end as reached.
FETCH_TIMEOUT_MS = 1000


@dataclass(frozen=True)
class Letter:
    """One dead letter as it is on the topic."""

    id: str  # "<topic>/<partition>/<offset>" of the message it stands for
    time: str  # when the message was dead-lettered (RFC 3339)
    data: dict

    @property
    def original_type(self) -> str | None:
        """The CloudEvents type of the message it stands for, when its payload tells."""
        try:  # any bytes can be dead-lettered: JSON nested too deep for Python included
            doc = decode(self.data.get("payload"))
        except InvalidMessage:
            return None
        type_ = doc.get("type")
        return type_ if isinstance(type_, str) else None

    def line(self) -> str:
        d = self.data
        return (f"{self.time}  {self.id}  agent={d.get('agent')}  "
                f"type={self.original_type or '-'}  key={d.get('key')}  "
                f"bytes={d.get('payload_bytes')}  reason={d.get('reason')}")


@dataclass
class Choice:
    """Which letters an operator means: every condition given must hold.

    ``types`` match a type in full or by its last part (``AddComment`` is
    ``picasso.comments.AddComment``); ``reason`` is a case-insensitive part of the reason;
    ``topics`` are full topic names; ``since`` and ``until`` bound the letter's time."""

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    reason: str | None = None
    topics: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    extra: Callable[[Letter], bool] | None = field(default=None, repr=False)

    def __call__(self, letter: Letter) -> bool:
        d = letter.data
        type_ = letter.original_type or ""
        return (
            (not self.ids or letter.id in self.ids)
            and (not self.types or any(type_ == t or type_.endswith(f".{t}")
                                       for t in self.types))
            and (self.reason is None or self.reason.lower() in str(d.get("reason")).lower())
            and (not self.topics or d.get("topic") in self.topics)
            and (not self.agents or d.get("agent") in self.agents)
            and (self.since is None or letter.time >= self.since)
            and (self.until is None or letter.time <= self.until)
            and (self.extra is None or self.extra(letter))
        )


async def read(bootstrap: str, topic: str) -> list[Letter]:
    """Every letter on the dead-letter topic ``topic``, oldest first per partition, each
    letter once (a message dead-lettered twice, by two deliveries, wrote the same letter)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fills the metadata partitions_for_topic reads
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        letters: dict[str, Letter] = {}
        while True:
            # Read until a fetch finds nothing more: the local broker can report an end
            # offset short of the last record (see picasso.lag).
            batch = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
            if not any(batch.values()):
                break
            for records in batch.values():
                for r in records:
                    letter = _letter(r.value)
                    if letter is not None:
                        letters.setdefault(letter.id, letter)
        return sorted(letters.values(), key=lambda letter: letter.time)
    finally:
        await consumer.stop()


def _letter(raw: bytes | None) -> Letter | None:
    try:
        doc = decode(raw)
    except InvalidMessage:
        return None
    if doc.get("type") != MESSAGE_REJECTED.type:
        return None
    data = doc.get("data")
    if not isinstance(data, dict):
        return None
    return Letter(str(doc.get("id")), str(doc.get("time")), data)


async def fetch_original(consumer: AIOKafkaConsumer, topic: str, partition: int,
                         offset: int) -> tuple[bytes | None, bytes | None] | None:
    """The key and value of the message at ``offset``, or None when the broker no longer
    has it (past retention, or a log that starts later or ends earlier)."""
    tp = TopicPartition(topic, partition)
    await consumer.topics()
    if partition not in (consumer.partitions_for_topic(topic) or ()):
        return None
    first = (await consumer.beginning_offsets([tp]))[tp]
    if offset < first:
        return None
    consumer.assign([tp])
    consumer.seek(tp, offset)
    while True:
        batch = await consumer.getmany(tp, timeout_ms=FETCH_TIMEOUT_MS, max_records=100)
        records = batch.get(tp, [])
        if not records:
            return None
        for r in records:
            if r.offset == offset:
                return r.key, r.value
            if r.offset > offset:
                return None


def whole_payload(letter: Letter) -> bytes | None:
    """The message's bytes from the letter itself, when it holds them all unchanged."""
    d = letter.data
    if d.get("payload_truncated"):
        return None
    raw = str(d.get("payload", "")).encode()
    return raw if hashlib.sha256(raw).hexdigest() == d.get("payload_sha256") else None


@dataclass
class Outcome:
    replayed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


async def replay(bootstrap: str, letters: Iterable[Letter], *, dry_run: bool,
                 report: Callable[[str], object]) -> Outcome:
    """Put the message of each letter back on the topic it came from, with its key.

    With ``dry_run``, say what would be replayed (and from where) and send nothing."""
    outcome = Outcome()
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                              enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await reader.start()
    if not dry_run:
        await producer.start()
    try:
        for letter in letters:
            d = letter.data
            topic, partition, offset = d["topic"], int(d["partition"]), int(d["offset"])
            try:
                found = await fetch_original(reader, topic, partition, offset)
            except Exception as exc:  # noqa: BLE001 - a topic gone; the letter may still do
                report(f"{letter.id}: could not read the original: {describe(exc)}")
                found = None
            key = d.get("key").encode() if d.get("key") is not None else None
            value: bytes | None = None
            source = ""
            if found is not None and hashlib.sha256(found[1] or b"").hexdigest() \
                    == d.get("payload_sha256"):
                key, value = found
                source = f"the original at {topic}[{partition}]@{offset}"
            else:
                value = whole_payload(letter)
                source = "the letter's payload (the original is no longer on its topic)"
            if value is None:
                report(f"{letter.id}: cannot replay: the original is no longer on {topic} "
                       f"and the letter holds only a {len(str(d.get('payload', '')))}-character "
                       f"excerpt of its {d.get('payload_bytes')} bytes")
                outcome.refused.append(letter.id)
                continue
            if dry_run:
                report(f"{letter.id}: would replay {len(value)} bytes from {source} "
                       f"to {topic} (key {key!r})")
            else:
                await producer.send_and_wait(topic, value, key=key)
                report(f"{letter.id}: replayed {len(value)} bytes from {source} to {topic}")
            outcome.replayed.append(letter.id)
    finally:
        await reader.stop()
        if not dry_run:
            await producer.stop()
    return outcome
