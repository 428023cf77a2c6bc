"""The whole first slice, end to end, over HTTP and Kafka against the real servers."""

from __future__ import annotations

import asyncio
import io
import json
import uuid

from PIL import Image

from tests.helpers import GPS_IFD, Api, jpeg_with_gps, produce, read_topic
from topics import DEADLETTER, REACTIONS_COMMANDS
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE


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


async def test_another_system_uploads_through_kafka(api: Api, settings, system_env) -> None:
    """A blob already in storage plus an UploadPicture on the topic publishes a picture."""
    import aioboto3

    from topics import PICTURES_COMMANDS
    from topics.pictures import UPLOAD_PICTURE, incoming_key

    ada = await api.register("Ada")
    picture_id = uuid.uuid4().hex
    blob_key = incoming_key(ada.user_id, picture_id)
    session = aioboto3.Session(aws_access_key_id=system_env["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=system_env["AWS_SECRET_ACCESS_KEY"])
    async with session.client("s3", endpoint_url=settings.s3_endpoint_url,
                              region_name=settings.s3_region) as s3:
        await s3.put_object(Bucket=settings.s3_bucket, Key=blob_key, Body=jpeg_with_gps(200, 100))
    upload = CloudEvent(type=UPLOAD_PICTURE.type, subject=picture_id, source="/partner", data={
        "picture_id": picture_id, "owner_id": ada.user_id, "blob_key": blob_key,
        "title": "From a partner", "price_cents": 0, "currency": "usd", "tags": ["partner"],
    })
    await produce(settings.kafka_bootstrap, PICTURES_COMMANDS.name(settings.topic_prefix),
                  upload.to_json(), picture_id.encode())
    status, picture, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture_id}?wait_ms=10000&after={upload.id}")
    assert status == 200 and picture["status"] == "published", picture
    assert (picture["width"], picture["height"]) == (200, 100)
    # The owner's name is the users service's projection, another process: it may land a
    # moment after the picture does.
    for _ in range(100):
        if picture["owner"]["display_name"] is not None:
            break
        await asyncio.sleep(0.1)
        status, picture, _ = await api.call("GET", f"/api/v1/pictures/{picture_id}")
    assert picture["owner"]["display_name"] == "Ada"


async def test_not_an_image_inside_is_rejected_with_a_reason(api: Api) -> None:
    """Bytes that start like a JPEG but are not one pass the edge and are rejected later."""
    ada = await api.register("Ada")
    status, body = await api.upload(ada, b"\xff\xd8\xff\xe0" + b"\x00" * 2000)
    assert status == 202, body
    status, picture, _ = await api.call(
        "GET", f"/api/v1/pictures/{body['picture_id']}?wait_ms=10000", user=ada)
    assert picture["status"] == "rejected" and picture["reason"], picture
    status, _, _ = await api.call("GET", f"/api/v1/pictures/{body['picture_id']}")
    assert status == 404  # only its owner sees a rejected picture


async def test_too_large_upload_is_413_and_keeps_nothing(api: Api) -> None:
    from tests.conftest import MAX_UPLOAD_BYTES

    ada = await api.register("Ada")
    big = b"\xff\xd8\xff\xe0" + b"\x00" * MAX_UPLOAD_BYTES
    status, body = await api.upload(ada, big)
    assert status == 413, body
    status, feed, _ = await api.call("GET", f"/api/v1/users/{ada.user_id}/pictures")
    assert feed["items"] == []
