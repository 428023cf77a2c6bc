"""The mail agent's delivery rules against a real SMTP server and the real MongoDB.

Each test starts its own small aiosmtpd server on 127.0.0.1 whose handler refuses as told
(a 4xx once, a 5xx), and drives :class:`agents.mail.logic.Mailer` directly against it.
"""

from __future__ import annotations

import asyncio
import email
import json
import uuid
from email.message import Message
from typing import Iterator

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from motor.motor_asyncio import AsyncIOMotorClient

from agents.mail.compose import Letterhead
from agents.mail.logic import Mailer
from agents.mail.relay import Relay, RelayUnavailable
from agents.runtime import Agent
from deploy.local.stack import free_ports
from picasso.mongo import MAIL_DELIVERIES
from picasso.settings import Settings
from topics import PICTURES_EVENTS
from topics.envelope import CloudEvent
from topics.pictures import PICTURE_PUBLISHED
from topics.purchases import PURCHASE_COMPLETED
from topics.registry import RECORDS
from topics.users import USER_PREFERENCES_CHANGED, USER_REGISTERED

LETTERHEAD = Letterhead("Picasso <no-reply@picasso.test>", "http://picasso.test", "key")


class Recorder:
    """An aiosmtpd handler that keeps what it accepts and refuses as it is told."""

    def __init__(self, data_replies: Iterator[str] = iter(()), rcpt_reply: str | None = None):
        self.data_replies = data_replies  # answers to DATA before accepting (e.g. a 451)
        self.rcpt_reply = rcpt_reply  # answer to every RCPT instead of accepting
        self.accepted: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.transactions = 0  # RCPT commands seen: one per attempt to send

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        self.transactions += 1
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = next(self.data_replies, None)
        if reply:
            return reply
        self.accepted.append(email.message_from_bytes(envelope.original_content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 Message accepted"


@pytest.fixture
async def db(stack):
    client = AsyncIOMotorClient(Settings.from_env(stack.env()).mongodb_url)
    name = f"mail_{uuid.uuid4().hex[:8]}"
    yield client[name]
    await client.drop_database(name)


async def smtp_server(handler: Recorder) -> tuple[asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    port = free_ports(["smtp"])["smtp"]
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", loop=loop), host="127.0.0.1", port=port)
    return server, port


@pytest.fixture
async def relay_for():
    """``relay_for(handler)``: a real SMTP server with that handler, and a Relay to it."""
    servers: list[asyncio.Server] = []

    async def start(handler: Recorder) -> Relay:
        server, port = await smtp_server(handler)
        servers.append(server)
        return Relay("127.0.0.1", port, timeout_s=10)

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def mailer(db, relay: Relay, **options) -> Mailer:
    return Mailer(db, relay, LETTERHEAD, **{"user_wait_s": 5.0,
                                            "retry_delays_s": (0.01, 0.01), **options})


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


async def apply(m: Mailer, event: CloudEvent) -> None:
    await m.handle(RECORDS[event.type], event)


async def delivery(db, event: CloudEvent, kind: str) -> dict:
    return await db[MAIL_DELIVERIES].find_one({"_id": f"{event.id}/{kind}"})


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


async def test_a_4xx_once_then_accepted_delivers_one_mail(db, relay_for) -> None:
    handler = Recorder(data_replies=iter(["451 4.7.1 Greylisted, try again later"]))
    m = mailer(db, await relay_for(handler))
    await m.user_registered(registered("u1", "ann@example.com"))  # the welcome: refused once
    assert len(handler.accepted) == 1 and handler.transactions == 2
    record = await db[MAIL_DELIVERIES].find_one({"kind": "welcome"})
    assert (record["status"], record["attempts"]) == ("sent", 2)
    assert "Message accepted" in record["reply"]


async def test_a_4xx_that_persists_is_recorded_as_failed(db, relay_for) -> None:
    handler = Recorder(data_replies=iter(["452 4.2.2 Mailbox full"] * 10))
    m = mailer(db, await relay_for(handler))
    event = registered("u1", "ann@example.com")
    await apply(m, event)
    record = await delivery(db, event, "welcome")
    assert record["status"] == "failed" and record["attempts"] == 3  # 1 + 2 retries
    assert "452" in record["reason"] and "3 attempts" in record["reason"]
    assert handler.accepted == []


async def test_a_5xx_is_recorded_as_failed_and_not_retried(db, relay_for) -> None:
    handler = Recorder(rcpt_reply="550 5.1.1 No such mailbox")
    m = mailer(db, await relay_for(handler))
    event = registered("u1", "nobody@example.com")
    await apply(m, event)
    record = await delivery(db, event, "welcome")
    assert record["status"] == "failed" and "550" in record["reason"]
    assert handler.transactions == 1
    await apply(m, event)  # redelivered: a permanent failure stays failed
    assert handler.transactions == 1 and handler.accepted == []


async def test_a_relay_that_cannot_be_reached_is_retried_later(db) -> None:
    closed_port = free_ports(["nothing"])["nothing"]
    m = mailer(db, Relay("127.0.0.1", closed_port, timeout_s=5))
    event = registered("u1", "ann@example.com")
    with pytest.raises(RelayUnavailable):  # an OSError: the agent runtime retries it
        await apply(m, event)
    assert (await delivery(db, event, "welcome"))["status"] == "waiting"


async def test_an_unknown_outcome_is_sent_again_as_the_same_message(db, relay_for) -> None:
    handler = Recorder()
    m = mailer(db, await relay_for(handler))
    await m.preferences_changed(CloudEvent(
        type=USER_PREFERENCES_CHANGED.type, subject="u1", source="/tests",
        data={"user_id": "u1", "preferences": {"picture_sold": True}}))
    await m.user_updated(CloudEvent(type="x", subject="u1", source="/tests", data={
        "user_id": "u1", "email": "ann@example.com", "display_name": "Ann"}))
    event = published("u1")
    # As if a worker died between the relay's 250 and recording "sent".
    await db[MAIL_DELIVERIES].insert_one({"_id": f"{event.id}/picture_published",
                                          "status": "sending", "attempts": 1})
    await apply(m, event)
    assert len(handler.accepted) == 1
    record = await delivery(db, event, "picture_published")
    assert record["status"] == "sent" and record["attempts"] == 2
    assert handler.accepted[0]["Message-ID"] == record["message_id"]


async def test_turned_off_kinds_are_skipped_and_receipts_still_go(db, relay_for) -> None:
    handler = Recorder()
    m = mailer(db, await relay_for(handler))
    await apply(m, registered("seller", "sam@example.com", "Sam"))
    await apply(m, registered("buyer", "bea@example.com", "Bea"))
    for user_id in ("seller", "buyer"):
        await apply(m, CloudEvent(
            type=USER_PREFERENCES_CHANGED.type, subject=user_id, source="/tests",
            data={"user_id": user_id, "preferences": {k: False for k in (
                "picture_published", "picture_sold")}}))
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


async def test_mail_for_an_unknown_user_goes_to_the_dead_letters(db, relay_for) -> None:
    handler = Recorder()
    m = mailer(db, await relay_for(handler), user_wait_s=0.2)
    sent: list[tuple[str, bytes, bytes]] = []

    async def send(topic: str, key: bytes, value: bytes) -> None:
        sent.append((topic, key, value))

    accepted = [r for r in RECORDS.values() if r.topic is PICTURES_EVENTS]
    agent = Agent("mail", accepted, m.handle, send, "t.", None)
    event = published("ghost")
    await agent.handle(event.to_json(), event.subject.encode(), "t.picasso.pictures.events",
                       0, 7)
    assert handler.accepted == []
    [(topic, key, value)] = sent
    letter = json.loads(value)
    assert topic == "t.picasso.deadletter" and key == event.subject.encode()
    assert "no address for user ghost" in letter["data"]["reason"]
    assert letter["data"]["original_id"] == event.id
