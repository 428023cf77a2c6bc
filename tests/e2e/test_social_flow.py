"""Issue 13's whole story over the HTTP API, every service real: Bo follows Ada, sees Ada's
new upload in his home timeline, comments on it, and Ada finds both in her notifications."""

from __future__ import annotations

import asyncio

from tests.helpers import Api, jpeg_with_gps


async def _until(read, done, what: str, timeout_s: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await read()
        if done(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}: {value}"
        await asyncio.sleep(0.2)


async def test_follow_timeline_comment_and_notifications(api: Api) -> None:
    ada, bo = await api.register("Ada"), await api.register("Bo")
    status, body, _ = await api.call("PUT", f"/api/v1/users/{ada.user_id}/follow", user=bo)
    assert status == 202, body
    status, profile, _ = await api.call(
        "GET", f"/api/v1/users/{ada.user_id}?after={body['command_id']}&wait_ms=10000", user=bo)
    assert profile["followed_by_me"] is True and profile["followers_count"] == 1

    picture = await api.published(ada, jpeg_with_gps(120, 90), title="After the rain")
    picture_id = picture["picture_id"]

    async def timeline() -> list[str]:
        status, page, _ = await api.call("GET", "/api/v1/me/timeline", user=bo)
        assert status == 200, page
        return [item["picture_id"] for item in page["items"]]

    assert (await _until(timeline, lambda ids: picture_id in ids, "in Bo's timeline"))[0] \
        == picture_id

    status, body, _ = await api.call("POST", f"/api/v1/pictures/{picture_id}/comments",
                                     user=bo, json={"text": "Lovely colours"})
    assert status == 202, body
    status, comments, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture_id}/comments?after={body['command_id']}"
               "&wait_ms=10000")
    assert [(c["author"]["display_name"], c["text"]) for c in comments["items"]] == [
        ("Bo", "Lovely colours")]

    async def notices() -> list[dict]:
        status, page, _ = await api.call("GET", "/api/v1/me/notifications", user=ada)
        assert status == 200, page
        return page["items"]

    items = await _until(notices, lambda items: {"followed", "commented"} <= {
        n["kind"] for n in items}, "Ada told of the follow and the comment")
    by_kind = {n["kind"]: n for n in items}
    assert [a["display_name"] for a in by_kind["followed"]["actors"]] == ["Bo"]
    assert by_kind["commented"]["picture"]["picture_id"] == picture_id
    assert by_kind["commented"]["text"] == "Lovely colours"
    assert not any(n["read"] for n in items)
    status, unread, _ = await api.call("GET", "/api/v1/me/notifications/unread_count", user=ada)
    assert unread["unread"] >= 2  # and the upload's "published" notice
