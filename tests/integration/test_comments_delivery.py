"""Exact comment counts under duplicate delivery (over Kafka, the real worker), and the
comments service's rules on a real MongoDB: who may delete, unknown pictures refused, a
redelivered delete told again, and a deleted picture's comments going with it."""

from __future__ import annotations

import uuid

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from agents.comments.comments import Comments
from picasso.mongo import COMMENT_COUNTS, COMMENTS, COMMENTS_PICTURES, COMMENTS_PROCESSED
from picasso.runtime import Rejected
from picasso.settings import Settings
from tests.integration.test_reactions_delivery import send_all
from topics import COMMENTS_COMMANDS
from topics.comments import ADD_COMMENT, COMMENT_ADDED, COMMENT_DELETED, DELETE_COMMENT
from topics.envelope import CloudEvent
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED


def add(picture_id: str, user_id: str, comment_id: str | None = None,
        text: str = "nice") -> CloudEvent:
    return CloudEvent(type=ADD_COMMENT.type, subject=picture_id, source="/tests", data={
        "comment_id": comment_id or uuid.uuid4().hex, "picture_id": picture_id,
        "user_id": user_id, "text": text})


def delete(picture_id: str, user_id: str, comment_id: str) -> CloudEvent:
    return CloudEvent(type=DELETE_COMMENT.type, subject=picture_id, source="/tests", data={
        "comment_id": comment_id, "picture_id": picture_id, "user_id": user_id})


def picture_event(record, picture_id: str, owner_id: str) -> CloudEvent:
    data = {"picture_id": picture_id, "owner_id": owner_id}
    if record is PICTURE_PUBLISHED:  # the catalogue needs only these two
        data |= {"title": "t", "price_cents": 0, "currency": "usd"}
    return CloudEvent(type=record.type, subject=picture_id, source="/tests", data=data)


def facts(events: list[CloudEvent]) -> list[tuple[str, dict]]:
    """Events as consumers deduplicate and read them: id and data (not the send time)."""
    return [(e.id, e.data) for e in events]


async def count(db, picture_id: str) -> int:
    doc = await db[COMMENT_COUNTS].find_one({"_id": picture_id})
    return doc["comment_count"] if doc else 0


async def test_a_comment_delivered_twice_counts_once(system: str, settings: Settings) -> None:
    import asyncio

    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    picture_id = f"dup-{uuid.uuid4().hex}"
    # The catalogue as the pictures events would have left it.
    await db[COMMENTS_PICTURES].insert_one(
        {"_id": picture_id, "owner_id": "owner", "status": "published"})
    first = add(picture_id, "user-a")
    resent = add(picture_id, "user-a", first.data["comment_id"])  # same comment, new command
    other = add(picture_id, "user-b")
    topic = COMMENTS_COMMANDS.name(settings.topic_prefix)
    await send_all(settings.kafka_bootstrap, topic, [first, first, resent, other, other])
    ids = [first.id, resent.id, other.id]
    for _ in range(200):
        if await db[COMMENTS_PROCESSED].count_documents(
                {"_id": {"$in": ids}, "sent": True}) == len(ids):
            break
        await asyncio.sleep(0.1)
    assert await db[COMMENTS_PROCESSED].count_documents({"_id": {"$in": ids}}) == 3
    assert await count(db, picture_id) == 2
    assert await db[COMMENTS].count_documents({"picture_id": picture_id}) == 2


@pytest.fixture
async def comments(stack):
    settings = Settings.from_env(stack.env())
    client = AsyncIOMotorClient(settings.mongodb_url)
    name = f"comments_{uuid.uuid4().hex[:8]}"
    domain = Comments(client[name], picture_wait_s=0.0)
    await domain.ensure_indexes()
    yield domain
    await client.drop_database(name)


async def published(comments: Comments, owner_id: str = "owner") -> str:
    picture_id = uuid.uuid4().hex
    await comments.picture_event(PICTURE_PUBLISHED,
                                 picture_event(PICTURE_PUBLISHED, picture_id, owner_id))
    return picture_id


async def test_who_may_delete_and_a_redelivered_delete(comments: Comments) -> None:
    picture_id = await published(comments)
    command = add(picture_id, "author", text="  hello <i>you</i>  ")
    [added] = await comments.handle(ADD_COMMENT, command)
    assert added.type == COMMENT_ADDED.type
    assert added.data["text"] == "hello <i>you</i>"
    assert (added.data["owner_id"], added.data["comment_count"]) == ("owner", 1)
    again = await comments.handle(ADD_COMMENT, command)  # applied again: the same event
    assert facts(again) == facts([added])
    comment_id = command.data["comment_id"]

    with pytest.raises(Rejected, match="only its author or the picture's owner"):
        await comments.handle(DELETE_COMMENT, delete(picture_id, "stranger", comment_id))
    assert await count(comments.db, picture_id) == 1

    by_owner = delete(picture_id, "owner", comment_id)
    [deleted] = await comments.handle(DELETE_COMMENT, by_owner)
    assert deleted.type == COMMENT_DELETED.type
    assert deleted.data == {"comment_id": comment_id, "picture_id": picture_id,
                            "user_id": "author", "deleted_by": "owner", "comment_count": 0}
    # Applied again (a crash before the inbox recorded it): the same event, nothing else.
    assert facts(await comments.handle(DELETE_COMMENT, by_owner)) == facts([deleted])
    assert await comments.handle(DELETE_COMMENT, delete(picture_id, "author", comment_id)) == []
    assert await count(comments.db, picture_id) == 0
    tombstone = await comments.db[COMMENTS].find_one({"_id": comment_id})
    assert "text" not in tombstone  # a deleted comment's text is not kept


async def test_unknown_and_deleted_pictures(comments: Comments) -> None:
    with pytest.raises(Rejected, match="no published picture"):
        await comments.handle(ADD_COMMENT, add(uuid.uuid4().hex, "someone"))
    picture_id = await published(comments)
    for user in ("a", "b", "a"):
        await comments.handle(ADD_COMMENT, add(picture_id, user))
    assert await count(comments.db, picture_id) == 3
    gone = picture_event(PICTURE_DELETED, picture_id, "owner")
    for _ in range(2):  # applied twice: the same outcome
        assert await comments.picture_event(PICTURE_DELETED, gone) == []
        assert await comments.db[COMMENTS].count_documents({"picture_id": picture_id}) == 0
        assert await count(comments.db, picture_id) == 0
    with pytest.raises(Rejected, match="no published picture"):
        await comments.handle(ADD_COMMENT, add(picture_id, "a"))
    # A late PicturePublished (redelivered) does not bring the picture back.
    older = picture_event(PICTURE_PUBLISHED, picture_id, "owner")
    older = CloudEvent(type=older.type, subject=older.subject, source=older.source,
                       data=older.data, time="2000-01-01T00:00:00.000Z")
    await comments.picture_event(PICTURE_PUBLISHED, older)
    with pytest.raises(Rejected):
        await comments.handle(ADD_COMMENT, add(picture_id, "a"))
    assert await comments.recount(picture_id) == 0  # a deleted picture's count stays 0
