"""Notifications under duplicate delivery (over Kafka, the real worker): the same like, comment
and purchase delivered twice tell once, and a like that comes before its picture's
PicturePublished is given to the owner when it comes (the owner's own like taken out); and
the notifications service's rules on a real MongoDB."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from agents.notifications.notifications import Notifications, likes_id
from picasso.mongo import NOTIFICATIONS
from picasso.settings import Settings
from tests.integration.test_reactions_delivery import send_all
from topics import COMMENTS_EVENTS, PICTURES_EVENTS, PURCHASES_EVENTS, REACTIONS_EVENTS
from topics.comments import COMMENT_ADDED
from topics.envelope import CloudEvent, utc_stamp
from topics.notifications import MARK_NOTIFICATIONS_READ
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED
from topics.purchases import PURCHASE_COMPLETED
from topics.reactions import PICTURE_LIKED, PICTURE_UNLIKED
from topics.record import Record


def event(record: Record, subject: str, **data) -> CloudEvent:
    return CloudEvent(type=record.type, subject=subject, source="/tests", data=data)


def liked(picture_id: str, user_id: str, record: Record = PICTURE_LIKED) -> CloudEvent:
    return event(record, picture_id, picture_id=picture_id, user_id=user_id, like_count=1)


def published(picture_id: str, owner_id: str, title: str = "Dunes") -> CloudEvent:
    return CloudEvent(type=PICTURE_PUBLISHED.type, subject=picture_id, source="/tests", data={
        "picture_id": picture_id, "owner_id": owner_id, "currency": "usd", "title": title,
        "description": "", "price_cents": 0, "tags": [], "width": 10, "height": 10,
        "format": "jpeg", "original_key": "o", "thumbnail_key": "t", "preview_key": "p",
        "created_at": "2026-01-01T00:00:00Z"})


async def test_facts_delivered_twice_tell_once(system: str, settings: Settings) -> None:
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    picture_id, owner = f"dup-{uuid.uuid4().hex}", f"owner-{uuid.uuid4().hex}"
    prefix, bootstrap = settings.topic_prefix, settings.kafka_bootstrap
    # The likes first, the owner's own among them: the picture is not in the catalogue yet.
    a, b, own, last = (liked(picture_id, u) for u in ("user-a", "user-b", owner, "user-c"))
    await send_all(bootstrap, REACTIONS_EVENTS.name(prefix), [a, a, b, own, b, a])
    said = event(COMMENT_ADDED, picture_id, comment_id="c1", picture_id=picture_id,
                 user_id="user-a", text="nice", created_at="2026-12-01T10:00:00.000Z",
                 owner_id=owner, comment_count=1)
    bought = event(PURCHASE_COMPLETED, "p1", purchase_id=f"p-{uuid.uuid4().hex}",
                   picture_id=picture_id, buyer_id="user-b", seller_id=owner,
                   amount_cents=0, currency="usd", title="Dunes")
    await send_all(bootstrap, COMMENTS_EVENTS.name(prefix), [said, said])
    await send_all(bootstrap, PURCHASES_EVENTS.name(prefix), [bought, bought])
    await send_all(bootstrap, PICTURES_EVENTS.name(prefix),
                   [published(picture_id, owner)] * 2)
    await send_all(bootstrap, REACTIONS_EVENTS.name(prefix), [last, b])  # after all others

    def told(doc) -> bool:
        return doc is not None and doc["user_id"] == owner and "user-c" in doc["likers"]

    for _ in range(300):
        if told(await db[NOTIFICATIONS].find_one({"_id": likes_id(picture_id)})):
            break
        await asyncio.sleep(0.1)
    group = await db[NOTIFICATIONS].find_one({"_id": likes_id(picture_id)})
    assert told(group), group
    assert group["likers"] == ["user-a", "user-b", "user-c"] and group["count"] == 3
    assert group["title"] == "Dunes"
    for _ in range(100):  # the other topics' facts come in their own time
        kinds = sorted([n["kind"] async for n in db[NOTIFICATIONS].find(
            {"picture_id": picture_id})])
        if len(kinds) >= 5:
            break
        await asyncio.sleep(0.1)
    assert kinds == ["commented", "liked", "picture_published", "purchase_completed", "sold"]


@pytest.fixture
async def notifications(stack):
    settings = Settings.from_env(stack.env())
    client = AsyncIOMotorClient(settings.mongodb_url)
    name = f"notifications_{uuid.uuid4().hex[:8]}"
    domain = Notifications(client[name])
    await domain.ensure_indexes()
    yield domain
    await client.drop_database(name)


async def apply(domain: Notifications, *events: CloudEvent) -> None:
    from topics.registry import RECORDS

    for e in events:
        await domain.fact(RECORDS[e.type], e)


async def test_unlikes_take_likers_out_without_bumping(notifications: Notifications) -> None:
    picture_id = uuid.uuid4().hex
    await apply(notifications, published(picture_id, "ada"), liked(picture_id, "bob"),
                liked(picture_id, "cy"))
    group = await notifications.notes.find_one({"_id": likes_id(picture_id)})
    await apply(notifications, liked(picture_id, "cy", PICTURE_UNLIKED),
                liked(picture_id, "ada"), liked(picture_id, "eve", PICTURE_UNLIKED))
    after = await notifications.notes.find_one({"_id": likes_id(picture_id)})
    assert (after["likers"], after["count"], after["at"]) == (["bob"], 1, group["at"])
    await apply(notifications, liked(picture_id, "bob", PICTURE_UNLIKED))
    assert (await notifications.notes.find_one({"_id": likes_id(picture_id)}))["count"] == 0


async def test_all_read_leaves_what_came_after(notifications: Notifications) -> None:
    picture_id = uuid.uuid4().hex
    await apply(notifications, published(picture_id, "ada"), liked(picture_id, "bob"))
    mark = CloudEvent(type=MARK_NOTIFICATIONS_READ.type, subject="ada", source="/tests",
                      data={"user_id": "ada", "all": True})
    await apply(notifications, liked(picture_id, "cy"))
    await notifications.mark_read(MARK_NOTIFICATIONS_READ, mark)
    assert await notifications.notes.count_documents({"user_id": "ada", "read": False}) == 0
    # Activity after the mark (a second later, so no clock tie): unread again.
    moment = datetime.fromisoformat(mark.time) + timedelta(seconds=1)
    late = replace(liked(picture_id, "dan"), time=utc_stamp(moment))
    await apply(notifications, late)
    await notifications.mark_read(MARK_NOTIFICATIONS_READ, mark)  # told again: same result
    [unread] = await notifications.notes.find({"user_id": "ada", "read": False}).to_list(None)
    assert unread["kind"] == "liked" and unread["count"] == 3


async def test_a_deleted_picture_takes_its_notifications_along(
        notifications: Notifications) -> None:
    picture_id, other = uuid.uuid4().hex, uuid.uuid4().hex
    said = event(COMMENT_ADDED, picture_id, comment_id="c1", picture_id=picture_id,
                 user_id="bob", text="nice", created_at="2026-12-01T10:00:00.000Z",
                 owner_id="ada", comment_count=1)
    bought = event(PURCHASE_COMPLETED, "p1", purchase_id=f"p-{uuid.uuid4().hex}",
                   picture_id=picture_id, buyer_id="bob", seller_id="ada",
                   amount_cents=0, currency="usd", title="Dunes")
    await apply(notifications, published(picture_id, "ada"), published(other, "ada"),
                liked(picture_id, "bob"), liked(other, "bob"), said, bought)
    gone = event(PICTURE_DELETED, picture_id, picture_id=picture_id, owner_id="ada")
    await apply(notifications, gone)
    kinds = sorted([n["kind"] async for n in notifications.notes.find(
        {"picture_id": picture_id})])
    assert kinds == ["purchase_completed", "sold"]  # what money did stays
    # Facts told again after the delete (redelivered, or late on their own streams) bring
    # nothing back; the other picture's notifications are untouched.
    await apply(notifications, liked(picture_id, "cy"), said, published(picture_id, "ada"),
                gone)
    assert sorted([n["kind"] async for n in notifications.notes.find(
        {"picture_id": picture_id})]) == kinds
    assert await notifications.notes.count_documents({"picture_id": other}) == 2
