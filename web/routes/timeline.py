"""The home timeline: the newest pictures of the people the caller follows.

Read from the timeline service's read models (``timelines``: entries fanned out or backfilled
per reader; ``timeline_celebrities``: followees with too many followers to fan out;
``timeline_recent``: each such account's newest pictures, merged in here) and hydrated from
the pictures read model the feed serves.

Every query is an index range or a lookup by id: the reader's entries after the cursor
(``page_after``), the reader's marks, one ``timeline_recent`` document per marked account.
A page (its pictures, shaped as the feed's without the reader's own marks) is kept in the
edge's page cache for ``FEED_CACHE_TTL_S`` like a feed page, keyed by reader and cursor;
whether the reader likes or bought each picture is added on every request.
"""

from __future__ import annotations

import json

from aiohttp import web

from picasso.mongo import PICTURES, TIMELINE_CELEBRITIES, TIMELINE_RECENT, TIMELINES
from web.readmodels import ReadModels, decode_cursor, encode_cursor, page_after
from web.routes.pictures import page_limit
from web.services import identity, services

routes = web.RouteTableDef()
# The most followed accounts over the fan-out threshold one reader's page merges in.
MERGED_MAX = 1000


async def _newest(read: ReadModels, reader: str, limit: int,
                  position: tuple[str, str] | None) -> list[tuple[str, str]]:
    """The (created_at, picture_id) of the reader's next ``limit`` timeline pictures."""
    db = read.db
    entries = await page_after(db[TIMELINES], {"reader_id": reader}, position, limit,
                               id_field="picture_id",
                               projection={"_id": 0, "picture_id": 1, "created_at": 1})
    found = {(e["created_at"], e["picture_id"]) for e in entries}
    marks = await db[TIMELINE_CELEBRITIES].find(
        {"reader_id": reader}, {"_id": 0, "celebrity_id": 1}).to_list(MERGED_MAX)
    if marks:
        accounts = db[TIMELINE_RECENT].find(
            {"_id": {"$in": [m["celebrity_id"] for m in marks]}})
        async for account in accounts:
            found.update((p["created_at"], p["picture_id"]) for p in account["pictures"]
                         if position is None or (p["created_at"], p["picture_id"]) < position)
    return sorted(found, reverse=True)[:limit]


async def _page(read: ReadModels, reader: str, limit: int,
                position: tuple[str, str] | None) -> dict:
    """One page of the timeline, shaped as the feed's, without the reader's own marks."""
    newest = await _newest(read, reader, limit + 1, position)
    page = newest[:limit]
    ids = [pid for _, pid in page]
    docs = {d["_id"]: d for d in await read.db[PICTURES].find(
        {"_id": {"$in": ids}, "status": "published"}).to_list(None)}
    items = await read.shape([docs[pid] for pid in ids if pid in docs], None)
    more = len(newest) > limit
    return {"items": items,
            "next_cursor": encode_cursor(*page[-1], read.signing_key) if more else None}


async def home_timeline(read: ReadModels, reader: str, limit: int,
                        cursor: str | None) -> dict:
    """One page of ``reader``'s home timeline, newest first, shaped like the feed's."""
    position = decode_cursor(cursor, read.signing_key) if cursor else None
    page = await read.pages.get(("timeline", reader, limit, position),
                                lambda: _page(read, reader, limit, position),
                                lambda page: 2 * len(json.dumps(page)))
    return {**page, "items": await read.personal(page["items"], reader)}


@routes.get("/api/v1/me/timeline")
async def timeline(request: web.Request) -> web.Response:
    who = await identity(request)
    page = await home_timeline(services(request).read, who.user_id, page_limit(request),
                               request.query.get("cursor") or None)
    return web.Response(body=json.dumps(page).encode(), content_type="application/json")
