"""Inboxes keep what they applied for a bounded window: a TTL index on ``applied_date``,
honoured by the real MongoDB-compatible server, and the window refused unless it is longer
than the topics keep messages."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from picasso.runtime import EXPIRES_FIELD, Agent, Inbox
from picasso.settings import Settings, SettingsError
from tests.conftest import TTL_SWEEP_S
from topics.envelope import CloudEvent, utc_stamp
from topics.reactions import LIKE_PICTURE, PICTURE_LIKED


@pytest.fixture
async def db(stack):
    client = AsyncIOMotorClient(Settings.from_env(stack.env()).mongodb_url, tz_aware=True)
    name = f"inbox_{uuid.uuid4().hex[:8]}"
    yield client[name]
    await client.drop_database(name)


def like(n: int) -> CloudEvent:
    return CloudEvent(type=LIKE_PICTURE.type, subject=f"p{n}", source="/t",
                      data={"picture_id": f"p{n}", "user_id": "u1"})


def ttl_of(indexes: dict) -> int | None:
    for index in indexes.values():
        if index["key"] == [(EXPIRES_FIELD, 1)]:
            return index.get("expireAfterSeconds")
    return None


async def test_both_paths_stamp_the_applied_date_and_the_window_can_change(db) -> None:
    async def handler(record, command):
        return [command.caused(PICTURE_LIKED.type, {**command.data, "like_count": 1}, "/t")]

    async def send(topic: str, key: bytes, value: bytes) -> None:
        pass

    inbox = Inbox(db["processed"], retention_s=3600)
    await inbox.ensure_indexes()
    assert ttl_of(await inbox.collection.index_information()) == 3600
    agent = Agent("reactions", [LIKE_PICTURE], handler, send, "t.", inbox)
    one = like(1)
    await agent.handle(one.to_json(), b"p1", "t", 0, 1)  # one at a time: record, mark sent
    await inbox.record_sent([(like(2), [])])  # the batch path's record
    for doc in await inbox.collection.find().to_list(None):
        assert isinstance(doc[EXPIRES_FIELD], datetime)
        assert utc_stamp(doc[EXPIRES_FIELD]) == doc["applied_at"]
    # The setting changed: the index's window follows (MongoDB refuses the same index
    # created again with other options; collMod changes it).
    await Inbox(db["processed"], retention_s=7200).ensure_indexes()
    assert ttl_of(await inbox.collection.index_information()) == 7200


@pytest.mark.slow
async def test_the_server_removes_records_older_than_the_window(db) -> None:
    """SecantusDB honours TTL indexes (as MongoDB does, on a pass about once a minute; the
    suite's stack makes it one every TTL_SWEEP_S)."""
    inbox = Inbox(db["processed"], retention_s=3600)
    await inbox.ensure_indexes()
    await inbox.record_sent([(like(n), []) for n in range(3)])
    old = datetime.now(UTC) - timedelta(hours=2)  # applied longer ago than the window
    stale = [like(n) for n in range(3, 6)]
    await inbox.record_sent([(c, []) for c in stale])
    await inbox.collection.update_many({"_id": {"$in": [c.id for c in stale]}},
                                       {"$set": {EXPIRES_FIELD: old}})
    deadline = asyncio.get_running_loop().time() + 10 * TTL_SWEEP_S
    while await inbox.collection.count_documents({}) > 3:  # noqa: ASYNC110
        assert asyncio.get_running_loop().time() < deadline, "the TTL index removed nothing"
        await asyncio.sleep(TTL_SWEEP_S / 4)
    left = {doc["_id"] for doc in await inbox.collection.find().to_list(None)}
    assert left == {doc["_id"] for doc in await inbox.collection.find(
        {EXPIRES_FIELD: {"$gt": old}}).to_list(None)}
    assert not left & {c.id for c in stale}
    assert len(left) == 3


def test_a_window_not_longer_than_the_topics_retention_is_refused() -> None:
    local = {"PICASSO_ENV": "test"}
    settings = Settings.from_env(local)
    assert settings.inbox_retention_hours > settings.topic_retention_hours
    for inbox, topics in (("168", "168"), ("24", "168")):
        with pytest.raises(SettingsError) as refused:
            Settings.from_env({**local, "INBOX_RETENTION_HOURS": inbox,
                               "TOPIC_RETENTION_HOURS": topics})
        assert "INBOX_RETENTION_HOURS" in str(refused.value)
        assert "TOPIC_RETENTION_HOURS" in str(refused.value)
    with pytest.raises(SettingsError, match="BROKER_JOURNAL_RETENTION_S"):
        Settings.from_env({**local, "INBOX_RETENTION_HOURS": "2", "TOPIC_RETENTION_HOURS": "1",
                           "BROKER_JOURNAL_RETENTION_S": "36000"})
    fine = Settings.from_env({**local, "INBOX_RETENTION_HOURS": "200",
                              "TOPIC_RETENTION_HOURS": "100"})
    assert (fine.inbox_retention_hours, fine.topic_retention_hours) == (200, 100)
