"""Search over HTTP, against the real servers: a picture uploaded through the API is found
by its words once published, with the caller's marks; an edit and a delete change the
results; filters, pages with a signed cursor, people by name, and bad queries as 422/400
problems."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlencode

from tests.helpers import Api, User, jpeg_with_gps
from tests.unit.test_openapi import schema_validator
from topics.search import QUERY_MAX
from web.openapi import openapi_document

WAIT_S = 20.0


def word() -> str:
    """A word of letters nobody else in the session uses (so results are this test's)."""
    return "zq" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8])


async def search(api: Api, user: User | None = None, **query: Any) -> dict:
    status, body, answer = await api.call("GET", f"/api/v1/search?{urlencode(query)}",
                                          user=user)
    assert status == 200, body
    return body


async def until(api: Api, expected: list[str], user: User | None = None,
                **query: Any) -> dict:
    """Search until the page's picture (or person) ids are ``expected``."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        page = await search(api, user, **query)
        ids = [item.get("picture_id") or item.get("user_id") for item in page["items"]]
        if ids == expected:
            return page
        assert asyncio.get_running_loop().time() < deadline, (query, ids, expected)
        await asyncio.sleep(0.1)


async def test_search_finds_ranks_filters_pages_and_forgets(api: Api) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    key, other, new = word(), word(), word()
    image = jpeg_with_gps(64, 48)
    river = await api.published(ada, image, title=f"{key} river at sunset", tags="water",
                                price_cents=500)
    hill = await api.published(ada, image, title=f"{key} {other}", price_cents=0)
    page_schema = schema_validator(openapi_document(), "PicturePage")

    page = await until(api, [river["picture_id"], hill["picture_id"]],
                       q=f"{key} sunsets", user=bob)
    page_schema.validate(page)
    assert page["items"][0]["title"] == f"{key} river at sunset"
    assert page["items"][0]["owner"]["user_id"] == ada.user_id
    assert page["items"][0]["liked_by_me"] is False
    # Type-ahead on the last word: the picture holding both words comes first.
    await until(api, [river["picture_id"], hill["picture_id"]], q=f"{key} riv")
    # Filters.
    await until(api, [hill["picture_id"]], q=key, free="true")
    await until(api, [river["picture_id"]], q=key, min_price_cents=100)
    await until(api, [river["picture_id"]], q=key, tag="water")
    await until(api, [], q=key, tag="water", max_price_cents=100)

    # A like shows as liked_by_me for the one who liked.
    status, _, _ = await api.call("PUT", f"/api/v1/pictures/{river['picture_id']}/like",
                                  user=bob)
    assert status == 202
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not (await search(api, bob, q=f"{key} river"))["items"][0]["liked_by_me"]:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)

    # Pages: one at a time, with the signed cursor, in the same order.
    first = await search(api, q=key, limit=1)
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = await search(api, q=key, limit=1, cursor=first["next_cursor"])
    # The key weighs the same in both titles: the newest first.
    assert [first["items"][0]["picture_id"], second["items"][0]["picture_id"]] == \
        [hill["picture_id"], river["picture_id"]]
    assert second["next_cursor"] is None
    status, body, _ = await api.call(
        "GET", f"/api/v1/search?q={key}&cursor={first['next_cursor'][:-2]}xx")
    assert status == 400, body

    # An edit changes what finds it; a delete takes it out.
    status, _, _ = await api.call("PATCH", f"/api/v1/pictures/{hill['picture_id']}",
                                  user=ada, json={"title": f"{key} {new}"})
    assert status == 202
    await until(api, [hill["picture_id"]], q=new)
    await until(api, [], q=other)
    status, _, _ = await api.call("DELETE", f"/api/v1/pictures/{river['picture_id']}",
                                  user=ada)
    assert status == 202
    await until(api, [hill["picture_id"]], q=key)


async def test_people_are_found_by_name(api: Api) -> None:
    key = word()
    cy = await api.register(key.capitalize())  # the name makes the email too: one word
    page = await until(api, [cy.user_id], q=key[:5], type="people")
    schema_validator(openapi_document(), "PeopleFound").validate(page)
    assert page["items"][0] == {"user_id": cy.user_id, "display_name": cy.display_name,
                                "avatar_url": None}


async def test_bad_queries_are_problems(api: Api) -> None:
    for query, field in [
        ({}, "q"), ({"q": ""}, "q"), ({"q": " !? "}, "q"), ({"q": "a" * (QUERY_MAX + 1)}, "q"),
        ({"q": "sky", "type": "things"}, "type"),
        ({"q": "sky", "min_price_cents": "-1"}, "min_price_cents"),
        ({"q": "sky", "max_price_cents": "cheap"}, "max_price_cents"),
        ({"q": "sky", "min_price_cents": "¹"}, "min_price_cents"),  # a digit to isdigit only
        ({"q": "sky", "min_price_cents": "500", "max_price_cents": "100"}, "max_price_cents"),
        ({"q": "sky", "free": "yes"}, "free"),
        ({"q": "sky", "limit": "0"}, "limit"),
    ]:
        status, body, answer = await api.call("GET", f"/api/v1/search?{urlencode(query)}")
        assert status == 422, (query, body)
        assert answer.content_type == "application/problem+json"
        assert field in body["errors"], (query, body)
