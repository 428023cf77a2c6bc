"""In-app notifications over HTTP, against the real servers and every service: a follow, likes
grouped per picture (bumped and unread again at each new liker, never one's own), a comment,
a free picture bought (seller and buyer told), an upload published or rejected; the unread
count; marking one and all read."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from motor.motor_asyncio import AsyncIOMotorClient

from picasso.mongo import MAIL_DELIVERIES, MAIL_USERS
from tests.e2e.test_comments import comment, names_known
from tests.e2e.test_mail import mails_to, wait_for_mails, wait_until
from tests.e2e.test_mail import text as mail_text
from tests.helpers import Api, User, jpeg_with_gps, produce
from tests.unit.test_openapi import schema_validator
from topics import SOCIAL_EVENTS
from topics.envelope import CloudEvent
from topics.social import USER_FOLLOWED
from web.openapi import openapi_document

ME = "/api/v1/me/notifications"


async def page(api: Api, user: User, query: str = "") -> dict[str, Any]:
    status, body, _ = await api.call("GET", f"{ME}{query}", user=user)
    assert status == 200, body
    schema_validator(openapi_document(), "NotificationPage").validate(body)
    return body


async def until(api: Api, user: User, done: Callable[[list[dict]], bool],
                timeout_s: float = 20.0) -> list[dict]:
    """The caller's notifications once ``done`` holds for them (the services make them from
    events, a moment after what caused them)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        items = (await page(api, user, "?limit=100"))["items"]
        if done(items):
            return items
        assert loop.time() < deadline, items
        await asyncio.sleep(0.1)


def of(items: list[dict], kind: str) -> list[dict]:
    return [n for n in items if n["kind"] == kind]


async def unread(api: Api, user: User, after: str | None = None) -> int:
    query = f"?after={after}&wait_ms=10000" if after else ""
    status, body, _ = await api.call("GET", f"{ME}/unread_count{query}", user=user)
    assert status == 200, body
    schema_validator(openapi_document(), "UnreadCount").validate(body)
    return body["unread"]


async def mark_read(api: Api, user: User, body: dict) -> str:
    status, answer, response = await api.call("POST", f"{ME}/read", user=user, json=body)
    assert status == 202, answer
    assert response.headers["Location"] == f"{ME}?after={answer['command_id']}"
    return answer["command_id"]


async def like(api: Api, user: User, picture_id: str) -> None:
    status, body, _ = await api.call("PUT", f"/api/v1/pictures/{picture_id}/like", user=user)
    assert status == 202, body
    status, _, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture_id}?after={body['command_id']}&wait_ms=10000")
    assert status == 200


async def follow(settings, follower: User, followee: User) -> None:
    """UserFollowed as the social service tells it (produced here: it is its own service)."""
    event = CloudEvent(type=USER_FOLLOWED.type, subject=followee.user_id, source="/tests",
                       data={"follower_id": follower.user_id,
                             "followee_id": followee.user_id, "following_count": 1})
    await produce(settings.kafka_bootstrap, SOCIAL_EVENTS.name(settings.topic_prefix),
                  event.to_json(), followee.user_id.encode())


def person(user: User) -> dict[str, str]:
    return {"user_id": user.user_id, "display_name": user.display_name}


async def test_what_concerns_a_person_is_told_once_and_marked_read(api: Api, settings) -> None:
    ada, bob, cy, dan = [await api.register(name) for name in ("Ada", "Bob", "Cy", "Dan")]
    await names_known(api, ada, bob, cy, dan)
    picture = await api.published(ada, jpeg_with_gps(64, 48), title="Harbour at dawn")
    pid = picture["picture_id"]
    harbour = {"picture_id": pid, "title": "Harbour at dawn"}

    # The upload published.
    items = await until(api, ada, lambda items: of(items, "picture_published"))
    [published] = of(items, "picture_published")
    assert published["picture"] == harbour and published["read"] is False
    assert published["actors"] == [] and published["count"] == 1

    # Followed by Bob.
    await follow(settings, bob, ada)
    items = await until(api, ada, lambda items: of(items, "followed"))
    assert [n["actors"] for n in of(items, "followed")] == [[person(bob)]]

    # Liked by Bob, by Ada herself and by Cy: one notification, two people, latest first.
    for user in (bob, ada, cy):
        await like(api, user, pid)
    items = await until(api, ada, lambda items: any(
        n["count"] == 2 for n in of(items, "liked")))
    [liked] = of(items, "liked")
    assert liked["actors"] == [person(cy), person(bob)]
    assert liked["picture"] == harbour and liked["read"] is False
    assert items[0] == liked  # the latest activity first

    # Commented on by Bob (Ada's own comment tells her nothing).
    await comment(api, ada, pid, "Thank you!")
    said = await comment(api, bob, pid, "Where is this?")
    items = await until(api, ada, lambda items: of(items, "commented"))
    [commented] = of(items, "commented")
    assert commented["actors"] == [person(bob)] and commented["picture"] == harbour
    assert (commented["comment_id"], commented["text"]) == (said["comment_id"],
                                                            "Where is this?")
    assert await unread(api, ada) == 4

    # Nobody is told of their own doing: Bob liked and commented, Ada liked her own.
    assert (await page(api, bob))["items"] == []
    assert await unread(api, bob) == 0

    # One marked read; then Dan's like bumps the likes back to the top, unread again.
    command = await mark_read(api, ada, {"ids": [liked["notification_id"]]})
    assert await unread(api, ada, after=command) == 3
    listed = (await page(api, ada, f"?after={command}&wait_ms=10000"))["items"]
    assert of(listed, "liked")[0]["read"] is True
    assert listed[0]["kind"] == "commented"
    await like(api, dan, pid)
    items = await until(api, ada, lambda items: items[0]["kind"] == "liked"
                        and items[0]["count"] == 3)
    assert items[0]["notification_id"] == liked["notification_id"]
    assert items[0]["read"] is False
    assert items[0]["actors"] == [person(dan), person(cy), person(bob)]
    assert len(of(items, "liked")) == 1

    # Bob buys the free picture: Ada is told she sold it, Bob that his purchase completed.
    status, bought, _ = await api.call("POST", f"/api/v1/pictures/{pid}/purchases",
                                       user=bob, json={})
    assert status == 202, bought
    items = await until(api, ada, lambda items: of(items, "sold"))
    [sold] = of(items, "sold")
    assert sold["actors"] == [person(bob)] and sold["picture"] == harbour
    assert (sold["purchase_id"], sold["amount_cents"]) == (bought["purchase_id"], 0)
    mine = await until(api, bob, lambda items: of(items, "purchase_completed"))
    [receipt] = of(mine, "purchase_completed")
    assert receipt["actors"] == [person(ada)] and receipt["picture"] == harbour
    assert [n["kind"] for n in mine] == ["purchase_completed"]

    # All read.
    assert await unread(api, ada) == 5
    command = await mark_read(api, ada, {"all": True})
    assert await unread(api, ada, after=command) == 0
    listed = (await page(api, ada, f"?after={command}&wait_ms=10000"))["items"]
    assert all(n["read"] for n in listed) and len(listed) == 5
    assert await unread(api, bob) == 1  # Ada's marks are hers


