"""Comments on pictures over HTTP, against the real servers: add, list, delete one's own,
the owner deleting another's, strangers refused, limits, counts on the picture, and a
deleted picture's comments going with it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient

from agents.comments.comments import PICTURE_WAIT_S
from picasso.mongo import COMMENT_COUNTS, COMMENTS
from tests.helpers import Api, User, jpeg_with_gps, produce, read_topic
from tests.unit.test_openapi import schema_validator
from topics import COMMENTS_COMMANDS, DEADLETTER
from topics.comments import ADD_COMMENT, TEXT_MAX
from topics.envelope import CloudEvent
from web.openapi import openapi_document


def comments_of(picture_id: str) -> str:
    return f"/api/v1/pictures/{picture_id}/comments"


async def comment(api: Api, user: User, picture_id: str, text: str) -> dict[str, Any]:
    status, body, answer = await api.call("POST", comments_of(picture_id), user=user,
                                          json={"text": text})
    assert status == 202, body
    assert answer.headers["Location"] == \
        f"{comments_of(picture_id)}?after={body['command_id']}"
    return body


async def applied(api: Api, accepted: dict[str, Any], user: User | None = None) -> dict:
    """The comments once the command in ``accepted`` (a 202 answer) is applied."""
    status, page, _ = await api.call(
        "GET", f"{comments_of(accepted['picture_id'])}?after={accepted['command_id']}"
               "&wait_ms=10000&limit=100", user=user)
    assert status == 200, page
    return page


async def names_known(api: Api, *users: User) -> None:
    """Wait until the users service has the display names (another process)."""
    for user in users:
        for _ in range(100):
            status, me, _ = await api.call("GET", "/api/v1/me", user=user)
            if me.get("display_name") == user.display_name:
                break
            await asyncio.sleep(0.1)


async def test_add_list_and_delete_comments(api: Api) -> None:
    ada, bob, cy = [await api.register(name) for name in ("Ada", "Bob", "Cy")]
    picture_id = (await api.published(ada, jpeg_with_gps(64, 48)))["picture_id"]
    await names_known(api, ada, bob, cy)
    page_schema = schema_validator(openapi_document(), "CommentPage")

    # Plain text: markup is kept as written (never refused, never interpreted); trimmed.
    first = await comment(api, bob, picture_id, "  Lovely <b>light</b> & 3 < 4\nreally  ")
    page = await applied(api, first)
    page_schema.validate(page)
    assert page["next_cursor"] is None
    [item] = page["items"]
    assert item["comment_id"] == first["comment_id"]
    assert item["author"] == {"user_id": bob.user_id, "display_name": "Bob"}
    assert item["text"] == "Lovely <b>light</b> & 3 < 4\nreally"

    second = await comment(api, cy, picture_id, "Where is this?")
    third = await comment(api, ada, picture_id, "Thanks, both!")
    await applied(api, second)
    page = await applied(api, third)
    assert [c["comment_id"] for c in page["items"]] == [
        first["comment_id"], second["comment_id"], third["comment_id"]]  # oldest first
    status, picture, _ = await api.call("GET", f"/api/v1/pictures/{picture_id}")
    assert picture["comment_count"] == 3

    # Pages of one, by cursor, in the same order.
    seen, cursor = [], None
    while True:
        query = f"?limit=1&cursor={cursor}" if cursor else "?limit=1"
        status, page, _ = await api.call("GET", comments_of(picture_id) + query)
        assert status == 200 and len(page["items"]) == 1
        seen.append(page["items"][0]["comment_id"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [first["comment_id"], second["comment_id"], third["comment_id"]]

    # Cy may delete neither Bob's comment nor Ada's; Bob deletes his own.
    status, body, _ = await api.call(
        "DELETE", f"{comments_of(picture_id)}/{first['comment_id']}", user=cy)
    assert status == 403, body
    status, body, answer = await api.call(
        "DELETE", f"{comments_of(picture_id)}/{first['comment_id']}", user=bob)
    assert status == 202, body
    assert answer.headers["Location"].endswith(f"?after={body['command_id']}")
    page = await applied(api, body)
    assert first["comment_id"] not in [c["comment_id"] for c in page["items"]]

    # Ada owns the picture: she may delete Cy's comment.
    status, body, _ = await api.call(
        "DELETE", f"{comments_of(picture_id)}/{second['comment_id']}", user=ada)
    assert status == 202, body
    page = await applied(api, body)
    assert [c["comment_id"] for c in page["items"]] == [third["comment_id"]]
    status, picture, _ = await api.call("GET", f"/api/v1/pictures/{picture_id}")
    assert picture["comment_count"] == 1

    # A deleted comment is unknown now.
    status, body, _ = await api.call(
        "DELETE", f"{comments_of(picture_id)}/{first['comment_id']}", user=bob)
    assert status == 404, body


async def test_unknown_pictures_and_bad_text_are_refused(api: Api) -> None:
    ada = await api.register("Ada")
    picture_id = (await api.published(ada, jpeg_with_gps(64, 48)))["picture_id"]
    unknown = uuid.uuid4().hex
    status, body, _ = await api.call("POST", comments_of(unknown), user=ada,
                                     json={"text": "hello"})
    assert status == 404, body
    status, body, _ = await api.call("GET", comments_of(unknown))
    assert status == 404, body
    status, body, _ = await api.call("DELETE", f"{comments_of(picture_id)}/{unknown}",
                                     user=ada)
    assert status == 404, body
    status, body, _ = await api.call("POST", comments_of(picture_id), json={"text": "hi"})
    assert status == 401, body

    for text, why in [("x" * (TEXT_MAX + 1), f"1 to {TEXT_MAX} characters"),
                      ("   \n ", f"1 to {TEXT_MAX} characters"),
                      ("bell\x07", "control characters"), (42, "required")]:
        status, body, _ = await api.call("POST", comments_of(picture_id), user=ada,
                                         json={"text": text})
        assert status == 422, body
        assert why in body["errors"]["text"], body
    status, body, _ = await api.call("POST", comments_of(picture_id), user=ada,
                                     json={"text": "hi", "html": "<b>"})
    assert status == 422 and "html" in body["errors"], body
    accepted = await comment(api, ada, picture_id, "é" * TEXT_MAX)  # characters, not bytes
    [item] = (await applied(api, accepted))["items"]
    assert item["text"] == "é" * TEXT_MAX
    status, body, _ = await api.call("GET", comments_of(picture_id) + "?limit=101")
    assert status == 422, body
    status, body, _ = await api.call("GET", comments_of(picture_id) + "?cursor=forged")
    assert status == 400, body


async def test_a_deleted_pictures_comments_go_with_it(api: Api, settings) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture_id = (await api.published(ada, jpeg_with_gps(64, 48)))["picture_id"]
    accepted = [await comment(api, user, picture_id, f"by {user.display_name}")
                for user in (bob, ada, bob)]
    for one in accepted:
        await applied(api, one)
    status, deleted, _ = await api.call("DELETE", f"/api/v1/pictures/{picture_id}", user=ada)
    assert status == 202, deleted
    status, picture, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture_id}?after={deleted['command_id']}&wait_ms=10000",
        user=ada)
    assert picture["status"] == "deleted"

    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    for _ in range(100):  # the comments service hears of the deletion from the pictures events
        if await db[COMMENTS].count_documents({"picture_id": picture_id}) == 0:
            break
        await asyncio.sleep(0.1)
    assert await db[COMMENTS].count_documents({"picture_id": picture_id}) == 0
    assert (await db[COMMENT_COUNTS].find_one({"_id": picture_id}))["comment_count"] == 0
    status, picture, _ = await api.call("GET", f"/api/v1/pictures/{picture_id}", user=ada)
    assert picture["comment_count"] == 0
    status, page, _ = await api.call("GET", comments_of(picture_id), user=ada)
    assert status == 200 and page["items"] == []
    status, body, _ = await api.call("GET", comments_of(picture_id), user=bob)
    assert status == 404, body  # others do not see a deleted picture


async def test_a_comment_on_an_unknown_picture_from_kafka_is_dead_lettered(settings) -> None:
    """The edge answers 404 first; another system writing to the topic gets a dead letter
    with the reason, once the service has waited for the picture's event in vain."""
    picture_id = uuid.uuid4().hex
    command = CloudEvent(type=ADD_COMMENT.type, subject=picture_id, source="/other-system",
                         data={"comment_id": uuid.uuid4().hex, "picture_id": picture_id,
                               "user_id": "someone", "text": "hello?"})
    await produce(settings.kafka_bootstrap, COMMENTS_COMMANDS.name(settings.topic_prefix),
                  command.to_json(), picture_id.encode())
    letter = await read_topic(settings.kafka_bootstrap, DEADLETTER.name(settings.topic_prefix),
                              lambda doc: doc["data"].get("original_id") == command.id,
                              timeout_s=PICTURE_WAIT_S + 20)
    assert letter["data"]["reason"] == f"there is no published picture {picture_id} to comment on"
    assert letter["data"]["agent"] == "comments"
