"""The search service on the real broker and MongoDB: this test plays the uploads and the
users services, producing their events, and searches the index the session's search worker
writes with the edge's own ranking (web.search). The words and stems themselves are
checked in tests/unit/test_search_text.py.

Other tests share the session's index, so each test looks only at its own pictures (and
people) among the results."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from picasso.mongo import SEARCH_DOCUMENTS, SEARCH_PICTURES
from picasso.settings import Settings
from tests.helpers import produce, read_topic
from topics import DEADLETTER, PICTURES_EVENTS
from topics.envelope import CloudEvent, utc_stamp
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED, PICTURE_UPDATED
from topics.record import Record
from topics.users import USER_PREFERENCES_CHANGED, USER_REGISTERED, USER_UPDATED
from web.readmodels import ReadModels
from web.search import query_words, rank_people, rank_pictures

WAIT_S = 20.0
_clock = datetime.now(UTC)


def uid(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def later() -> str:
    """Event times that increase through a test, as a producer's would."""
    global _clock
    _clock += timedelta(milliseconds=10)
    return utc_stamp(_clock)


def event(record: Record, subject: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent(type=record.type, subject=subject, data=data, source="/tests",
                      time=later())


def published(picture_id: str, owner_id: str, title: str, *, description: str = "",
              tags: list[str] | None = None, price_cents: int = 0) -> CloudEvent:
    return event(PICTURE_PUBLISHED, picture_id, {
        "picture_id": picture_id, "owner_id": owner_id, "currency": "usd",
        "title": title, "description": description, "price_cents": price_cents,
        "tags": tags or [], "width": 640, "height": 480, "format": "jpeg",
        "original_key": f"originals/{picture_id}", "thumbnail_key": f"public/{picture_id}-t",
        "preview_key": f"public/{picture_id}-p", "created_at": later()})


def updated(picture_id: str, owner_id: str, **changes: Any) -> CloudEvent:
    return event(PICTURE_UPDATED, picture_id,
                 {"picture_id": picture_id, "owner_id": owner_id, **changes})


def named(user_id: str, name: str, registered: bool = False) -> CloudEvent:
    if registered:
        return event(USER_REGISTERED, user_id, {"user_id": user_id, "display_name": name,
                                                "email": f"{user_id}@example.com"})
    return event(USER_UPDATED, user_id, {"user_id": user_id, "display_name": name})


@pytest.fixture
def read(settings: Settings) -> ReadModels:
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    return ReadModels(db, blobs=None)  # ranking reads the index only


async def found(read: ReadModels, q: str, mine: list[str], **filters: Any) -> list[str]:
    """Which of ``mine`` the query finds, best first."""
    ranked = await rank_pictures(read, query_words(q), **filters)
    return [row[3] for row in ranked if row[3] in mine]


async def eventually(read: ReadModels, q: str, mine: list[str], expected: list[str],
                     **filters: Any) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while (got := await found(read, q, mine, **filters)) != expected:
        assert asyncio.get_running_loop().time() < deadline, \
            f"{q!r} {filters} finds {got}, not {expected}, within {WAIT_S}s"
        await asyncio.sleep(0.05)


async def test_published_edited_and_deleted_pictures_are_found_changed_and_gone(
        kafka, read) -> None:
    owner = uid("owner")
    sunset, beach, tower = uid("sunset"), uid("beach"), uid("tower")
    mine = [sunset, beach, tower]
    await kafka.send(
        published(sunset, owner, "Sunset over the harbour", tags=["sky"]),
        published(beach, owner, "Beach at noon", description="a sunset later"),
        published(tower, owner, "Clock tower"))
    # Stems: "sunsets" finds "Sunset"; the title counts more than the description.
    await eventually(read, "sunsets", mine, [sunset, beach])
    # Type-ahead: the last word is also a prefix.
    await eventually(read, "sun", mine, [sunset, beach])
    await eventually(read, "clo", mine, [tower])
    # Several words: the picture holding both comes first, then those holding one.
    await eventually(read, "harbour sunset", mine, [sunset, beach])
    await eventually(read, "beach sunset", mine, [beach, sunset])
    # A tag is a word too.
    await eventually(read, "sky", mine, [sunset])

    await kafka.send(updated(tower, owner, title="Lighthouse at dawn"))
    await eventually(read, "lighthouse", mine, [tower])
    await eventually(read, "clock", mine, [])

    await kafka.send(event(PICTURE_DELETED, sunset, {"picture_id": sunset, "owner_id": owner}))
    await eventually(read, "sunset", mine, [beach])
    await eventually(read, "sky", mine, [])


async def test_filters_tag_price_and_free(kafka, read) -> None:
    owner = uid("owner")
    free, cheap, dear = uid("free"), uid("cheap"), uid("dear")
    mine = [free, cheap, dear]
    await kafka.send(
        published(free, owner, "Meadow flowers", tags=["spring"]),
        published(cheap, owner, "Meadow path", tags=["spring"], price_cents=100),
        published(dear, owner, "Meadow river", price_cents=5000))
    await eventually(read, "meadow", mine, [dear, cheap, free])  # equal scores: newest first
    await eventually(read, "meadow", mine, [cheap, free], tag="spring")
    await eventually(read, "meadow", mine, [free], max_price=0)
    await eventually(read, "meadow", mine, [dear, cheap], min_price=100)
    await eventually(read, "meadow", mine, [cheap], min_price=50, max_price=1000)
    # A new price moves a picture in and out of a range.
    await kafka.send(updated(dear, owner, price_cents=0))
    await eventually(read, "meadow", mine, [dear, free], max_price=0)


async def test_the_owners_name_finds_pictures_and_people_are_found_by_name(kafka, read) -> None:
    owner, other = uid("owner"), uid("other")
    picture = uid("picture")
    surname = "Quillfeather"  # one nobody else in the session has
    await kafka.send(named(owner, f"Ada {surname}", registered=True),
                     named(other, f"Bob {surname}son", registered=True),
                     named(other, "Bob"),  # a new name: the old one no longer finds him
                     # Preferences say nothing about names.
                     event(USER_PREFERENCES_CHANGED, other,
                           {"user_id": other, "preferences": {"followed": True}}),
                     published(picture, owner, "Still life"))
    await eventually(read, surname, [picture], [picture])

    async def people(q: str) -> list[str]:
        return [row[3] for row in await rank_people(read, query_words(q))
                if row[3] in (owner, other)]

    deadline = asyncio.get_running_loop().time() + WAIT_S
    while await people("quill") != [owner]:  # Bob's new name no longer holds it
        assert asyncio.get_running_loop().time() < deadline, await people("quill")
        await asyncio.sleep(0.05)
    assert await people(f"ada {surname}") == [owner]

    # A new name re-indexes the owner's pictures: the old name no longer finds them.
    await kafka.send(named(owner, "Ada Brightwater"))
    await eventually(read, "brightwater", [picture], [picture])
    await eventually(read, surname, [picture], [])


async def test_redelivered_and_older_events_change_nothing(kafka, read, settings) -> None:
    owner = uid("owner")
    picture, marker = uid("picture"), uid("marker")
    first = published(picture, owner, "Harvest moon")
    edit = updated(picture, owner, title="Harvest festival")
    await kafka.send(first, edit)
    await eventually(read, "festival", [picture], [picture])
    before = await read.db[SEARCH_PICTURES].find_one({"_id": picture})

    # The publication again (older than the edit) and the edit again, then a marker
    # behind them on the same partition (same key) to know they were handled.
    await kafka.send(first, edit, first)
    await kafka.send(updated(picture, owner, description="gold"))
    await eventually(read, "gold", [picture], [picture])
    await eventually(read, "moon", [picture], [])
    after = await read.db[SEARCH_PICTURES].find_one({"_id": picture})
    assert after["title"] == before["title"] == "Harvest festival"

    # A deletion redelivered after a later publication of another picture stays deleted.
    gone = event(PICTURE_DELETED, picture, {"picture_id": picture, "owner_id": owner})
    await kafka.send(gone, first, edit, published(marker, owner, "Harvest marker"))
    await eventually(read, "harvest", [picture, marker], [marker])
    assert (await read.db[SEARCH_DOCUMENTS].find_one({"ref": picture}))["terms"] == []


async def test_a_bad_message_goes_to_the_dead_letters(settings: Settings, workers) -> None:
    key = uid("bad").encode()
    await produce(settings.kafka_bootstrap, PICTURES_EVENTS.name(settings.topic_prefix),
                  b"{not json", key)
    letter = await read_topic(
        settings.kafka_bootstrap, DEADLETTER.name(settings.topic_prefix),
        lambda doc: doc["data"].get("agent") == "search-pictures"
        and doc["data"].get("key") == key.decode(), timeout_s=WAIT_S)
    assert letter["data"]["payload"] == "{not json"
