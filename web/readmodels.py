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


class PageCache:
    """Feed pages shared by every reader for ``ttl_s`` seconds, loaded once when missing.

    The feed is eventually consistent already (the agents materialize it); serving a page
    up to ``ttl_s`` old lets one query answer every reader of the hot first page, and
    concurrent misses of one page wait for a single load instead of each querying. A page
    past its time is still served (for up to ``STALE_FACTOR`` times ``ttl_s``) while one
    reload runs in the background, so no reader waits for the reload. ``ttl_s = 0`` turns
    caching off.
    """

    MAX_PAGES = 4096
    STALE_FACTOR = 10

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._pages: dict[Any, tuple[float, Any]] = {}
        self._loading: dict[Any, asyncio.Future] = {}

    async def get(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        if self.ttl_s <= 0:
            return await load()
        now = time.monotonic()
        hit = self._pages.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load())
            self._loading[key] = pending
            pending.add_done_callback(lambda done: self._loaded(key, done))
        if hit is not None and hit[0] + self.ttl_s * (self.STALE_FACTOR - 1) > now:
            return hit[1]  # stale but recent: the reload above runs for the next readers
        return await asyncio.shield(pending)  # one reader giving up does not stop the load

    def _loaded(self, key: Any, done: asyncio.Future) -> None:
        self._loading.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        if len(self._pages) >= self.MAX_PAGES:
            now = time.monotonic()
            self._pages = {k: v for k, v in self._pages.items() if v[0] > now}
            if len(self._pages) >= self.MAX_PAGES:
                self._pages.clear()
        self._pages[key] = (time.monotonic() + self.ttl_s, done.result())


class ReadModels:
    """Queries over the materialized collections, shaped as the API's JSON."""

    def __init__(self, db: AsyncIOMotorDatabase, blobs: BlobStore, ledger=None,
                 feed_cache_ttl_s: float = 0.0) -> None:
        self.db = db
        self.blobs = blobs
        self.ledger = ledger
        self.pages = PageCache(feed_cache_ttl_s)

    async def ping(self) -> None:
        await self.db.command("ping")

    async def picture_doc(self, picture_id: str) -> dict | None:
        return await self.db[PICTURES].find_one({"_id": picture_id})

    async def likeable(self, picture_id: str) -> bool:
        """Whether a picture is published, as of at most the page cache's age.

        Asked on every like, the hottest write path: a picture's status changes rarely, and
        a like accepted in the moment after an unpublish is harmless (it counts for nothing
        anyone can see)."""
        async def load() -> bool:
            doc = await self.db[PICTURES].find_one({"_id": picture_id}, {"status": 1})
            return doc is not None and doc["status"] == "published"

        return await self.pages.get(("likeable", picture_id), load)

    async def user(self, user_id: str) -> dict | None:
        return await self.db[USERS].find_one({"_id": user_id})

    async def command_applied(self, command_id: str) -> bool:
        for name in (UPLOADS_PROCESSED, REACTIONS_PROCESSED):
            if await self.db[name].find_one({"_id": command_id}, {"_id": 1}):
                return True
        return False

    async def feed(self, *, limit: int, cursor: str | None, owner: str | None,
                   tag: str | None, viewer: str | None) -> dict:
        """A page of published pictures, newest first; the same for everyone but the
        viewer's own marks (liked, bought), which are added per request."""
        page, _ = await self._cached_page(limit, cursor, owner, tag)
        if viewer is None:
            return page
        return {**page, "items": await self.personal(page["items"], viewer)}

    async def feed_json(self, *, limit: int, cursor: str | None, owner: str | None,
                        tag: str | None, viewer: str | None) -> bytes:
        """:meth:`feed` as the response body; anonymous readers get the cached bytes."""
        if viewer is None:
            return (await self._cached_page(limit, cursor, owner, tag))[1]
        page = await self.feed(limit=limit, cursor=cursor, owner=owner, tag=tag, viewer=viewer)
        return json.dumps(page).encode()

    async def _cached_page(self, limit: int, cursor: str | None, owner: str | None,
                           tag: str | None) -> tuple[dict, bytes]:
        async def load() -> tuple[dict, bytes]:
            page = await self._feed_page(limit, cursor, owner, tag)
            return page, json.dumps(page).encode()

        return await self.pages.get((limit, cursor, owner, tag), load)

    async def _feed_page(self, limit: int, cursor: str | None, owner: str | None,
                         tag: str | None) -> dict:
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
        items = await self.shape(docs, None)
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
        users, counts = await asyncio.gather(users_q.to_list(None), counts_q.to_list(None))
        names = {u["_id"]: u.get("display_name") for u in users}
        like_counts = {c["_id"]: c["like_count"] for c in counts}
        items = [self._picture(d, names, like_counts) for d in docs]
        return await self.personal(items, viewer) if viewer else items

    async def personal(self, items: list[dict], viewer: str) -> list[dict]:
        """Copies of ``items`` marked with whether ``viewer`` likes and has bought each."""
        if not items:
            return items
        ids = [item["picture_id"] for item in items]
        mine = self.db[LIKES].find({"user_id": viewer, "picture_id": {"$in": ids}},
                                   {"picture_id": 1})
        lookups = [mine.to_list(None)]
        if self.ledger is not None:
            lookups.append(self.ledger.licensed(viewer, ids))
        found = await asyncio.gather(*lookups)
        liked = {m["picture_id"] for m in found[0]}
        bought = found[1] if self.ledger is not None else set()
        return [{**item, "liked_by_me": item["picture_id"] in liked,
                 "purchased_by_me": item["picture_id"] in bought} for item in items]

    def _picture(self, d: dict, names: dict, counts: dict) -> dict:
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
            "liked_by_me": False,
            "purchased_by_me": False,
            "created_at": d["created_at"],
        }
        if d["status"] == "rejected":
            picture["reason"] = d.get("reason")
        return picture
