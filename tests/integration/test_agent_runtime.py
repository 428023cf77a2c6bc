"""The runtime every agent shares, on a real MongoDB: dead letters, the inbox and the outbox.

Sending is captured in a list here; the e2e tests cover the same path through the broker.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pymysql
import pytest
from aiokafka.errors import KafkaConnectionError
from motor.motor_asyncio import AsyncIOMotorClient

from picasso.runtime import Agent, Inbox, Message, Rejected
from picasso.settings import Settings
from topics.deadletter import PAYLOAD_EXCERPT_BYTES
from topics.envelope import CloudEvent, utc_now
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


async def test_a_versioned_batch_is_told_positions_and_applied_without_asking_the_inbox(
        db) -> None:
    """A handler whose writes are versioned gets every command again (its versions make a
    repeat change nothing), with where each was read, and no inbox lookup is made; the inbox
    records each batch as one document naming its commands and holding their events."""
    batches: list[list[tuple[str, tuple[int, int]]]] = []

    async def one(record, command, position=None):
        raise AssertionError("a batch that goes through is not split")

    async def batch(commands, positions):
        batches.append([(c.id, p) for (_, c), p in zip(commands, positions)])
        return [[c.caused(PICTURE_LIKED.type, {**c.data, "like_count": 1}, "/t")]
                for _, c in commands]

    sent: list[tuple[str, bytes, bytes]] = []

    async def send(topic: str, key: bytes, value: bytes) -> None:
        sent.append((topic, key, value))

    lookups = []
    inbox = Inbox(db["processed"])
    asked = inbox.find_many

    async def find_many(ids):
        lookups.append(ids)
        return await asked(ids)

    inbox.find_many = find_many
    agent = Agent("reactions", [LIKE_PICTURE], one, send, "t.", inbox, batch_handler=batch,
                  versioned=True)
    first, second = like("p1"), like("p2")
    await agent.handle_batch([Message(first.to_json(), b"p1", "t.c", 3, 7)])
    await agent.handle_batch([Message(m.to_json(), b"k", "t.c", 3, n)
                              for n, m in ((7, first), (8, second))])
    assert batches == [[(first.id, (3, 7))], [(first.id, (3, 7)), (second.id, (3, 8))]]
    assert lookups == []
    records = await db["processed"].find().to_list(None)
    assert [(r["commands"], r["subjects"], len(r["events"]), r["sent"]) for r in records] == [
        ([first.id], ["p1"], 1, True), ([first.id, second.id], ["p1", "p2"], 2, True)]
    assert await inbox.applied() == {first.id, second.id}
    # The same batch delivered again is the same record.
    await agent.handle_batch([Message(first.to_json(), b"p1", "t.c", 3, 7)])
    assert await db["processed"].count_documents({}) == 2


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


async def test_a_message_nested_too_deeply_is_dead_lettered_alone(db) -> None:
    """Deep nesting makes the JSON decoder raise RecursionError; the batch goes on."""
    async def batch(commands):
        return [[c.caused(PICTURE_LIKED.type, {**c.data, "like_count": 1}, "/t")]
                for _, c in commands]

    agent, sent = make_agent(db, None)
    agent.batch_handler = batch
    deep = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    good = like("after-the-deep-one")
    await agent.handle_batch([Message(deep, b"k", "t.c", 0, 1),
                              Message(good.to_json(), b"k", "t.c", 0, 2)])
    letters = [json.loads(v)["data"] for t, _, v in sent if t == "t.picasso.deadletter"]
    assert [(d["offset"], d["reason"]) for d in letters] == [(1, "JSON nested too deeply")]
    liked = [json.loads(v)["subject"] for t, _, v in sent if t == "t.picasso.reactions.events"]
    assert liked == ["after-the-deep-one"]


async def test_a_huge_message_gets_a_dead_letter_of_bounded_size(db) -> None:
    agent, sent = make_agent(db, None)
    huge = b"x" * (3 * PAYLOAD_EXCERPT_BYTES + 17)
    await agent.handle(huge, b"k" * 5000, "t.c", 0, 7)
    [(topic, key, value)] = sent
    letter = json.loads(value)["data"]
    assert topic == "t.picasso.deadletter" and len(key) == 1024
    assert letter["payload"] == "x" * PAYLOAD_EXCERPT_BYTES and letter["payload_truncated"]
    assert letter["payload_bytes"] == len(huge)
    assert letter["payload_sha256"] == hashlib.sha256(huge).hexdigest()
    assert len(value) < PAYLOAD_EXCERPT_BYTES + 4096


async def test_a_dead_letter_waits_for_the_broker_instead_of_being_dropped(db) -> None:
    """Sending the letter fails while the broker is away; the agent retries until it goes."""
    attempts: list[int] = []
    sent: list[bytes] = []

    async def send(topic: str, key: bytes, value: bytes) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise KafkaConnectionError("broker away")
        sent.append(value)

    agent = Agent("reactions", [LIKE_PICTURE], None, send, "t.", Inbox(db["processed"]))
    await agent.handle(b"{not json", b"k", "t.c", 0, 1)
    assert len(attempts) == 3 and len(sent) == 1


async def test_a_dependency_down_is_retried_and_a_permanent_error_is_not(db) -> None:
    """A MariaDB connection error (transient) is retried until the command goes through;
    a programming error (permanent) dead-letters at once."""
    calls: list[str] = []

    async def handler(record, command):
        calls.append(command.subject)
        if command.subject == "flaky" and calls.count("flaky") < 3:
            raise pymysql.err.OperationalError(2003, "Can't connect to MySQL server")
        if command.subject == "broken":
            raise pymysql.err.ProgrammingError(1064, "syntax error")
        return [command.caused(PICTURE_LIKED.type, {**command.data, "like_count": 1}, "/t")]

    agent, sent = make_agent(db, handler)
    await agent.handle(like("flaky").to_json(), b"flaky", "t.c", 0, 1)
    await agent.handle(like("broken").to_json(), b"broken", "t.c", 0, 2)
    assert calls == ["flaky", "flaky", "flaky", "broken"]
    outcome = [(t.rsplit(".", 1)[-1], json.loads(v)["subject"]) for t, _, v in sent]
    assert outcome == [("events", "flaky"), ("deadletter", "broken")]


async def test_the_sweeper_sends_events_recorded_but_never_sent(db) -> None:
    """A worker died after recording a command's events and before sending them; the
    sweeper sends them without waiting for a redelivery, once they are old enough."""
    agent, sent = make_agent(db, None)
    await agent.inbox.ensure_indexes()
    stale, fresh = like("stale"), like("fresh")
    for command, applied_at in ((stale, "2026-01-01T00:00:00.000Z"), (fresh, utc_now())):
        event = command.caused(PICTURE_LIKED.type, {**command.data, "like_count": 1}, "/t")
        await db["processed"].insert_one({
            "_id": command.id, "subject": command.subject, "type": command.type,
            "events": [event.to_dict()], "sent": False, "applied_at": applied_at})
    assert await agent.send_unsent(older_than_s=5.0) == 1
    assert [json.loads(v)["subject"] for _, _, v in sent] == ["stale"]
    assert (await db["processed"].find_one({"_id": stale.id}))["sent"] is True
    assert (await db["processed"].find_one({"_id": fresh.id}))["sent"] is False
    assert await agent.send_unsent(older_than_s=5.0) == 0


async def test_the_inbox_finds_a_batch_longer_than_one_in_list(db) -> None:
    from picasso.runtime import IN_MAX

    inbox = Inbox(db["processed"])
    commands = [like(f"p{n}") for n in range(2 * IN_MAX + 7)]
    await inbox.record_sent([(command, []) for command in commands[::2]])
    found = await inbox.find_many([command.id for command in commands])
    assert set(found) == {command.id for command in commands[::2]}


async def test_a_result_recorded_again_replaces_the_one_there(db) -> None:
    """Results are inserted; one that is there (a redelivery, a rejected command replayed
    from the dead letters) is replaced, the others of the same batch inserted."""
    from picasso.mongo import COMMAND_RESULTS
    from picasso.runtime import CommandResults

    results = CommandResults(db, "reactions")
    first, second = like("p1"), like("p2")
    await results.record([(LIKE_PICTURE, first)], "rejected", "picture unknown")
    await results.record([(LIKE_PICTURE, first), (LIKE_PICTURE, second)], "applied")
    found = {d["_id"]: d async for d in db[COMMAND_RESULTS].find()}
    assert {i: (d["outcome"], d["reason"]) for i, d in found.items()} == {
        first.id: ("applied", None), second.id: ("applied", None)}
    assert {d["service"] for d in found.values()} == {"reactions"}
