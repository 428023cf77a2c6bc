"""The home timeline: the newest pictures of the people the caller follows.

Read from the timeline service's read models (``timelines``: entries fanned out or backfilled
per reader; ``timeline_celebrities``: followees with too many followers to fan out, whose
pictures are merged in here) and hydrated from the pictures read model the feed serves.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from picasso.mongo import PICTURES, TIMELINE_CELEBRITIES, TIMELINES
from web.readmodels import ReadModels, decode_cursor, encode_cursor
from web.routes.pictures import page_limit
from web.services import identity, services

routes = web.RouteTableDef()
# The most followed accounts over the fan-out threshold one reader's page merges in.
MERGED_MAX = 1000
_NEWEST = [("created_at", -1)]


def _older(position: tuple[str, str] | None, id_field: str) -> dict[str, Any]:
    """The query part for what comes after ``position`` in newest-first order."""
    if position is None:
        return {}
    created_at, picture_id = position
    return {"$or": [{"created_at": {"$lt": created_at}},
                    {"created_at": created_at, id_field: {"$lt": picture_id}}]}


async def home_timeline(read: ReadModels, reader: str, limit: int,
                        cursor: str | None) -> dict:
    """One page of ``reader``'s home timeline, newest first, shaped like the feed's."""
    position = decode_cursor(cursor, read.signing_key) if cursor else None
    db = read.db
    marks = await db[TIMELINE_CELEBRITIES].find(
        {"reader_id": reader}, {"celebrity_id": 1}).to_list(MERGED_MAX)
    entries = await db[TIMELINES].find(
        {"reader_id": reader, **_older(position, "picture_id")},
        {"picture_id": 1, "created_at": 1},
    ).sort([*_NEWEST, ("picture_id", -1)]).limit(limit + 1).to_list(limit + 1)
    found = {e["picture_id"]: e["created_at"] for e in entries}
    if marks:
        merged = await db[PICTURES].find(
            {"status": "published", "owner_id": {"$in": [m["celebrity_id"] for m in marks]},
             **_older(position, "_id")}, {"created_at": 1},
        ).sort([*_NEWEST, ("_id", -1)]).limit(limit + 1).to_list(limit + 1)
        found.update((p["_id"], p["created_at"]) for p in merged)
    newest = sorted(((at, pid) for pid, at in found.items()), reverse=True)[:limit + 1]
    page = newest[:limit]
    ids = [pid for _, pid in page]
    docs = {d["_id"]: d for d in await db[PICTURES].find(
        {"_id": {"$in": ids}, "status": "published"}).to_list(None)}
    items = await read.shape([docs[pid] for pid in ids if pid in docs], reader)
    more = len(newest) > limit
    return {"items": items,
            "next_cursor": encode_cursor(*page[-1], read.signing_key) if more else None}


@routes.get("/api/v1/me/timeline")
async def timeline(request: web.Request) -> web.Response:
    who = await identity(request)
    page = await home_timeline(services(request).read, who.user_id, page_limit(request),
                               request.query.get("cursor") or None)
    return web.Response(body=json.dumps(page).encode(), content_type="application/json")
