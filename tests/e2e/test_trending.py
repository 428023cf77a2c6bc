"""GET /api/v1/pictures?sort=trending over HTTP, on the session's whole system: pictures
uploaded, liked, commented and deleted through the API come out ranked by their activity,
shaped like the feed, page by page with a cursor; a deleted picture leaves the ranking."""

from __future__ import annotations

import asyncio

from tests.helpers import Api, User, jpeg_with_gps


async def trending(api: Api, user: User | None, query: str, want, timeout_s: float = 30.0
                   ) -> dict:
    """The trending page for ``query`` once ``want(ids)`` holds (the ranking is computed
    again every few seconds)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status, body, _ = await api.call("GET", f"/api/v1/pictures?sort=trending&{query}",
                                         user=user)
        assert status == 200, body
        ids = [item["picture_id"] for item in body["items"]]
        if want(ids) or asyncio.get_running_loop().time() > deadline:
            assert want(ids), ids
            return body
        await asyncio.sleep(0.3)


async def test_trending_ranks_by_activity_pages_and_drops_deleted_pictures(api: Api) -> None:
    owner = await api.register("Owner")
    fans = [await api.register(f"Fan{n}") for n in range(3)]
    quiet, liked, loved = [
        (await api.published(owner, jpeg_with_gps(320, 200), title=title))["picture_id"]
        for title in ("Quiet", "Liked", "Loved")]
    for fan in fans:  # three likes and a comment for "Loved", one like for "Liked"
        status, _, _ = await api.call("PUT", f"/api/v1/pictures/{loved}/like", user=fan)
        assert status == 202
    status, _, _ = await api.call("PUT", f"/api/v1/pictures/{liked}/like", user=fans[0])
    assert status == 202
    status, body, _ = await api.call("POST", f"/api/v1/pictures/{loved}/comments",
                                     user=fans[1], json={"text": "Wonderful"})
    assert status == 202, body

    mine = f"owner={owner.user_id}"  # other tests' pictures trend too
    for window in ("hour", "day"):
        page = await trending(api, None, f"{mine}&window={window}",
                              lambda ids: ids == [loved, liked])
    assert quiet not in [item["picture_id"] for item in page["items"]]
    [top, _] = page["items"]
    # Shaped exactly like the feed's items.
    status, feed, _ = await api.call("GET", f"/api/v1/pictures?{mine}")
    assert status == 200
    assert top == next(item for item in feed["items"] if item["picture_id"] == loved)
    assert top["like_count"] == 3 and top["comment_count"] == 1
    # The default window is the day; a signed-in reader gets their own marks.
    page = await trending(api, fans[0], mine, lambda ids: ids == [loved, liked])
    assert [item["liked_by_me"] for item in page["items"]] == [True, True]

    first = await trending(api, None, f"{mine}&limit=1", lambda ids: ids == [loved])
    assert first["next_cursor"]
    status, second, _ = await api.call(
        "GET", f"/api/v1/pictures?sort=trending&{mine}&limit=1&cursor={first['next_cursor']}")
    assert status == 200
    assert [item["picture_id"] for item in second["items"]] == [liked]
    assert second["next_cursor"] is None
    # A cursor of the day's ranking is not one of the hour's, nor of the feed.
    status, problem, _ = await api.call(
        "GET", f"/api/v1/pictures?sort=trending&window=hour&cursor={first['next_cursor']}")
    assert status == 400, problem

    status, _, _ = await api.call("DELETE", f"/api/v1/pictures/{loved}", user=owner)
    assert status == 202
    await trending(api, None, mine, lambda ids: ids == [liked])


async def test_bad_sorts_and_windows_are_422(api: Api) -> None:
    for query, field in (("sort=popular", "sort"), ("sort=trending&window=week", "window"),
                         ("window=hour", "window"), ("sort=newest&window=day", "window")):
        status, problem, answer = await api.call("GET", f"/api/v1/pictures?{query}")
        assert status == 422, (query, problem)
        assert answer.content_type == "application/problem+json"
        assert field in problem["errors"]
