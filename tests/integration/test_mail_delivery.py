"""The mail agent's delivery rules against a real SMTP server and the real MongoDB.

Each test starts its own small aiosmtpd servers on 127.0.0.1 whose handler refuses as told
(a 4xx once, a 4xx for one recipient for a while, a 5xx), and drives
:class:`agents.mail.mailer.Mailer` directly against them, through the agent runtime where the
test is about the stream going on, with its sweeper running as a task where mail waits.
Retry schedules are a fraction of a second to a few seconds, set as the settings would.
"""

from __future__ import annotations

import asyncio
import email
import json
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from motor.motor_asyncio import AsyncIOMotorClient

from agents.mail.compose import Letterhead
from agents.mail.mailer import Mailer, Schedule
from agents.mail.relay import Relay
from deploy.local.stack import free_ports
from picasso.mongo import MAIL_DELIVERIES
from picasso.runtime import Agent
from picasso.settings import Settings
from picasso.tasks import cancel_all
from topics import PICTURES_EVENTS, USERS_EVENTS, Topic
from topics.envelope import CloudEvent
from topics.pictures import PICTURE_PUBLISHED
from topics.purchases import PURCHASE_COMPLETED
from topics.registry import RECORDS
from topics.users import USER_PREFERENCES_CHANGED, USER_REGISTERED

LETTERHEAD = Letterhead("Picasso <no-reply@picasso.test>", "http://picasso.test", "key")
PREFIX = "t."
WAIT_S = 15.0  # how long a test waits for an outcome before it gives up


