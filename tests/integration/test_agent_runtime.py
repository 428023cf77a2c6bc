"""The runtime every agent shares, on a real MongoDB: dead letters, the inbox and the outbox.

Sending is captured in a list here; the e2e tests cover the same path through the broker.
"""

from __future__ import annotations

import json
import uuid

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from agents.runtime import Agent, Inbox, Message, Rejected
from picasso.settings import Settings
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE, PICTURE_LIKED


@pytest.fixture
async def db(stack):
    settings = Settings.from_env(stack.env())
    client = AsyncIOMotorClient(settings.mongodb_url)
    name = f"runtime_{uuid.uuid4().hex[:8]}"
    yield client[name]
    await client.drop_database(name)


def make_agent(db, handler) -> tuple[Agent, list[tuple[str, bytes, bytes]]]:
    sent: list[tuple[str, bytes, bytes]] = []

    async def send(topic: str, key: bytes, value: bytes) -> None:
        sent.append((topic, key, value))

    agent = Agent("reactions", [LIKE_PICTURE], handler, send, "t.", Inbox(db["processed"]))
    return agent, sent


def like(picture_id: str = "p1") -> CloudEvent:
    return CloudEvent(type=LIKE_PICTURE.type, subject=picture_id, source="/t",
                      data={"picture_id": picture_id, "user_id": "u1"})


async def test_each_command_applies_once_and_its_event_is_sent(db) -> None:
    calls = []

    async def handler(record, command):
        calls.append(command.id)
        return [command.caused(PICTURE_LIKED.type, {**command.data, "like_count": 1}, "/t")]

    agent, sent = make_agent(db, handler)
    command = like()
    for offset in (1, 2):  # delivered twice
        await agent.handle(command.to_json(), b"p1", "t.picasso.reactions.commands", 0, offset)
    assert calls == [command.id]
    assert [(t, k) for t, k, _ in sent] == [("t.picasso.reactions.events", b"p1")]
    assert json.loads(sent[0][2])["type"] == PICTURE_LIKED.type


async def test_events_recorded_but_not_sent_go_on_redelivery(db) -> None:
    async def handler(record, command):
        raise AssertionError("an applied command must not be applied again")

    agent, sent = make_agent(db, handler)
    command = like()
    event = command.caused(PICTURE_LIKED.type, {**command.data, "like_count": 1}, "/t")
    # As if the worker died after recording the outcome and before sending it.
    await db["processed"].insert_one({"_id": command.id, "subject": "p1", "type": command.type,
                                      "events": [event.to_dict()], "sent": False})
    await agent.handle(command.to_json(), b"p1", "t.picasso.reactions.commands", 0, 9)
    assert [json.loads(v)["id"] for _, _, v in sent] == [event.id]
    assert (await db["processed"].find_one({"_id": command.id}))["sent"] is True


@pytest.mark.parametrize("raw, reason", [
    (b"{not json", "not valid JSON"),
    (json.dumps({"specversion": "1.0", "id": "x", "source": "s",
                 "type": LIKE_PICTURE.type, "data": {"picture_id": "p"}}).encode(),
     "does not match its schema"),
])
async def test_bad_messages_go_to_the_dead_letters(db, raw: bytes, reason: str) -> None:
    async def handler(record, command):
        raise AssertionError("a bad message must not reach the domain")

    agent, sent = make_agent(db, handler)
    await agent.handle(raw, b"p9", "t.picasso.reactions.commands", 3, 42)
    [(topic, key, value)] = sent
    letter = json.loads(value)
    assert topic == "t.picasso.deadletter" and key == b"p9"
    assert reason in letter["data"]["reason"]
    assert letter["data"]["payload"] == raw.decode()
    assert (letter["data"]["partition"], letter["data"]["offset"]) == (3, 42)


async def test_refusals_and_defects_are_dead_lettered_and_the_agent_goes_on(db) -> None:
    async def handler(record, command):
        if command.subject == "refused":
            raise Rejected("user u1 does not own picture refused")
        raise ZeroDivisionError("a bug")

    agent, sent = make_agent(db, handler)
    await agent.handle(like("refused").to_json(), b"refused", "t.x", 0, 1)
    await agent.handle(like("buggy").to_json(), b"buggy", "t.x", 0, 2)
    reasons = [json.loads(v)["data"]["reason"] for _, _, v in sent]
    assert reasons[0] == "user u1 does not own picture refused"
    assert reasons[1].startswith("internal error: ZeroDivisionError")


async def test_a_batch_applies_each_command_once_and_dead_letters_the_bad_ones(db) -> None:
    batches: list[list[str]] = []

    async def one_by_one(record, command):
        raise AssertionError("a batch that goes through is not split")

    async def batch(commands):
        batches.append([c.id for _, c in commands])
        return [[c.caused(PICTURE_LIKED.type, {**c.data, "like_count": 1}, "/t")]
                for _, c in commands]

    agent, sent = make_agent(db, one_by_one)
    agent.batch_handler = batch
    first, second, third = like("p1"), like("p2"), like("p3")
    # ``third`` was applied and sent before: the inbox knows it.
    await agent.handle_batch([Message(third.to_json(), b"p3", "t.c", 0, 0)])
    messages = [first, first, b"{not json", second, third]
    await agent.handle_batch([
        Message(m if isinstance(m, bytes) else m.to_json(), b"k", "t.c", 0, n)
        for n, m in enumerate(messages, start=1)])
    assert batches == [[third.id], [first.id, second.id]]
    caused = [json.loads(v) for t, _, v in sent if t == "t.picasso.reactions.events"]
    assert sorted(e["data"]["picture_id"] for e in caused) == ["p1", "p2", "p3"]
    letters = [json.loads(v)["data"] for t, _, v in sent if t == "t.picasso.deadletter"]
    assert [(d["offset"], "not valid JSON" in d["reason"]) for d in letters] == [(3, True)]
    processed = {d["_id"]: d["sent"] async for d in db["processed"].find()}
    assert processed == {first.id: True, second.id: True, third.id: True}


async def test_a_batch_with_a_defect_isolates_the_message_at_fault(db) -> None:
    async def one_by_one(record, command):
        if command.subject == "buggy":
            raise ZeroDivisionError("a bug")
        return [command.caused(PICTURE_LIKED.type, {**command.data, "like_count": 1}, "/t")]

    async def batch(commands):
        raise ZeroDivisionError("a bug somewhere in the batch")

    agent, sent = make_agent(db, one_by_one)
    agent.batch_handler = batch
    good, buggy = like("good"), like("buggy")
    await agent.handle_batch([Message(good.to_json(), b"good", "t.c", 0, 1),
                              Message(buggy.to_json(), b"buggy", "t.c", 0, 2)])
    topics = [(t, json.loads(v)["subject"]) for t, _, v in sent]
    assert topics == [("t.picasso.reactions.events", "good"), ("t.picasso.deadletter", "buggy")]
