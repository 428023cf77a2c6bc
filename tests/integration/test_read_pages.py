"""Cursor pages over the real MongoDB-compatible server (``web.readmodels.page_after``):
every document once, in order, whatever ties in time the cursor falls between."""

from __future__ import annotations

import uuid

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from picasso.settings import Settings
from web.readmodels import page_after


@pytest.fixture
async def collection(settings: Settings):
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    found = db[f"pages_{uuid.uuid4().hex[:8]}"]
    await found.create_index([("owner", 1), ("at", -1), ("_id", -1)])
    yield found
    await found.drop()


@pytest.mark.parametrize("newest_first", [True, False])
@pytest.mark.parametrize("limit", [1, 2, 3, 7])
async def test_pages_cover_every_document_once_in_order_across_ties(
        collection, newest_first: bool, limit: int) -> None:
    # Times with several documents each (ties), and another owner's in between.
    docs = [{"_id": f"d{n:02d}", "owner": "ada", "at": f"2026-01-01T00:00:0{n // 3}Z"}
            for n in range(14)]
    await collection.insert_many(docs + [
        {"_id": f"x{n}", "owner": "bob", "at": "2026-01-01T00:00:01Z"} for n in range(3)])
    expected = sorted(((d["at"], d["_id"]) for d in docs), reverse=newest_first)

    seen: list[tuple[str, str]] = []
    position = None
    for _ in range(len(docs) + 1):
        page = await page_after(collection, {"owner": "ada"}, position, limit,
                                time_field="at", newest_first=newest_first)
        assert len(page) <= limit
        seen += [(d["at"], d["_id"]) for d in page]
        if len(page) < limit:
            break
        position = seen[-1]
    assert seen == expected