async def test_a_rejected_upload_and_pages_by_cursor(api: Api) -> None:
    ada = await api.register("Ada")
    status, body = await api.upload(ada, b"\xff\xd8\xff\xe0" + b"\x00" * 2000,
                                    title="Broken")
    assert status == 202, body
    for title in ("One", "Two"):
        await api.published(ada, jpeg_with_gps(32, 32), title=title)
    items = await until(api, ada, lambda items: len(items) == 3)
    [rejected] = of(items, "picture_rejected")
    assert rejected["picture"] == {"picture_id": body["picture_id"], "title": "Broken"}
    assert rejected["reason"]
    first = await page(api, ada, "?limit=2")
    second = await page(api, ada, f"?limit=2&cursor={first['next_cursor']}")
    assert second["next_cursor"] is None
    assert first["items"] + second["items"] == items  # the same order, nothing twice


async def test_refusals(api: Api) -> None:
    ada = await api.register("Ada")
    for method, path in (("GET", ME), ("GET", f"{ME}/unread_count"), ("POST", f"{ME}/read")):
        status, _, _ = await api.call(method, path, json={"all": True})
        assert status == 401, (method, path)
    for body in ({}, {"all": False}, {"ids": []}, {"ids": [""]}, {"ids": "x"},
                 {"ids": ["a"], "all": True}, {"ids": ["a"] * 101}, {"every": True}):
        status, problem, _ = await api.call("POST", f"{ME}/read", user=ada, json=body)
        assert status == 422 and problem["errors"], (body, problem)
    status, _, _ = await api.call("GET", f"{ME}?cursor=forged", user=ada)
    assert status == 400
    status, _, _ = await api.call("GET", f"{ME}?limit=101", user=ada)
    assert status == 422


async def test_mail_for_follows_and_comments_only_once_turned_on(api: Api, stack,
                                                                 settings) -> None:
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    ada, bob = await api.register("Ada"), await api.register("Bob")
    await names_known(api, ada, bob)
    pid = (await api.published(ada, jpeg_with_gps(64, 48), title="Pier"))["picture_id"]

    # Off until turned on: the comment is told in the app, not by mail.
    await comment(api, bob, pid, "First!")

    async def skipped() -> bool:
        found = await db[MAIL_DELIVERIES].find_one({"kind": "commented", "user_id": ada.user_id})
        return found is not None and found["status"] == "skipped"
    await wait_until(skipped, "the comment mail to Ada was skipped")

    status, body, _ = await api.call("PATCH", "/api/v1/me", user=ada, json={
        "preferences": {"commented": True, "followed": True}})
    assert status == 202, body

    async def turned_on() -> bool:
        user = await db[MAIL_USERS].find_one({"_id": ada.user_id}) or {}
        return user.get("preferences", {}).get("followed") is True
    await wait_until(turned_on, "Ada's preferences reached the mail service")

    await comment(api, bob, pid, "Where <is> this?")
    await follow(settings, bob, ada)
    to_ada = await wait_for_mails(stack.maildir, ada.email, {"commented", "followed"})
    [commented] = to_ada["commented"]
    assert commented["Subject"] == "Bob commented on “Pier”"
    assert "Where <is> this?" in mail_text(commented) and "First!" not in mail_text(commented)
    assert commented["List-Unsubscribe"]
    [followed] = to_ada["followed"]
    assert followed["Subject"] == "Bob now follows you"
    # Never a mail for a like, nor to Bob for his own comments.
    await like(api, bob, pid)
    assert {m["X-Picasso-Kind"] for m in mails_to(stack.maildir, bob.email)} == {"welcome"}
