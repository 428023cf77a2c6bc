"""The timeline service on the real broker and MongoDB: this test plays the social and the
uploads services, producing their events, and reads the timelines the session's timeline
worker writes (TIMELINE_FANOUT_MAX_FOLLOWERS is 2 in the session)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase

from picasso.mongo import (
    TIMELINE_CELEBRITIES,
    TIMELINE_PICTURES,
    TIMELINE_RECENT,
    TIMELINES,
)
from picasso.settings import Settings
from topics.envelope import CloudEvent, utc_now
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED
from topics.record import Record
from topics.social import USER_FOLLOWED, USER_UNFOLLOWED

WAIT_S = 20.0


def uid(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def event(record: Record, subject: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent(type=record.type, subject=subject, data=data, source="/tests")


def follow(follower: str, followee: str, follows: bool = True) -> CloudEvent:
    return event(USER_FOLLOWED if follows else USER_UNFOLLOWED, followee,
                 {"follower_id": follower, "followee_id": followee, "following_count": 1})


def published(picture_id: str, owner_id: str) -> CloudEvent:
    return event(PICTURE_PUBLISHED, picture_id, {
        "picture_id": picture_id, "owner_id": owner_id, "currency": "usd",
        "title": "Dusk", "description": "", "price_cents": 0, "tags": [],
        "width": 640, "height": 480, "format": "jpeg",
        "original_key": f"originals/{picture_id}", "thumbnail_key": f"public/{picture_id}-t",
        "preview_key": f"public/{picture_id}-p", "created_at": utc_now()})


def deleted(picture_id: str, owner_id: str) -> CloudEvent:
    return event(PICTURE_DELETED, picture_id, {"picture_id": picture_id, "owner_id": owner_id})


@pytest.fixture
def db(settings: Settings) -> AsyncIOMotorDatabase:
    return AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]


async def timeline(db: AsyncIOMotorDatabase, reader: str) -> set[str]:
    return {d["picture_id"] async for d in db[TIMELINES].find({"reader_id": reader})}


async def recent(db: AsyncIOMotorDatabase, owner: str) -> list[str]:
    doc = await db[TIMELINE_RECENT].find_one({"_id": owner}) or {"pictures": []}
    return [p["picture_id"] for p in doc["pictures"]]


async def eventually(check, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not within {WAIT_S}s: {what}"
        await asyncio.sleep(0.05)


async def shows(db: AsyncIOMotorDatabase, reader: str, expected: set[str]) -> None:
    async def check() -> bool:
        return await timeline(db, reader) == expected
    await eventually(check, f"{reader}'s timeline is {expected}")


async def test_follow_backfills_publish_fans_out_unfollow_and_delete_remove(kafka, db) -> None:
    owner, ada, bob = uid("owner"), uid("ada"), uid("bob")
    old, new = uid("old"), uid("new")
    await kafka.send(published(old, owner))
    await eventually(lambda: db[TIMELINE_PICTURES].find_one({"_id": old}), "old catalogued")
    ada_follows = follow(ada, owner)
    await kafka.send(ada_follows)
    await shows(db, ada, {old})  # backfilled
    await kafka.send(follow(bob, owner))
    await shows(db, bob, {old})
    publish_new = published(new, owner)
    await kafka.send(publish_new)
    await shows(db, ada, {old, new})
    await shows(db, bob, {old, new})

    # Redelivered follows and publications (same ids, same times) change nothing; a
    # marker behind them on the same partition shows they were handled.
    marker = uid("marker")
    await kafka.send(ada_follows, follow(bob, owner))
    await kafka.send(publish_new, publish_new, published(marker, owner), partition=0)
    await shows(db, bob, {old, new, marker})
    await shows(db, ada, {old, new, marker})
    assert await db[TIMELINES].count_documents({"owner_id": owner}) == 6

    await kafka.send(follow(ada, owner, follows=False))
    await shows(db, ada, set())
    # The follow told before the unfollow, delivered again after it, brings nothing back;
    # dan's backfill, behind it on the same partition, shows it was handled.
    dan = uid("dan")
    await kafka.send(ada_follows, follow(dan, owner))
    await shows(db, dan, {old, new, marker})
    assert await timeline(db, ada) == set()

    await kafka.send(deleted(new, owner))
    await shows(db, bob, {old, marker})
    await shows(db, dan, {old, marker})
    assert await db[TIMELINES].count_documents({"picture_id": new}) == 0
    # The publication redelivered after the delete does not bring it back.
    after = uid("after")
    await kafka.send(publish_new, published(after, owner), partition=0)
    await shows(db, bob, {old, marker, after})
    assert await db[TIMELINES].count_documents({"picture_id": new}) == 0


async def test_an_account_over_the_threshold_is_merged_at_read_time_not_fanned_out(
        kafka, db) -> None:
    star, fan = uid("star"), uid("fan")
    readers = [uid("r") for _ in range(3)]  # 3 followers > TIMELINE_FANOUT_MAX_FOLLOWERS (2)
    early = uid("early")
    await kafka.send(published(early, star))
    await kafka.send(*(follow(r, star) for r in readers))

    async def marked() -> bool:
        return await db[TIMELINE_CELEBRITIES].count_documents({"celebrity_id": star}) == 3
    await eventually(marked, "three readers merge the star in")
    # The first two followers got the star's picture by backfill, the third did not.
    assert [await timeline(db, r) for r in readers] == [{early}, {early}, set()]

    picture, marker, plain = uid("star-pic"), uid("marker"), uid("plain")
    await kafka.send(follow(fan, plain))
    # Both on one partition: once the marker is in the fan's timeline, the star's picture
    # was handled before it.
    star_picture = published(picture, star)
    await kafka.send(star_picture, published(marker, plain), partition=0)
    await shows(db, fan, {marker})
    assert await db[TIMELINES].count_documents({"picture_id": picture}) == 0
    # What merging readers read instead: the star's newest pictures, newest first, once
    # each however often the publication comes.
    assert await recent(db, star) == [picture, early]
    second = uid("marker")
    await kafka.send(star_picture, published(second, plain), partition=0)
    await shows(db, fan, {marker, second})
    assert await recent(db, star) == [picture, early]
    await kafka.send(deleted(early, star))

    async def early_gone() -> bool:
        return await recent(db, star) == [picture]
    await eventually(early_gone, "the deleted picture leaves the star's recent ones")

    # One unfollow brings the star back under the threshold: fanned out again from then
    # on, the recent pictures backfilled and the marks gone.
    await kafka.send(follow(readers[2], star, follows=False))

    async def unmarked() -> bool:
        return await db[TIMELINE_CELEBRITIES].count_documents({"celebrity_id": star}) == 0
    await eventually(unmarked, "the star is fanned out again")
    assert [await timeline(db, r) for r in readers] == [{picture}] * 2 + [set()]
