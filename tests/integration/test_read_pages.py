"""Cursor pages over the real MongoDB-compatible server (``web.readmodels.page_after``):
every document once, in order, whatever ties in time the cursor falls between and whatever
time windows the pages are looked for in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from picasso.settings import Settings
from topics.envelope import utc_stamp
from web.readmodels import page_after

NOW = datetime.now(UTC)
# Where the documents' times lie: a second apart long ago (no window holds any), or hours
# apart back from now, across the windows (1 h, 8 h, 64 h, ...), a few at each time.
SPREADS = {
    "seconds apart, long ago": lambda step: f"2026-01-01T00:00:0{step}Z",
    "hours apart, up to now": lambda step: utc_stamp(NOW - timedelta(hours=7 * step ** 2)),
}


@pytest.fixture
async def collection(settings: Settings):
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    found = db[f"pages_{uuid.uuid4().hex[:8]}"]
    await found.create_index([("owner", 1), ("at", -1), ("_id", -1)])
    yield found
    await found.drop()


@pytest.mark.parametrize("spread", SPREADS)
@pytest.mark.parametrize("newest_first", [True, False])
@pytest.mark.parametrize("limit", [1, 2, 3, 7])
async def test_pages_cover_every_document_once_in_order_across_ties(
        collection, spread: str, newest_first: bool, limit: int) -> None:
    # Times with several documents each (ties), and another owner's in between.
    time = SPREADS[spread]
    docs = [{"_id": f"d{n:02d}", "owner": "ada", "at": time(n // 3)} for n in range(14)]
    await collection.insert_many(docs + [
        {"_id": f"x{n}", "owner": "bob", "at": time(1)} for n in range(3)])
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


@pytest.mark.parametrize("spread", SPREADS)
@pytest.mark.parametrize("limit", [2, 7])
async def test_a_hinted_first_window_answers_as_without_it(
        collection, spread: str, limit: int) -> None:
    """``since`` (the oldest time the same page reached last time) is only a first window:
    whether it holds the page (the page did not change, or newer documents came) or not
    (documents were removed from it), the page is the same as without it."""
    time = SPREADS[spread]
    docs = [{"_id": f"d{n:02d}", "owner": "ada", "at": time(n // 3)} for n in range(14)]
    await collection.insert_many(docs)
    times = sorted({d["at"] for d in docs})
    hints = [*times, "2999-01-01T00:00:00Z", "1999-01-01T00:00:00Z"]
    for position in (None, (times[-1], "d13"), (times[2], "d07")):
        plain = await page_after(collection, {"owner": "ada"}, position, limit, time_field="at")
        for since in hints:
            hinted = await page_after(collection, {"owner": "ada"}, position, limit,
                                      time_field="at", since=since)
            assert hinted == plain, (position, since)


class _Counted:
    """The collection, counting the queries made on it."""

    def __init__(self, collection) -> None:
        self.collection = collection
        self.queries = 0

    def find(self, *args, **kwargs):
        self.queries += 1
        return self.collection.find(*args, **kwargs)


@pytest.mark.parametrize("spread", SPREADS)
async def test_a_page_reloaded_from_its_hint_is_one_query(collection, spread: str) -> None:
    """The hint is the oldest time the page reached last time, so its document is on the
    page: the first window must hold the whole page (the local server leaves a ``$gte``
    bound's own documents out on a descending key, so the window starts a second lower)."""
    time = SPREADS[spread]
    await collection.insert_many(
        [{"_id": f"d{n:02d}", "owner": "ada", "at": time(n)} for n in range(8)])
    first = await page_after(collection, {"owner": "ada"}, None, 4, time_field="at")
    counted = _Counted(collection)
    again = await page_after(counted, {"owner": "ada"}, None, 4, time_field="at",
                             since=first[-1]["at"])
    assert again == first
    assert counted.queries == 1
