"""People over HTTP and Kafka: following, the counts, the lists, and profiles."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import Api, User, jpeg_with_gps, produce, read_topic
from tests.unit.test_openapi import schema_validator
from topics import DEADLETTER, SOCIAL_COMMANDS
from topics.envelope import CloudEvent
from topics.social import FOLLOW_USER
from topics.users import BIO_MAX, NOTIFICATION_KINDS, QUIET_KINDS
from web.openapi import openapi_document


def conforms(name: str, body: Any) -> None:
    """``body`` is as the served document's schema ``name`` says."""
    schema_validator(openapi_document(), name).validate(body)


async def registered(api: Api, name: str) -> User:
    """A new user, once the users service has their profile (following needs it)."""
    user = await api.register(name)
    await until(api, f"/api/v1/users/{user.user_id}", lambda status, _: status == 200)
    return user


async def until(api: Api, path: str, done, user: User | None = None,
                timeout_s: float = 15.0) -> Any:
    """The body of ``GET path`` once ``done(status, body)`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status, body, _ = await api.call("GET", path, user=user)
        if done(status, body):
            return body
        assert asyncio.get_running_loop().time() < deadline, (status, body)
        await asyncio.sleep(0.1)


async def follow(api: Api, who: User, whom: User, method: str = "PUT") -> dict:
    """Follow (or with DELETE unfollow) and answer ``whom``'s profile as ``who`` sees it
    once the command is applied and counted."""
    status, body, answer = await api.call(method, f"/api/v1/users/{whom.user_id}/follow",
                                          user=who)
    assert status == 202, body
    assert answer.headers["Location"] == (f"/api/v1/users/{whom.user_id}"
                                          f"?after={body['command_id']}")
    status, profile, _ = await api.call("GET", f"{answer.headers['Location']}&wait_ms=10000",
                                        user=who)
    assert status == 200, profile
    return profile


async def test_follow_unfollow_counts_and_lists(api: Api) -> None:
    ada, bob, cy = [await registered(api, name) for name in ("Ada", "Bob", "Cy")]
    seen = await follow(api, bob, ada)
    assert (seen["followers_count"], seen["followed_by_me"]) == (1, True)
    conforms("Profile", seen)
    seen = await follow(api, bob, ada)  # following twice counts once
    assert seen["followers_count"] == 1
    seen = await follow(api, cy, ada)
    assert (seen["followers_count"], seen["following_count"]) == (2, 0)
    await follow(api, ada, bob)
    status, me, _ = await api.call("GET", f"/api/v1/users/{bob.user_id}", user=bob)
    assert (me["following_count"], me["followers_count"], me["followed_by_me"]) == (1, 1, False)
    status, anonymous, _ = await api.call("GET", f"/api/v1/users/{ada.user_id}")
    assert anonymous["followed_by_me"] is False and anonymous["followers_count"] == 2

    # Newest first, one per page, with signed cursors.
    path = f"/api/v1/users/{ada.user_id}/followers"
    status, first, _ = await api.call("GET", f"{path}?limit=1")
    assert status == 200 and [p["user_id"] for p in first["items"]] == [cy.user_id]
    assert first["items"][0]["display_name"] == "Cy"
    conforms("PersonPage", first)
    status, second, _ = await api.call("GET", f"{path}?limit=1&cursor={first['next_cursor']}")
    assert [p["user_id"] for p in second["items"]] == [bob.user_id]
    assert second["next_cursor"] is None
    status, forged, _ = await api.call("GET", f"{path}?cursor={first['next_cursor']}x")
    assert status == 400, forged
    status, _, _ = await api.call("GET", f"{path}?limit=101")
    assert status == 422
    status, following, _ = await api.call("GET", f"/api/v1/users/{bob.user_id}/following")
    assert [p["user_id"] for p in following["items"]] == [ada.user_id]
    assert following["next_cursor"] is None

    seen = await follow(api, bob, ada, "DELETE")
    assert (seen["followers_count"], seen["followed_by_me"]) == (1, False)
    seen = await follow(api, bob, ada, "DELETE")  # unfollowing is idempotent
    assert seen["followers_count"] == 1
    status, me, _ = await api.call("GET", f"/api/v1/users/{bob.user_id}")
    assert me["following_count"] == 0
    status, followers, _ = await api.call("GET", path)
    assert [p["user_id"] for p in followers["items"]] == [cy.user_id]


async def test_a_follow_delivered_twice_counts_once(api: Api, settings) -> None:
    ada, bob = await registered(api, "Ada"), await registered(api, "Bob")
    command = CloudEvent(type=FOLLOW_USER.type, subject=bob.user_id, source="/other-system",
                         data={"follower_id": bob.user_id, "followee_id": ada.user_id})
    again = CloudEvent(type=FOLLOW_USER.type, subject=bob.user_id, source="/other-system",
                       data=command.data)  # the same follow, a new command
    topic = SOCIAL_COMMANDS.name(settings.topic_prefix)
    for event in (command, command, again, command):
        await produce(settings.kafka_bootstrap, topic, event.to_json(), bob.user_id.encode())
    for event in (command, again):
        status, seen, _ = await api.call(
            "GET", f"/api/v1/users/{ada.user_id}?after={event.id}&wait_ms=10000", user=bob)
        assert (seen["followers_count"], seen["followed_by_me"]) == (1, True)
    status, me, _ = await api.call("GET", f"/api/v1/users/{bob.user_id}")
    assert me["following_count"] == 1
    status, followers, _ = await api.call("GET", f"/api/v1/users/{ada.user_id}/followers")
    assert [p["user_id"] for p in followers["items"]] == [bob.user_id]


async def test_nobody_follows_themselves_or_someone_unknown(api: Api, settings) -> None:
    ada = await registered(api, "Ada")
    for method in ("PUT", "DELETE"):
        status, body, _ = await api.call(method, f"/api/v1/users/{ada.user_id}/follow",
                                         user=ada)
        assert status == 422 and "user_id" in body["errors"], body
        status, body, _ = await api.call(method, "/api/v1/users/nobody-here/follow", user=ada)
        assert status == 404, body
    status, _, _ = await api.call("PUT", f"/api/v1/users/{ada.user_id}/follow")
    assert status == 401
    for path in ("", "/followers", "/following"):
        status, body, _ = await api.call("GET", f"/api/v1/users/nobody-here{path}")
        assert status == 404, body

    # Straight through Kafka, a self-follow is refused with its reason and counts nothing.
    selfish = CloudEvent(type=FOLLOW_USER.type, subject=ada.user_id, source="/other-system",
                         data={"follower_id": ada.user_id, "followee_id": ada.user_id})
    await produce(settings.kafka_bootstrap, SOCIAL_COMMANDS.name(settings.topic_prefix),
                  selfish.to_json(), ada.user_id.encode())
    letter = await read_topic(settings.kafka_bootstrap, DEADLETTER.name(settings.topic_prefix),
                              lambda doc: doc["data"].get("original_id") == selfish.id)
    assert letter["data"]["reason"] == "nobody follows themselves"
    status, seen, _ = await api.call(
        "GET", f"/api/v1/users/{ada.user_id}?after={selfish.id}&wait_ms=10000")
    assert (seen["followers_count"], seen["following_count"]) == (0, 0)


async def test_profile_bio_avatar_and_pictures(api: Api) -> None:
    ada, bob = await registered(api, "Ada"), await registered(api, "Bob")
    status, profile, _ = await api.call("GET", f"/api/v1/users/{ada.user_id}")
    assert profile["display_name"] == "Ada" and profile["bio"] == ""
    assert profile["joined_at"] and profile["avatar_url"] is None
    assert profile["pictures_count"] == 0
    picture = await api.published(ada, jpeg_with_gps(), title="Ada's own")
    theirs = await api.published(bob, jpeg_with_gps(), title="Bob's")

    bio = "Painter <b>not bold</b> & proud"  # plain text: kept as given
    status, body, _ = await api.call("PATCH", "/api/v1/me", user=ada, json={
        "bio": bio, "avatar_picture_id": picture["picture_id"]})
    assert status == 202 and body["bio"] == bio and body["command_id"], body
    conforms("PreferencesAccepted", body)
    profile = await until(api, f"/api/v1/users/{ada.user_id}",
                          lambda status, body: body.get("bio") == bio)
    assert profile["avatar_picture_id"] == picture["picture_id"]
    assert profile["avatar_url"] == picture["thumbnail_url"]
    assert profile["pictures_count"] == 1
    conforms("Profile", profile)
    status, me, _ = await api.call("GET", "/api/v1/me", user=ada)
    assert me["bio"] == bio  # and the mail preferences untouched: the defaults
    assert me["preferences"] == {kind: kind not in QUIET_KINDS for kind in NOTIFICATION_KINDS}
    conforms("Me", me)

    # Someone else's picture, an unknown one, a bio too long or the wrong type: 422.
    for change, field in (({"avatar_picture_id": theirs["picture_id"]}, "avatar_picture_id"),
                          ({"avatar_picture_id": "no-such-picture"}, "avatar_picture_id"),
                          ({"bio": "x" * (BIO_MAX + 1)}, "bio"),
                          ({"bio": 7}, "bio"),
                          ({"bio": "ok", "display_name": "Eve"}, "display_name")):
        status, body, _ = await api.call("PATCH", "/api/v1/me", user=ada, json=change)
        assert status == 422 and field in body["errors"], (change, body)
    # Preferences and the profile in one PATCH; then the avatar taken away.
    status, body, _ = await api.call("PATCH", "/api/v1/me", user=ada, json={
        "preferences": {"picture_sold": False}, "avatar_picture_id": None})
    assert status == 202 and body["preferences"]["picture_sold"] is False, body
    profile = await until(api, f"/api/v1/users/{ada.user_id}",
                          lambda status, body: body.get("avatar_url") is None)
    assert profile["bio"] == bio
    # Two events in the order the edge sent them (the profile's, then the preferences'):
    # the second may be applied a moment after the first is seen.
    me = await until(api, "/api/v1/me", lambda status, body: status == 200
                     and body["preferences"]["picture_sold"] is False, user=ada)
    assert me["avatar_picture_id"] is None and me["bio"] == bio

    status, pictures, _ = await api.call("GET", f"/api/v1/users/{ada.user_id}/pictures")
    assert [p["picture_id"] for p in pictures["items"]] == [picture["picture_id"]]
