"""Search: pictures by the words of their title, description, tags and owner's name, and
people by name (``GET /api/v1/search``), from the search service's index (web.search)."""

from __future__ import annotations

import json

from aiohttp import web

from picasso.numbers import whole_number
from topics.pictures import PRICE_MAX, TAG_MAX
from topics.search import QUERY_MAX, SEARCH_TYPES
from web.problems import invalid
from web.routes.people import avatar_urls
from web.routes.pictures import page_limit
from web.search import query_words, search_people, search_pictures
from web.services import optional_identity, services

routes = web.RouteTableDef()


def _price(request: web.Request, name: str, errors: dict[str, str]) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    cents = whole_number(raw)
    if cents is None or cents > PRICE_MAX:
        errors[name] = f"a whole number of cents from 0 to {PRICE_MAX}"
        return None
    return cents


@routes.get("/api/v1/search")
async def search(request: web.Request) -> web.Response:
    viewer = await optional_identity(request)
    s = services(request)
    errors: dict[str, str] = {}
    q = request.query.get("q", "")
    if len(q) > QUERY_MAX:
        errors["q"] = f"at most {QUERY_MAX} characters"
    elif not query_words(q):
        errors["q"] = "at least one word (letters or digits)"
    kind = request.query.get("type", "pictures")
    if kind not in SEARCH_TYPES:
        errors["type"] = f"one of {', '.join(SEARCH_TYPES)}"
    tag = (request.query.get("tag") or "").lower() or None
    if tag is not None and len(tag) > TAG_MAX:
        errors["tag"] = f"at most {TAG_MAX} characters"
    low = _price(request, "min_price_cents", errors)
    high = _price(request, "max_price_cents", errors)
    free = request.query.get("free", "false")
    if free not in ("true", "false"):
        errors["free"] = "true or false"
    if low is not None and high is not None and low > high:
        errors["max_price_cents"] = "at least min_price_cents"
    limit = page_limit(request)
    if errors:
        raise invalid(errors)
    cursor = request.query.get("cursor") or None
    if kind == "people":
        users, next_cursor = await search_people(s.read, q, limit=limit, cursor=cursor)
        avatars = await avatar_urls(s, users)
        body = json.dumps({
            "items": [{"user_id": u["_id"], "display_name": u.get("display_name"),
                       "avatar_url": avatars.get(u["_id"])} for u in users],
            "next_cursor": next_cursor}).encode()
    else:
        if free == "true":
            high = 0
        body = await search_pictures(s.read, q, tag=tag, min_price=low, max_price=high,
                                     limit=limit, cursor=cursor,
                                     viewer=viewer.user_id if viewer else None)
    return web.Response(body=body, content_type="application/json")
