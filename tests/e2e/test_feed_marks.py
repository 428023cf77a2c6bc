"""A signed-in reader's marks on the feed (``liked_by_me``), as an edge that keeps them
(``MARKS_CACHE_TTL_S``, web.readmodels.ReaderMarks) serves them: kept between reads, and
changed within moments of the reader's own like or unlike being applied, because the edge's
live consumer sees the reactions service's event and forgets the reader's marks.

The session's edge keeps no marks (tests read their own writes at once); this module starts
an edge of its own with a kept time far beyond the test's, so only the event can explain a
change it shows.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Iterator

import aiohttp
import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from picasso.mongo import LIKES
from picasso.settings import Settings
from tests.helpers import Api, User, edge_of_its_own, jpeg_with_gps

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def marks_edge(system: str, system_env: dict[str, str],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with edge_of_its_own("marks-edge", system_env, {"MARKS_CACHE_TTL_S": "600"},
                         tmp_path_factory.mktemp("marks-edge")) as url:
        yield url


@pytest.fixture
async def keeping(marks_edge: str) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, marks_edge)


async def _liked(api: Api, reader: User, owner: User) -> dict[str, bool]:
    status, page, _ = await api.call("GET", f"/api/v1/users/{owner.user_id}/pictures",
                                     user=reader)
    assert status == 200, page
    return {item["picture_id"]: item["liked_by_me"] for item in page["items"]}


async def _until(api: Api, reader: User, owner: User, wanted: dict[str, bool]) -> None:
    for _ in range(100):  # 10 s, far below the 600 s the edge would keep stale marks
        if await _liked(api, reader, owner) == wanted:
            return
        await asyncio.sleep(0.1)
    assert await _liked(api, reader, owner) == wanted


async def test_kept_marks_follow_the_readers_own_likes(
        api: Api, keeping: Api, settings: Settings) -> None:
    owner, reader = await api.register("Owner"), await api.register("Reader")
    first = (await api.published(owner, jpeg_with_gps(64, 48), title="First"))["picture_id"]
    second = (await api.published(owner, jpeg_with_gps(64, 48), title="Second"))["picture_id"]
    assert await _liked(keeping, reader, owner) == {first: False, second: False}

    # Kept: a like written into the read model behind the services' back (no event) does not
    # show on the keeping edge, while the session's edge, which keeps nothing, sees it.
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    await db[LIKES].insert_one({"picture_id": second, "user_id": reader.user_id,
                                "liked_at": "2026-01-01T00:00:00Z"})
    try:
        assert await _liked(api, reader, owner) == {first: False, second: True}
        assert await _liked(keeping, reader, owner) == {first: False, second: False}
    finally:
        await db[LIKES].delete_one({"picture_id": second, "user_id": reader.user_id})

    # The reader's like, applied by the reactions service: its event reaches the edge.
    status, liked, _ = await api.call("PUT", f"/api/v1/pictures/{first}/like", user=reader)
    assert status == 202, liked
    await _until(keeping, reader, owner, {first: True, second: False})
    status, unliked, _ = await api.call("DELETE", f"/api/v1/pictures/{first}/like", user=reader)
    assert status == 202, unliked
    await _until(keeping, reader, owner, {first: False, second: False})

    # Someone else's like changes nothing of this reader's marks.
    other = await api.register("Other")
    status, _, _ = await api.call("PUT", f"/api/v1/pictures/{second}/like", user=other)
    assert status == 202
    await _until(keeping, other, owner, {first: False, second: True})
    assert await _liked(keeping, reader, owner) == {first: False, second: False}