class Recorder:
    """An aiosmtpd handler that keeps what it accepts and refuses as it is told."""

    def __init__(self, data_replies: Iterator[str] = iter(()), rcpt_reply: str | None = None,
                 refuse_until: dict[str, float] | None = None, data_delay_s: float = 0.0):
        self.data_replies = data_replies  # answers to DATA before accepting (e.g. a 451)
        self.rcpt_reply = rcpt_reply  # answer to every RCPT instead of accepting
        # Recipients refused with a 450 until a time (time.monotonic()), then accepted.
        self.refuse_until = refuse_until or {}
        self.data_delay_s = data_delay_s  # a slow server, so that senders overlap
        self.accepted: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.transactions = 0  # RCPT commands seen: one per attempt to send
        self.rcpts: list[tuple[float, str]] = []  # (when, to whom) for every RCPT
        self.arrivals: list[tuple[float, str]] = []  # (when, to whom) for every message kept

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        self.transactions += 1
        self.rcpts.append((time.monotonic(), address))
        if self.rcpt_reply:
            return self.rcpt_reply
        if time.monotonic() < self.refuse_until.get(address, 0.0):
            return "450 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = next(self.data_replies, None)
        if reply:
            return reply
        await asyncio.sleep(self.data_delay_s)
        self.accepted.append(email.message_from_bytes(envelope.original_content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.arrivals.extend((time.monotonic(), to) for to in envelope.rcpt_tos)
        return "250 2.0.0 Message accepted"

    def to(self, address: str) -> list[Message]:
        return [m for m, (_, tos) in zip(self.accepted, self.envelopes) if address in tos]


@pytest.fixture
def mongo_url(stack) -> str:
    return Settings.from_env(stack.env()).mongodb_url


@pytest.fixture
async def db(mongo_url: str):
    client = AsyncIOMotorClient(mongo_url, tz_aware=True)
    name = f"mail_{uuid.uuid4().hex[:8]}"
    yield client[name]
    await client.drop_database(name)


async def smtp_server(handler: Recorder, port: int | None = None) -> tuple[asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    port = port or free_ports(["smtp"])["smtp"]
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", loop=loop), host="127.0.0.1", port=port)
    return server, port


@pytest.fixture
async def relay_for():
    """``relay_for(handler, port=None)``: a real SMTP server with that handler, a Relay to it."""
    servers: list[asyncio.Server] = []

    async def start(handler: Recorder, port: int | None = None) -> Relay:
        server, port = await smtp_server(handler, port)
        servers.append(server)
        return Relay("127.0.0.1", port, timeout_s=10)

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


class Letters:
    """What a mailer produced to Kafka (its dead letters), kept in a list."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def __call__(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))


def mailer(db, relay: Relay, send: Letters | None = None, **schedule) -> Mailer:
    """A mailer with a schedule of fractions of a second, unless the test says otherwise."""
    timing = {"retry_delays_s": (0.05,), "retry_for_s": 30.0, "user_wait_s": 30.0,
              "lease_s": 20.0, **schedule}
    return Mailer(db, relay, LETTERHEAD, send or Letters(), PREFIX, Schedule(**timing))


def stream(m: Mailer, topic: Topic, send: Letters | None = None) -> Callable:
    """Feed events to ``m`` through the agent runtime, as one partition of ``topic`` would."""
    accepted = [r for r in RECORDS.values() if r.topic is topic]
    agent = Agent("mail", accepted, m.handle, send or m.send, PREFIX, None)
    offsets = iter(range(10**9))

    async def feed(event: CloudEvent) -> None:
        await agent.handle(event.to_json(), event.subject.encode(), topic.name(PREFIX), 0,
                           next(offsets))

    return feed


@asynccontextmanager
async def sweeping(*mailers: Mailer, every_s: float = 0.05) -> AsyncIterator[None]:
    """The mailers' sweepers running meanwhile, as the worker's timer runs them; stopped by
    :func:`~picasso.tasks.cancel_all` (one cancel can be lost as the SMTP reply arrives)."""
    async def loop(m: Mailer) -> None:
        while True:
            await m.sweep()
            await asyncio.sleep(every_s)

    tasks = [asyncio.create_task(loop(m)) for m in mailers]
    try:
        yield
    finally:
        for outcome in await cancel_all(*tasks):
            if not isinstance(outcome, asyncio.CancelledError):
                raise AssertionError(f"a sweeper failed: {outcome!r}")


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


def registered(user_id: str, email_address: str, name: str = "Ann") -> CloudEvent:
    return CloudEvent(type=USER_REGISTERED.type, subject=user_id, source="/tests",
                      data={"user_id": user_id, "email": email_address, "display_name": name})


def published(owner_id: str, title: str = "Harbour at dawn") -> CloudEvent:
    picture_id = uuid.uuid4().hex
    return CloudEvent(type=PICTURE_PUBLISHED.type, subject=picture_id, source="/tests", data={
        "picture_id": picture_id, "owner_id": owner_id, "currency": "usd", "title": title,
        "description": "", "price_cents": 500, "tags": [], "width": 10, "height": 10,
        "format": "jpeg", "original_key": "o", "thumbnail_key": "t", "preview_key": "p",
        "created_at": "2026-01-01T00:00:00Z",
    })


def turned_off(user_id: str, *kinds: str) -> CloudEvent:
    return CloudEvent(type=USER_PREFERENCES_CHANGED.type, subject=user_id, source="/tests",
                      data={"user_id": user_id, "preferences": {k: False for k in kinds}})


def mails_arrived(handler: Recorder, count: int) -> Callable:
    async def check() -> bool:
        return len(handler.accepted) >= count
    return check


async def apply(m: Mailer, event: CloudEvent) -> None:
    await m.handle(RECORDS[event.type], event)


async def delivery(db, event: CloudEvent, kind: str) -> dict:
    return await db[MAIL_DELIVERIES].find_one({"_id": f"{event.id}/{kind}"})


def status_is(db, event: CloudEvent, kind: str, status: str) -> Callable:
    async def check() -> bool:
        found = await delivery(db, event, kind)
        return found is not None and found["status"] == status
    return check


async def test_the_same_event_twice_sends_one_mail(db, relay_for) -> None:
    handler = Recorder()
    m = mailer(db, await relay_for(handler))
    welcome = registered("u1", "ann@example.com")
    live = published("u1")
    for event in (welcome, welcome, live, live):
        await apply(m, event)
    assert [msg["X-Picasso-Kind"] for msg in handler.accepted] == [
        "welcome", "picture_published"]
    assert handler.envelopes[0] == ("no-reply@picasso.test", ["ann@example.com"])
    assert handler.transactions == 2
    assert (await delivery(db, live, "picture_published"))["status"] == "sent"


async def test_a_4xx_once_is_parked_and_sent_by_the_sweeper(db, relay_for) -> None:
    handler = Recorder(data_replies=iter(["451 4.7.1 Greylisted, try again later"]))
    m = mailer(db, await relay_for(handler))
    event = registered("u1", "ann@example.com")
    await apply(m, event)  # returns once the relay said 451: nothing waits in the handler
    record = await delivery(db, event, "welcome")
    assert (record["status"], record["attempts"]) == ("waiting", 1)
    assert "451" in record["reason"] and record["due_at"] is not None
    assert handler.accepted == []
    async with sweeping(m):
        await wait_until(status_is(db, event, "welcome", "sent"), "the retry was sent")
    record = await delivery(db, event, "welcome")
    assert record["attempts"] == 2 and "Message accepted" in record["reply"]
    assert len(handler.accepted) == 1 and handler.transactions == 2
    assert handler.accepted[0]["Message-ID"] == record["message_id"]


async def test_a_4xx_that_persists_is_failed_after_the_retry_time(db, relay_for) -> None:
    handler = Recorder(data_replies=iter(["452 4.2.2 Mailbox full"] * 1000))
    m = mailer(db, await relay_for(handler), retry_delays_s=(0.05, 0.1), retry_for_s=0.6)
    event = registered("u1", "ann@example.com")
    await apply(m, event)
    async with sweeping(m):
        await wait_until(status_is(db, event, "welcome", "failed"), "the mail was given up")
    record = await delivery(db, event, "welcome")
    assert "452" in record["reason"] and f"{record['attempts']} attempts" in record["reason"]
    assert record["attempts"] >= 3 and record["due_at"] is None
    assert handler.accepted == [] and handler.transactions == record["attempts"]


async def test_a_5xx_is_recorded_as_failed_and_not_retried(db, relay_for) -> None:
    handler = Recorder(rcpt_reply="550 5.1.1 No such mailbox")
    m = mailer(db, await relay_for(handler))
    event = registered("u1", "nobody@example.com")
    await apply(m, event)
    record = await delivery(db, event, "welcome")
    assert record["status"] == "failed" and "550" in record["reason"]
    assert handler.transactions == 1
    await apply(m, event)  # redelivered: a permanent failure stays failed
    assert await m.sweep() == 0
    assert handler.transactions == 1 and handler.accepted == []


async def test_a_recipient_refused_for_a_while_does_not_hold_up_the_others(
        db, relay_for) -> None:
    window_s, retry_s = 3.0, 2.0  # refused for 3 s; tried again after 2 s, then 2 s more
    began = time.monotonic()
    handler = Recorder(refuse_until={"slow@example.com": began + window_s})
    m = mailer(db, await relay_for(handler), retry_delays_s=(retry_s,))
    feed = stream(m, USERS_EVENTS)
    slow = registered("slow", "slow@example.com", "Sal")
    others = [registered(f"u{i}", f"u{i}@example.com") for i in range(5)]
    async with sweeping(m):
        for event in (slow, *others):
            await feed(event)
        # The stream went on past the refused mail: the others reach the mailbox (before the
        # refused one is tried again: checked below with the times of arrival).
        async def others_arrived() -> bool:
            return sorted(to for _, to in handler.arrivals) == [f"u{i}@example.com"
                                                               for i in range(5)]
        await wait_until(others_arrived, "the others' mail arrived")
        assert (await delivery(db, slow, "welcome"))["status"] == "waiting"
        await wait_until(status_is(db, slow, "welcome", "sent"), "the refused mail went")
    assert await m.sweep() == 0  # nothing left to send
    tries = [when for when, to in handler.rcpts if to == "slow@example.com"]
    arrived = {to: when for when, to in handler.arrivals}
    assert len(tries) >= 2 and tries[-1] >= began + window_s
    # Every other mail arrived before the refused one was even tried a second time.
    assert max(arrived[f"u{i}@example.com"] for i in range(5)) < tries[1]
    [mail] = handler.to("slow@example.com")
    assert mail["To"] == "Sal <slow@example.com>"
    assert len(handler.accepted) == 6
    record = await delivery(db, slow, "welcome")
    assert record["attempts"] == len(tries) and record["message_id"] == mail["Message-ID"]


async def test_a_relay_down_then_back_delivers_each_mail_once(db, relay_for) -> None:
    port = free_ports(["smtp"])["smtp"]  # nothing listens there yet
    m = mailer(db, Relay("127.0.0.1", port, timeout_s=5), retry_delays_s=(0.1, 0.2, 0.4))
    welcome, live = registered("u1", "ann@example.com"), published("u1")
    feed = stream(m, USERS_EVENTS)
    await feed(welcome)  # tried once: connection refused, parked
    await stream(m, PICTURES_EVENTS)(live)  # not even tried: the relay was just down
    first = await delivery(db, welcome, "welcome")
    second = await delivery(db, live, "picture_published")
    assert (first["status"], first["attempts"]) == ("waiting", 1)
    assert "unavailable" in first["reason"]
    assert (second["status"], second.get("attempts", 0)) == ("waiting", 0)
    async with sweeping(m):
        async def tried_again() -> bool:
            return (await delivery(db, welcome, "welcome")).get("attempts", 0) >= 2
        await wait_until(tried_again, "the sweeper tried while the relay was down")
        handler = Recorder()
        await relay_for(handler, port)
        for event, kind in ((welcome, "welcome"), (live, "picture_published")):
            await wait_until(status_is(db, event, kind, "sent"), f"the {kind} mail went")
    assert sorted(m["X-Picasso-Kind"] for m in handler.accepted) == [
        "picture_published", "welcome"]
    assert handler.transactions == 2


async def test_preferences_are_read_when_a_parked_mail_goes(db, relay_for) -> None:
    port = free_ports(["smtp"])["smtp"]
    m = mailer(db, Relay("127.0.0.1", port, timeout_s=5))
    await apply(m, registered("u1", "ann@example.com"))  # the relay is down: parked
    live = published("u1")
    await apply(m, live)
    await apply(m, turned_off("u1", "picture_published"))  # while the mail waits
    handler = Recorder()
    await relay_for(handler, port)
    async with sweeping(m):
        await wait_until(status_is(db, live, "picture_published", "skipped"),
                         "the mail turned off meanwhile was skipped")
        await wait_until(mails_arrived(handler, 1), "the welcome mail went")
    assert [msg["X-Picasso-Kind"] for msg in handler.accepted] == ["welcome"]


async def test_mail_for_a_user_who_registers_later_goes_when_they_do(db, relay_for) -> None:
    handler = Recorder()
    m = mailer(db, await relay_for(handler))
    pictures, users = stream(m, PICTURES_EVENTS), stream(m, USERS_EVENTS)
    early = published("late", title="Early bird")
    await pictures(early)  # before the owner's UserRegistered: parked, the stream goes on
    assert (await delivery(db, early, "picture_published"))["status"] == "waiting_for_user"
    await users(registered("u1", "ann@example.com"))
    assert [m["To"] for m in handler.accepted] == ["Ann <ann@example.com>"]  # not held up
    await users(registered("late", "lee@example.com", "Lee"))
    kinds = [msg["X-Picasso-Kind"] for msg in handler.to("lee@example.com")]
    assert kinds == ["welcome", "picture_published"]
    record = await delivery(db, early, "picture_published")
    assert (record["status"], record["attempts"]) == ("sent", 1)
    await pictures(early)  # redelivered: already sent
    assert await m.sweep() == 0 and len(handler.accepted) == 3


async def test_mail_for_a_user_who_never_comes_goes_to_the_dead_letters(
        db, relay_for) -> None:
    handler = Recorder()
    letters = Letters()
    m = mailer(db, await relay_for(handler), letters, user_wait_s=0.3)
    feed = stream(m, PICTURES_EVENTS)
    event = published("ghost")
    await feed(event)
    assert letters.sent == []  # waiting for the user, not refused
    async with sweeping(m):
        await wait_until(status_is(db, event, "picture_published", "dead_lettered"),
                         "the mail was given up")
    assert handler.accepted == []
    [(topic, key, value)] = letters.sent
    letter = json.loads(value)["data"]
    assert topic == "t.picasso.deadletter" and key == event.subject.encode()
    assert "no address for user ghost" in letter["reason"]
    assert letter["original_id"] == event.id and letter["topic"] == "t.picasso.pictures.events"
    # Once the user exists, replaying the letter's payload sends the mail, once.
    await stream(m, USERS_EVENTS)(registered("ghost", "gus@example.com", "Gus"))
    replayed = CloudEvent.from_dict(json.loads(letter["payload"]))
    await feed(replayed)
    await feed(replayed)
    assert [m["X-Picasso-Kind"] for m in handler.to("gus@example.com")] == [
        "welcome", "picture_published"]


async def test_two_sweepers_never_send_a_delivery_twice(db, mongo_url, relay_for) -> None:
    port = free_ports(["smtp"])["smtp"]
    relay = Relay("127.0.0.1", port, timeout_s=5)
    first = mailer(db, relay, retry_delays_s=(0.01,))
    # A second worker: its own client and connections to the same database.
    other = AsyncIOMotorClient(mongo_url, tz_aware=True)
    second = mailer(other[db.name], relay, retry_delays_s=(0.01,))
    events = [registered(f"u{i}", f"u{i}@example.com") for i in range(30)]
    for event in events:  # the relay is down: every mail is parked, due at once
        await apply(first, event)
    await asyncio.sleep(0.05)
    handler = Recorder(data_delay_s=0.02)  # slow enough that both are sending at once
    await relay_for(handler, port)
    counts = await asyncio.gather(first.sweep(), second.sweep())
    other.close()
    assert all(counts), f"both sweepers took deliveries: {counts}"
    ids = [msg["Message-ID"] for msg in handler.accepted]
    assert len(ids) == len(set(ids)) == 30 and handler.transactions == 30
    statuses = await db[MAIL_DELIVERIES].distinct("status")
    assert statuses == ["sent"]


@pytest.mark.parametrize("lease", ["run out", "none (an older worker's record)"])
async def test_an_unknown_outcome_is_sent_again_as_the_same_message(
        db, relay_for, lease: str) -> None:
    handler = Recorder()
    m = mailer(db, await relay_for(handler))
    await m.preferences_changed(CloudEvent(
        type=USER_PREFERENCES_CHANGED.type, subject="u1", source="/tests",
        data={"user_id": "u1", "preferences": {"picture_sold": True}}))
    await m.user_updated(CloudEvent(type="x", subject="u1", source="/tests", data={
        "user_id": "u1", "email": "ann@example.com", "display_name": "Ann"}))
    event = published("u1")
    # As if a worker died between the relay's 250 and recording "sent".
    crashed = {"_id": f"{event.id}/picture_published", "status": "sending", "attempts": 1}
    if lease == "run out":
        crashed["due_at"] = datetime.now(UTC) - timedelta(seconds=1)
    await db[MAIL_DELIVERIES].insert_one(crashed)
    await apply(m, event)
    assert len(handler.accepted) == 1
    record = await delivery(db, event, "picture_published")
    assert record["status"] == "sent" and record["attempts"] == 2
    assert handler.accepted[0]["Message-ID"] == record["message_id"]


async def test_a_delivery_being_sent_is_left_to_its_sender(db, relay_for) -> None:
    handler = Recorder()
    m = mailer(db, await relay_for(handler))
    await apply(m, registered("u1", "ann@example.com"))
    event = published("u1")
    held = {"_id": f"{event.id}/picture_published", "status": "sending", "attempts": 1,
            "due_at": datetime.now(UTC) + timedelta(minutes=5)}  # another worker's lease
    await db[MAIL_DELIVERIES].insert_one(held)
    await apply(m, event)
    assert await m.sweep() == 0
    assert [msg["X-Picasso-Kind"] for msg in handler.accepted] == ["welcome"]


async def test_turned_off_kinds_are_skipped_and_receipts_still_go(db, relay_for) -> None:
    handler = Recorder()
    m = mailer(db, await relay_for(handler))
    await apply(m, registered("seller", "sam@example.com", "Sam"))
    await apply(m, registered("buyer", "bea@example.com", "Bea"))
    for user_id in ("seller", "buyer"):
        await apply(m, turned_off(user_id, "picture_published", "picture_sold"))
    live = published("seller", title="Quay")
    await apply(m, live)
    sold = CloudEvent(type=PURCHASE_COMPLETED.type, subject="b1", source="/tests", data={
        "purchase_id": "b1", "picture_id": live.data["picture_id"], "buyer_id": "buyer",
        "seller_id": "seller", "amount_cents": 500, "currency": "usd", "title": "Quay"})
    await apply(m, sold)
    kinds = [(msg["X-Picasso-Kind"], msg["To"]) for msg in handler.accepted]
    assert kinds == [("welcome", "Sam <sam@example.com>"), ("welcome", "Bea <bea@example.com>"),
                     ("receipt", "Bea <bea@example.com>")]
    skipped = await delivery(db, live, "picture_published")
    assert (skipped["status"], skipped["user_id"]) == ("skipped", "seller")
    assert (await delivery(db, sold, "picture_sold"))["status"] == "skipped"
