"""The whole first slice, end to end, over HTTP and Kafka against the real servers."""

from __future__ import annotations

import io
import json
import uuid

import aiohttp
import pytest
from PIL import Image

from tests.helpers import GPS_IFD, Api, jpeg_with_gps, produce, read_topic
from topics import DEADLETTER, REACTIONS_COMMANDS
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE


@pytest.fixture
async def api(system: str):
    async with aiohttp.ClientSession() as http:
        yield Api(http, system)


async def test_register_upload_explore_like(api: Api, settings) -> None:
    ada = await api.register("Ada")
    status, me, _ = await api.call("GET", "/api/v1/me", user=ada)
    assert status == 200 and me["user_id"] == ada.user_id and me["email"] == ada.email

    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the input has GPS
    status, body = await api.upload(ada, original, title="Golden Gate", tags="bridge,Dusk")
    assert status == 202, body
    assert body["status"] == "processing"
    picture_id = body["picture_id"]

    status, picture, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture_id}?wait_ms=10000", user=ada)
    assert status == 200 and picture["status"] == "published", picture
    assert picture["owner"] == {"user_id": ada.user_id, "display_name": "Ada"}
    assert picture["tags"] == ["bridge", "dusk"]
    assert (picture["width"], picture["height"]) == (640, 480)

    status, feed, _ = await api.call("GET", f"/api/v1/users/{ada.user_id}/pictures")
    assert status == 200 and [p["picture_id"] for p in feed["items"]] == [picture_id]
    status, by_tag, _ = await api.call("GET", "/api/v1/pictures?tag=bridge&limit=100")
    assert picture_id in [p["picture_id"] for p in by_tag["items"]]

    async with api.http.get(picture["thumbnail_url"]) as answer:
        assert answer.status == 200
        thumbnail = Image.open(io.BytesIO(await answer.read()))
    assert max(thumbnail.size) <= 320
    assert not thumbnail.getexif() and "exif" not in thumbnail.info

    bob = await api.register("Bob")
    for _ in range(2):
        status, liked, _ = await api.call("PUT", f"/api/v1/pictures/{picture_id}/like", user=bob)
        assert status == 202, liked
    status, seen, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture_id}?wait_ms=10000&after={liked['command_id']}",
        user=bob)
    assert seen["like_count"] == 1 and seen["liked_by_me"] is True
    status, unliked, _ = await api.call("DELETE", f"/api/v1/pictures/{picture_id}/like",
                                        user=bob)
    assert status == 202
    status, seen, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture_id}?wait_ms=10000&after={unliked['command_id']}",
        user=bob)
    assert seen["like_count"] == 0 and seen["liked_by_me"] is False

    # Another system likes it straight through Kafka, with any client.
    carol_id = f"external-{uuid.uuid4().hex[:8]}"
    like = CloudEvent(type=LIKE_PICTURE.type, subject=picture_id, source="/other-system",
                      data={"picture_id": picture_id, "user_id": carol_id})
    commands = REACTIONS_COMMANDS.name(settings.topic_prefix)
    await produce(settings.kafka_bootstrap, commands, like.to_json(), picture_id.encode())
    status, seen, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture_id}?wait_ms=10000&after={like.id}")
    assert seen["like_count"] == 1

    # A message that is not JSON lands on the dead-letter topic, and likes keep flowing.
    garbage = b"\xff not json " + uuid.uuid4().hex.encode()
    await produce(settings.kafka_bootstrap, commands, garbage, picture_id.encode())
    letter = await read_topic(
        settings.kafka_bootstrap, DEADLETTER.name(settings.topic_prefix),
        lambda doc: doc["data"]["payload"].endswith(garbage[-32:].decode()))
    assert letter["data"]["reason"].startswith("not valid JSON")
    assert letter["data"]["topic"] == commands
    status, liked, _ = await api.call("PUT", f"/api/v1/pictures/{picture_id}/like", user=bob)
    status, seen, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture_id}?wait_ms=10000&after={liked['command_id']}")
    assert seen["like_count"] == 2
    assert json.dumps(seen)  # the answer is plain JSON
