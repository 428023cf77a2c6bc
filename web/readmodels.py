"""The read models the edge serves, as the agents materialize them in MongoDB.

The edge only reads these collections; each has one writer (see ``picasso.mongo``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any, Awaitable, Callable

from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.blobs import BlobStore
from picasso.mongo import (
    LIKE_COUNTS,
    LIKES,
    PICTURES,
    REACTIONS_PROCESSED,
    UPLOADS_PROCESSED,
    USERS,
)
from web.problems import Problem

MAX_WAIT_MS = 10_000


def encode_cursor(created_at: str, picture_id: str) -> str:
    raw = json.dumps([created_at, picture_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, picture_id = json.loads(base64.urlsafe_b64decode(padded))
        if isinstance(created_at, str) and isinstance(picture_id, str):
            return created_at, picture_id
    except (ValueError, TypeError):
        pass
    raise Problem(400, "the cursor is not one this API gave out")


async def wait_for(check: Callable[[], Awaitable[Any]], wait_ms: int) -> Any:
    """Call ``check`` until it returns something truthy or ``wait_ms`` runs out.

    Returns the last result either way (long-poll on the materialized view).
    """
    deadline = time.monotonic() + wait_ms / 1000
    delay = 0.01
    while True:
        result = await check()
        if result or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.1)


class ReadModels:
    """Queries over the materialized collections, shaped as the API's JSON."""

    def __init__(self, db: AsyncIOMotorDatabase, blobs: BlobStore, ledger=None) -> None:
        self.db = db
        self.blobs = blobs
        self.ledger = ledger

    async def ping(self) -> None:
        await self.db.command("ping")

    async def picture_doc(self, picture_id: str) -> dict | None:
        return await self.db[PICTURES].find_one({"_id": picture_id})

    async def user(self, user_id: str) -> dict | None:
        return await self.db[USERS].find_one({"_id": user_id})

    async def command_applied(self, command_id: str) -> bool:
        for name in (UPLOADS_PROCESSED, REACTIONS_PROCESSED):
            if await self.db[name].find_one({"_id": command_id}, {"_id": 1}):
                return True
        return False

    async def feed(self, *, limit: int, cursor: str | None, owner: str | None,
                   tag: str | None, viewer: str | None) -> dict:
        query: dict[str, Any] = {"status": "published"}
        if owner:
            query["owner_id"] = owner
        if tag:
            query["tags"] = tag
        if cursor:
            created_at, picture_id = decode_cursor(cursor)
            query["$or"] = [
                {"created_at": {"$lt": created_at}},
                {"created_at": created_at, "_id": {"$lt": picture_id}},
            ]
        docs = await self.db[PICTURES].find(query).sort(
            [("created_at", -1), ("_id", -1)]
        ).limit(limit + 1).to_list(limit + 1)
        more = len(docs) > limit
        docs = docs[:limit]
        items = await self.shape(docs, viewer)
        next_cursor = encode_cursor(docs[-1]["created_at"], docs[-1]["_id"]) if more else None
        return {"items": items, "next_cursor": next_cursor}

    async def shape(self, docs: list[dict], viewer: str | None) -> list[dict]:
        """The API's picture objects for ``docs``, joined with owners, likes and the viewer."""
        if not docs:
            return []
        ids = [d["_id"] for d in docs]
        owner_ids = list({d["owner_id"] for d in docs})
        users_q = self.db[USERS].find({"_id": {"$in": owner_ids}}, {"display_name": 1})
        counts_q = self.db[LIKE_COUNTS].find({"_id": {"$in": ids}})
        lookups = [users_q.to_list(None), counts_q.to_list(None)]
        if viewer:
            mine = self.db[LIKES].find(
                {"user_id": viewer, "picture_id": {"$in": ids}}, {"picture_id": 1}
            )
            lookups.append(mine.to_list(None))
        if viewer and self.ledger is not None:
            lookups.append(self.ledger.licensed(viewer, ids))
        found = await asyncio.gather(*lookups)
        names = {u["_id"]: u.get("display_name") for u in found[0]}
        counts = {c["_id"]: c["like_count"] for c in found[1]}
        liked = {m["picture_id"] for m in found[2]} if viewer else set()
        bought = found[3] if viewer and self.ledger is not None else set()
        return [self._picture(d, names, counts, liked, bought) for d in docs]

    def _picture(self, d: dict, names: dict, counts: dict, liked: set,
                 bought: set = frozenset()) -> dict:
        published = d["status"] == "published" or d.get("thumbnail_key")
        picture = {
            "picture_id": d["_id"],
            "owner": {"user_id": d["owner_id"], "display_name": names.get(d["owner_id"])},
            "title": d["title"],
            "description": d.get("description", ""),
            "price_cents": d["price_cents"],
            "currency": d["currency"],
            "tags": d.get("tags", []),
            "status": d["status"],
            "width": d.get("width"),
            "height": d.get("height"),
            "thumbnail_url": self.blobs.public_url(d["thumbnail_key"]) if published else None,
            "preview_url": self.blobs.public_url(d["preview_key"]) if published else None,
            "like_count": counts.get(d["_id"], 0),
            "liked_by_me": d["_id"] in liked,
            "purchased_by_me": d["_id"] in bought,
            "created_at": d["created_at"],
        }
        if d["status"] == "rejected":
            picture["reason"] = d.get("reason")
        return picture
