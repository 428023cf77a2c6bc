"""Trending pictures (``GET /api/v1/pictures?sort=trending``), served like the feed.

Read from the trending service's read model (``trending``: one document per window with
its ranked picture ids), hydrated from the pictures read model (published pictures only)
and shaped by :class:`web.readmodels.ReadModels` exactly as the feed is. Pages are cached
for anonymous readers like feed pages.

A cursor names the last picture's rank (a number that stays the same while the picture's
activity does, see :mod:`agents.trending.scoring`) and id, signed like the feed's: the next
page goes on after that place in the ranking as it is then.
"""

from __future__ import annotations

import json
from typing import Any

from picasso.mongo import PICTURES, TRENDING
from web.problems import Problem
from web.readmodels import ReadModels, decode_cursor, encode_cursor

_CURSOR = "trending"
# Ranked pictures looked up at once.
_SLICE = 50


def _cursor(window: str, item: dict, key: str) -> str:
    return encode_cursor(f"{_CURSOR}:{window}:{item['rank']!r}", item["picture_id"], key)


def _position(cursor: str, window: str, key: str) -> tuple[float, str]:
    place, picture_id = decode_cursor(cursor, key)
    kind, _, rest = place.partition(":")
    named, _, rank = rest.partition(":")
    if kind != _CURSOR or named != window:
        raise Problem(400, "the cursor is not one of this window's trending pages")
    return float(rank), picture_id


async def _page(read: ReadModels, window: str, limit: int,
                position: tuple[float, str] | None, owner: str | None,
                tag: str | None) -> dict:
    ranking = await read.db[TRENDING].find_one({"_id": window}, {"items": 1})
    ranked = ranking["items"] if ranking else []
    if position is not None:
        rank, picture_id = position
        ranked = [r for r in ranked
                  if r["rank"] < rank or (r["rank"] == rank and r["picture_id"] > picture_id)]
    query: dict[str, Any] = {"status": "published"}
    if owner:
        query["owner_id"] = owner
    if tag:
        query["tags"] = tag
    # The ranking in slices, until a page and one more are found: a short $in list is far
    # cheaper than a long one on the local MongoDB-compatible server, and without owner or
    # tag the first slice nearly always holds the page.
    shown: dict[str, dict] = {}
    slice_size = max(2 * (limit + 1), _SLICE)
    for start in range(0, len(ranked), slice_size):
        ids = [r["picture_id"] for r in ranked[start:start + slice_size]]
        shown.update((doc["_id"], doc) for doc in await read.db[PICTURES].find(
            {"_id": {"$in": ids}, **query}).to_list(None))
        if len(shown) > limit:
            break
    ranked = [r for r in ranked if r["picture_id"] in shown][:limit + 1]
    page = ranked[:limit]
    items = await read.shape([shown[r["picture_id"]] for r in page], None)
    more = len(ranked) > limit
    return {"items": items,
            "next_cursor": _cursor(window, page[-1], read.signing_key) if more else None}


async def trending_json(read: ReadModels, *, window: str, limit: int, cursor: str | None,
                        owner: str | None, tag: str | None, viewer: str | None) -> bytes:
    """A page of the pictures trending in ``window``, highest first, as the response body:
    the feed's shape, with the viewer's own marks when signed in."""
    position = _position(cursor, window, read.signing_key) if cursor else None

    async def load() -> tuple[dict, bytes]:
        page = await _page(read, window, limit, position, owner, tag)
        return page, json.dumps(page).encode()

    page, body = await read.pages.get((_CURSOR, window, limit, position, owner, tag), load,
                                      lambda loaded: 2 * len(loaded[1]))
    if viewer is None:
        return body
    return json.dumps({**page, "items": await read.personal(page["items"], viewer)}).encode()
