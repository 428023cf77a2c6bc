"""GET /api/v1/me/timeline over HTTP: uploads through the API, follows as the social
service's events on Kafka (produced here), read back newest first with a cursor; an account
over the session's fan-out threshold (2) is merged in at read time."""

from __future__ import annotations

import asyncio
import uuid

from motor.motor_asyncio import AsyncIOMotorClient

from picasso.mongo import TIMELINE_CELEBRITIES, TIMELINES
from tests.helpers import Api, User, jpeg_with_gps, produce
from topics import SOCIAL_EVENTS
from topics.envelope import CloudEvent
from topics.social import USER_FOLLOWED


async def follows(settings, follower: str, followee: str) -> None:
    e = CloudEvent(type=USER_FOLLOWED.type, subject=followee, source="/tests", data={
        "follower_id": follower, "followee_id": followee, "following_count": 1})
    await produce(settings.kafka_bootstrap, SOCIAL_EVENTS.name(settings.topic_prefix),
                  e.to_json(), followee.encode())


async def page_until(api: Api, user: User, path: str, done, timeout_s: float = 20.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status, body, _ = await api.call("GET", path, user=user)
        assert status == 200, body
        if done(body) or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.1)


def ids(page: dict) -> list[str]:
    return [item["picture_id"] for item in page["items"]]


async def test_home_timeline_fanned_out_and_merged_newest_first(api: Api, settings) -> None:
    ada, cy, reader = await api.register("Ada"), await api.register("Cy"), \
        await api.register("Reader")
    status, _, _ = await api.call("GET", "/api/v1/me/timeline")
    assert status == 401
    await follows(settings, reader.user_id, ada.user_id)
    # Cy has three followers: over the threshold, her pictures are merged in when read.
    for follower in (reader.user_id, f"x-{uuid.uuid4().hex}", f"y-{uuid.uuid4().hex}"):
        await follows(settings, follower, cy.user_id)
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    deadline = asyncio.get_running_loop().time() + 20
    while await db[TIMELINE_CELEBRITIES].count_documents({"celebrity_id": cy.user_id}) < 3:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)

    first = await api.published(ada, jpeg_with_gps(320, 200), title="First")
    second = await api.published(cy, jpeg_with_gps(320, 200), title="Second")
    third = await api.published(ada, jpeg_with_gps(320, 200), title="Third")
    expected = [third["picture_id"], second["picture_id"], first["picture_id"]]
    status, _, _ = await api.call("PUT", f"/api/v1/pictures/{second['picture_id']}/like",
                                  user=reader)
    assert status == 202

    page = await page_until(api, reader, "/api/v1/me/timeline",
                            lambda body: ids(body) == expected
                            and body["items"][1]["liked_by_me"])
    assert ids(page) == expected and page["next_cursor"] is None
    item = page["items"][1]
    assert item["owner"] == {"user_id": cy.user_id, "display_name": "Cy"}
    assert item["title"] == "Second" and item["liked_by_me"] and not item["purchased_by_me"]
    # Ada's pictures were written into the reader's timeline; Cy's was not, for anyone.
    assert await db[TIMELINES].count_documents({"reader_id": reader.user_id}) == 2
    assert await db[TIMELINES].count_documents({"picture_id": second["picture_id"]}) == 0

    # Newest first, a page at a time, across the merged and the fanned-out pictures.
    seen, path = [], "/api/v1/me/timeline?limit=1"
    while path:
        status, body, _ = await api.call("GET", path, user=reader)
        assert status == 200 and len(body["items"]) == 1, body
        seen += ids(body)
        path = (f"/api/v1/me/timeline?limit=1&cursor={body['next_cursor']}"
                if body["next_cursor"] else None)
    assert seen == expected

    # Ada sees none of it: she follows nobody. Bad limits and cursors are refused.
    status, body, _ = await api.call("GET", "/api/v1/me/timeline", user=ada)
    assert status == 200 and body == {"items": [], "next_cursor": None}
    assert (await api.call("GET", "/api/v1/me/timeline?limit=101", user=reader))[0] == 422
    assert (await api.call("GET", "/api/v1/me/timeline?cursor=forged", user=reader))[0] == 400
