"""The read models the edge serves, as the agents materialize them in MongoDB.

The edge only reads these collections; each has one writer (see ``picasso.mongo``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Awaitable, Callable, Hashable

import structlog
from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.blobs import BlobStore
from picasso.mongo import (
    COMMAND_RESULTS,
    COMMENT_COUNTS,
    COMMENTS,
    LIKE_COUNTS,
    LIKED,
    LIKES,
    PICTURES,
    PURCHASES,
    USERS,
)
from topics.envelope import utc_stamp
from web.metrics import LONG_POLL_CHECKS, LONG_POLL_WAITERS
from web.problems import Problem

log = structlog.get_logger()

MAX_WAIT_MS = 10_000
# How often a long poll asks the store again once its first quick retries found nothing.
POLL_INTERVAL_S = 0.1
# Bytes of the HMAC kept in a cursor: 128 bits, beyond guessing, and a short cursor.
_CURSOR_MAC_BYTES = 16
# What a page cache entry costs beyond its value and key: dict slot, tuple, floats (roughly).
_ENTRY_OVERHEAD = 200


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cursor_mac(payload: str, key: str) -> bytes:
    return hmac.new(key.encode(), f"cursor\n{payload}".encode(),
                    hashlib.sha256).digest()[:_CURSOR_MAC_BYTES]


def encode_cursor(created_at: str, picture_id: str, key: str) -> str:
    """An opaque cursor to the page after (``created_at``, ``picture_id``), signed with
    ``key`` so that the edge serves only positions it handed out."""
    payload = _b64(json.dumps([created_at, picture_id], separators=(",", ":")).encode())
    return f"{payload}.{_b64(_cursor_mac(payload, key))}"


def decode_cursor(cursor: str, key: str) -> tuple[str, str]:
    """The position a cursor from :func:`encode_cursor` names, or a 400 problem for one this
    edge did not sign (forged, altered, or garbage)."""
    try:
        payload, _, mac = cursor.partition(".")
        if hmac.compare_digest(_unb64(mac), _cursor_mac(payload, key)):
            created_at, picture_id = json.loads(_unb64(payload))
            if isinstance(created_at, str) and isinstance(picture_id, str):
                return created_at, picture_id
    except (ValueError, TypeError):
        pass
    raise Problem(400, "the cursor is not one this API gave out")


# The widths of the time windows a newest-first page is looked for in, each from the cursor's
# time (or now) back, before the whole rest is read: 1 hour, 8, 64 (2.7 days), 512 (21 days),
# 4,096 (171 days). See :func:`page_after`.
WINDOWS_S = (3600, 8 * 3600, 64 * 3600, 512 * 3600, 4096 * 3600)


async def page_after(collection, query: dict[str, Any], position: tuple[str, str] | None,
                     limit: int, *, id_field: str = "_id", time_field: str = "created_at",
                     newest_first: bool = True, projection: dict | None = None,
                     since: str | None = None) -> list[dict]:
    """Up to ``limit`` documents matching ``query`` that come after ``position`` (a
    ``(time, id)`` cursor) in (``time_field``, ``id_field``) order, newest first or
    oldest first.

    Shaped for the local MongoDB-compatible server, which reads every index entry in a
    query's range before it sorts and limits (2,500 timeline entries: 80 ms for 21 of them;
    the same 21 within a one-hour range: 3.5 ms; an empty range: 1 ms):

    - two queries rather than one ``$or`` of "strictly older" and "as old, smaller id",
      which it answers by examining the whole collection per branch (1.5 s against 0.1 s):
      the ties (the same time) first, then the rest;
    - newest first, the rest is looked for in growing windows back from the cursor's time
      (or now), ``WINDOWS_S``, until one holds enough, then without a bound: a page of a
      busy timeline or feed reads about a page's worth, a quiet one a few empty ranges more.
      Documents outside a window are older than all inside, so a window that holds enough
      holds the right ones. ``since`` (newest first only), a time the caller expects the
      page to reach back to (the oldest document of the same page read last time), is
      tried as the first window (from a second before it): a page reloaded while nothing
      older than it changed is one range about the size of the page, however old the
      newest document is.
    """
    order = -1 if newest_first else 1
    sort = [(time_field, order), (id_field, order)]
    beyond = "$lt" if newest_first else "$gt"
    found: list[dict] = []
    if position is not None:
        at, last_id = position
        found = await collection.find(
            {**query, time_field: at, id_field: {beyond: last_id}}, projection,
        ).sort(sort).limit(limit).to_list(limit)
    rest = limit - len(found)
    if rest <= 0:
        return found
    bound = {beyond: position[0]} if position is not None else {}
    if newest_first and since is not None:
        # A second of margin below the hint: the local server answers ``$gte`` on a key
        # that is descending in the index as ``$gt``, which would leave out the hint's own
        # document, find the page one short and read every window after all.
        moment = _moment(since)
        lower = utc_stamp(moment - timedelta(seconds=1)) if moment is not None else since
        window = await collection.find(
            {**query, time_field: {**bound, "$gte": lower}}, projection,
        ).sort(sort).limit(rest).to_list(rest)
        if len(window) >= rest:
            return found + window
    if newest_first:
        anchor = _moment(position[0]) if position is not None else datetime.now(UTC)
        for width in WINDOWS_S if anchor is not None else ():
            since = utc_stamp(anchor - timedelta(seconds=width))
            window = await collection.find(
                {**query, time_field: {**bound, "$gte": since}}, projection,
            ).sort(sort).limit(rest).to_list(rest)
            if len(window) >= rest:
                return found + window
    further = await collection.find(
        {**query, time_field: bound} if bound else query, projection,
    ).sort(sort).limit(rest).to_list(rest)
    return found + further


def _moment(stamp: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class TooManyWaiters(Exception):
    """The edge holds as many long polls as it may; the caller should come back later."""


class _Poll:
    """One key's poll loop and the waiters it answers."""

    def __init__(self) -> None:
        self.waiters = 0
        self.deadline = 0.0
        self.settled: asyncio.Future = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task | None = None  # held: the loop runs only while referenced


class LongPolls:
    """Long polls on the read models, one store query loop per key shared by all waiters.

    A client waiting for a picture to be published (``wait_ms``) used to query the store
    every 100 ms on its own, so a few hundred waiting clients were thousands of queries a
    second. Now the first waiter for a key starts a loop that checks until the answer is
    there or the last waiter's time is up, and every waiter gets that one answer. At most
    ``max_waiters`` requests wait at once per edge; past that, :class:`TooManyWaiters`.
    """

    def __init__(self, max_waiters: int) -> None:
        self.max_waiters = max_waiters
        self.waiting = 0
        self.checks = 0  # store checks made, for the metrics and the benchmark
        self._polls: dict[Hashable, _Poll] = {}

    async def wait(self, key: Hashable, check: Callable[[], Awaitable[Any]],
                   wait_ms: int) -> Any:
        """What ``check`` returns once it is truthy, or None if ``wait_ms`` runs out first.

        ``check`` must answer the same for every caller of one ``key``.
        """
        if wait_ms <= 0:
            return None
        if self.waiting >= self.max_waiters:
            raise TooManyWaiters()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_ms / 1000
        poll = self._polls.get(key)
        if poll is None:
            poll = self._polls[key] = _Poll()
            poll.task = asyncio.ensure_future(self._run(key, poll, check))
        poll.deadline = max(poll.deadline, deadline)
        poll.waiters += 1
        self.waiting += 1
        LONG_POLL_WAITERS.inc()
        try:
            return await asyncio.wait_for(asyncio.shield(poll.settled),
                                          max(0.0, deadline - loop.time()))
        except TimeoutError:
            return None
        finally:
            poll.waiters -= 1
            self.waiting -= 1
            LONG_POLL_WAITERS.dec()

    async def _run(self, key: Hashable, poll: _Poll, check: Callable[[], Awaitable[Any]]) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.01
        try:
            while poll.waiters > 0 and loop.time() < poll.deadline:
                self.checks += 1
                LONG_POLL_CHECKS.inc()
                result = await check()
                if result:
                    poll.settled.set_result(result)
                    return
                await asyncio.sleep(min(delay, max(0.0, poll.deadline - loop.time())))
                delay = min(delay * 1.5, POLL_INTERVAL_S)
        except Exception as exc:  # every waiter sees the failure, as it would its own query's
            poll.settled.set_exception(exc)
            poll.settled.exception()  # retrieved: no warning if every waiter gave up already
        finally:
            # Synchronous from the loop's last decision on: a waiter cannot join in between.
            del self._polls[key]
            if not poll.settled.done():
                poll.settled.cancel()


class PageCache:
    """Feed pages shared by every reader for ``ttl_s`` seconds, loaded once when missing.

    The feed is eventually consistent already (the agents materialize it); serving a page
    up to ``ttl_s`` old lets one query answer every reader of the hot first page, and
    concurrent misses of one page wait for a single load instead of each querying. A page
    past its time is still served (for up to ``STALE_FACTOR`` times ``ttl_s``) while one
    reload runs in the background, so no reader waits for the reload. ``ttl_s = 0`` turns
    caching off.

    Callers choose the keys (a tag, an owner, a cursor), so the cache holds at most
    ``max_bytes`` of entries as :meth:`get`'s ``size`` weighs them; past that, the entries
    stored longest ago go first.
    """

    STALE_FACTOR = 10

    def __init__(self, ttl_s: float, max_bytes: int) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.bytes = 0
        # Insertion order is the eviction order: a reloaded page is stored anew, at the end.
        self._pages: dict[Any, tuple[float, Any, int]] = {}
        self._loading: dict[Any, asyncio.Future] = {}

    async def get(self, key: Any, load: Callable[[], Awaitable[Any]],
                  size: Callable[[Any], int] = lambda _: 0) -> Any:
        """The value for ``key``, from the cache or from one ``load``; ``size`` weighs a
        loaded value in bytes (the key's own text is added to it)."""
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
            pending.add_done_callback(lambda done: self._loaded(key, done, size))
        if hit is not None and hit[0] + self.ttl_s * (self.STALE_FACTOR - 1) > now:
            return hit[1]  # stale but recent: the reload above runs for the next readers
        return await asyncio.shield(pending)  # one reader giving up does not stop the load

    def fresh(self, key: Any) -> Any:
        """The value kept for ``key`` if it is still within ``ttl_s``, else None; no load.
        What :meth:`get` answers first, without a coroutine: the hot pages' path."""
        hit = self._pages.get(key)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def peek(self, key: Any) -> Any:
        """The value kept for ``key``, however old, or None; no load."""
        hit = self._pages.get(key)
        return hit[1] if hit is not None else None

    def _loaded(self, key: Any, done: asyncio.Future, size: Callable[[Any], int]) -> None:
        self._loading.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        value = done.result()
        weight = size(value) + len(repr(key)) + _ENTRY_OVERHEAD
        self._forget(key)
        if weight > self.max_bytes:
            return  # served to its readers, but never kept
        while self.bytes + weight > self.max_bytes:
            self._forget(next(iter(self._pages)))
        self._pages[key] = (time.monotonic() + self.ttl_s, value, weight)
        self.bytes += weight

    def _forget(self, key: Any) -> None:
        entry = self._pages.pop(key, None)
        if entry is not None:
            self.bytes -= entry[2]


@dataclass(eq=False)
class Marks:
    """Which pictures of a page one reader likes and has bought, and the page's answer for
    them (``body``, made from the shared page ``source``) once made."""

    liked: frozenset[str]
    bought: frozenset[str]
    source: bytes | None = None
    body: bytes = b""


class ReaderMarks:
    """Each reader's marks on the pages they read, kept up to ``ttl_s`` and forgotten at
    once when this edge sees one of the reader's likes, unlikes or purchases applied.

    The edge's live consumer (web.live) reads every reactions and purchases event; the
    services write the likes and purchases read models before they emit the event, so a
    reader's marks loaded after :meth:`forget` include that change. A load that began
    before a ``forget`` may have read the older state: its result goes into the reader's
    entries as they were when it began, which ``forget`` dropped, so it is never served
    again. Marks past ``ttl_s`` are still served, for up to ``ttl_s`` more, while one
    reload runs in the background: readers whose marks were loaded together do not all
    wait for their reloads together. So ``2 * ttl_s`` bounds how long a change this edge
    did not see (its consumer away) can go unnoticed; 0 turns the cache off. At most
    ``max_bytes`` (the answers kept, as :meth:`weigh` counts them), the readers read
    longest ago dropped first.
    """

    PAGES_PER_READER = 8

    def __init__(self, ttl_s: float, max_bytes: int) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.bytes = 0
        self._readers: OrderedDict[str, dict[Any, tuple[float, Marks]]] = OrderedDict()
        self._weights: dict[str, int] = {}
        self._reloads: dict[tuple[str, Hashable], asyncio.Future] = {}

    def forget(self, reader: str) -> None:
        """The reader's likes or purchases changed: load their marks again."""
        if self._readers.pop(reader, None) is not None:
            self.bytes -= self._weights.pop(reader, 0)

    async def get(self, reader: str, key: Hashable,
                  load: Callable[[], Awaitable[Marks]]) -> Marks:
        """The reader's marks for ``key`` (the page's picture ids), kept or loaded."""
        if self.ttl_s <= 0:
            return await load()
        now = time.monotonic()
        entries = self._readers.get(reader)
        if entries is None:
            entries = self._readers[reader] = {}
        else:
            self._readers.move_to_end(reader)
            hit = entries.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
            if hit is not None and hit[0] + self.ttl_s > now:
                self._reload(reader, key, entries, load)
                return hit[1]
        marks = await load()
        self._keep(entries, key, marks, now)
        return marks

    def _reload(self, reader: str, key: Hashable, entries: dict,
                load: Callable[[], Awaitable[Marks]]) -> None:
        """One background reload of ``reader``'s marks for ``key`` at a time."""
        flight = (reader, key)
        if flight in self._reloads:
            return

        async def reload() -> None:
            began = time.monotonic()
            try:
                self._keep(entries, key, await load(), began)
            except Exception as exc:  # noqa: BLE001 - the next read past ttl_s loads again
                log.warning("marks_reload_failed", error=repr(exc))
            finally:
                del self._reloads[flight]

        self._reloads[flight] = asyncio.ensure_future(reload())

    def _keep(self, entries: dict, key: Hashable, marks: Marks, loaded: float) -> None:
        if len(entries) >= self.PAGES_PER_READER and key not in entries:
            entries.clear()  # a reader paging far: keep the latest pages
        entries[key] = (loaded + self.ttl_s, marks)

    def weigh(self, reader: str) -> None:
        """Count again what is kept for ``reader`` (an answer was made for them), and drop
        the readers read longest ago while the cache holds more than it may."""
        entries = self._readers.get(reader)
        if entries is None:
            return  # forgotten meanwhile: nothing of it is kept
        weight = sum(len(marks.body) + _ENTRY_OVERHEAD for _, marks in entries.values())
        self.bytes += weight - self._weights.get(reader, 0)
        self._weights[reader] = weight
        while self.bytes > self.max_bytes and self._readers:
            self.forget(next(iter(self._readers)))


class ReadModels:
    """Queries over the materialized collections, shaped as the API's JSON."""

    def __init__(self, db: AsyncIOMotorDatabase, blobs: BlobStore, *,
                 signing_key: str = "", feed_cache_ttl_s: float = 0.0,
                 feed_cache_max_bytes: int = 0, max_waiters: int = 0,
                 marks_cache_ttl_s: float = 0.0, marks_cache_max_bytes: int = 0) -> None:
        self.db = db
        self.blobs = blobs
        self.signing_key = signing_key
        self.pages = PageCache(feed_cache_ttl_s, feed_cache_max_bytes)
        self.marks = ReaderMarks(marks_cache_ttl_s, marks_cache_max_bytes)
        self.polls = LongPolls(max_waiters)

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
        """Whether the service the command went to has applied (or refused) it, by the
        public command-results read model every service writes (``picasso.runtime``)."""
        return await self.db[COMMAND_RESULTS].find_one({"_id": command_id}, {"_id": 1}) \
            is not None

    # -- comments: the read models the comments service keeps (agents.comments)

    async def comment(self, comment_id: str) -> dict | None:
        """A comment that is not deleted."""
        return await self.db[COMMENTS].find_one(
            {"_id": comment_id, "deleted_by": {"$exists": False}})

    async def comments(self, picture_id: str, *, limit: int, cursor: str | None) -> dict:
        """A page of a picture's comments, oldest first, each with its author's name."""
        query: dict[str, Any] = {"picture_id": picture_id, "deleted_by": {"$exists": False}}
        position = decode_cursor(cursor, self.signing_key) if cursor else None
        docs = await page_after(self.db[COMMENTS], query, position, limit + 1,
                                newest_first=False)
        docs, next_cursor = self._page(docs, limit)
        authors = self.db[USERS].find({"_id": {"$in": list({d["user_id"] for d in docs})}},
                                      {"display_name": 1})
        names = {u["_id"]: u.get("display_name") async for u in authors}
        items = [{"comment_id": d["_id"], "picture_id": d["picture_id"],
                  "author": {"user_id": d["user_id"], "display_name": names.get(d["user_id"])},
                  "text": d["text"], "created_at": d["created_at"]} for d in docs]
        return {"items": items, "next_cursor": next_cursor}

    # -- purchases: the read models the purchases service publishes (agents.purchases.views)

    async def purchase(self, purchase_id: str, buyer_id: str | None = None) -> dict | None:
        """A purchase as the purchases service last published it; with ``buyer_id``, only
        that buyer's."""
        query = {"_id": purchase_id} | ({"buyer_id": buyer_id} if buyer_id else {})
        return await self.db[PURCHASES].find_one(query)

    async def purchase_by_intent(self, payment_intent_id: str) -> dict | None:
        return await self.db[PURCHASES].find_one({"payment_intent_id": payment_intent_id})

    async def purchases_of(self, buyer_id: str, limit: int) -> list[dict]:
        """The buyer's purchases, newest first."""
        found = self.db[PURCHASES].find({"buyer_id": buyer_id})
        return await found.sort([("created_at", -1), ("_id", -1)]).to_list(limit)

    async def licensed(self, buyer_id: str, picture_ids: list[str]) -> set[str]:
        """Which of ``picture_ids`` the buyer holds a licence for: a completed purchase."""
        if not picture_ids:
            return set()
        found = self.db[PURCHASES].find(
            {"buyer_id": buyer_id, "picture_id": {"$in": picture_ids}, "status": "completed"},
            {"picture_id": 1})
        return {doc["picture_id"] async for doc in found}

    async def sales_of(self, seller_id: str, limit: int) -> tuple[list[dict], list[dict]]:
        """The seller's completed sales (newest first, at most ``limit``) and the totals of
        all of them per currency; a currency the seller sold in keeps its (zero) total when
        its sales were refunded, as the ledger's totals do."""
        items = await self.db[PURCHASES].find(
            {"seller_id": seller_id, "status": "completed"}).sort(
            [("completed_at", -1), ("_id", -1)]).to_list(limit)
        totals: dict[str, list[int]] = {}
        sold = self.db[PURCHASES].find(
            {"seller_id": seller_id, "status": {"$in": ["completed", "refunded"]}},
            {"amount_cents": 1, "currency": 1, "status": 1})
        async for doc in sold:
            total = totals.setdefault(doc["currency"], [0, 0])
            if doc["status"] == "completed":
                total[0] += 1
                total[1] += doc["amount_cents"]
        return items, [{"currency": currency, "sales_count": count, "gross_cents": gross}
                       for currency, (count, gross) in sorted(totals.items())]

    async def feed(self, *, limit: int, cursor: str | None, owner: str | None,
                   tag: str | None, viewer: str | None) -> dict:
        """A page of published pictures, newest first; the same for everyone but the
        viewer's own marks (liked, bought), which are added per request."""
        page, *_ = await self._cached_page(self._page_key(limit, cursor, owner, tag))
        if viewer is None:
            return page
        return {**page, "items": await self.personal(page["items"], viewer)}

    async def feed_json(self, *, limit: int, cursor: str | None, owner: str | None,
                        tag: str | None, viewer: str | None) -> bytes:
        """:meth:`feed` as the response body; anonymous readers get the cached bytes, a
        signed-in reader the answer made for them from the same page with their kept marks
        (``ReaderMarks``), made again when the shared page changed (a reload that found the
        same page, every ``FEED_CACHE_TTL_S``, is compared, not dumped again)."""
        key = self._page_key(limit, cursor, owner, tag)
        # The hot pages are answered without a coroutine.
        page, raw, _, ids = self.pages.fresh(key) or await self._cached_page(key)
        if viewer is None:
            return raw
        marks = await self.marks.get(viewer, ids, lambda: self._marks_of(viewer, list(ids)))
        if marks.source is not raw and marks.source != raw:
            # The shared page changed (not only reloaded as it was): the reader's answer too.
            body = json.dumps({**page, "items": [
                {**item, "liked_by_me": item["picture_id"] in marks.liked,
                 "purchased_by_me": item["picture_id"] in marks.bought}
                for item in page["items"]]}).encode()
            marks.source, marks.body = raw, body
            self.marks.weigh(viewer)
        else:
            marks.source = raw  # the same bytes again: compared by identity from now on
        return marks.body

    async def _marks_of(self, viewer: str, ids: list[str]) -> Marks:
        if not ids:
            return Marks(frozenset(), frozenset())
        mine = self.db[LIKES].find({"user_id": viewer, "picture_id": {"$in": ids}, **LIKED},
                                   {"picture_id": 1})
        likes, bought = await asyncio.gather(mine.to_list(None), self.licensed(viewer, ids))
        return Marks(frozenset(m["picture_id"] for m in likes), frozenset(bought))

    def _page_key(self, limit: int, cursor: str | None, owner: str | None,
                  tag: str | None) -> tuple:
        """A feed page's key in the page cache (a bad cursor is a 422 here)."""
        position = decode_cursor(cursor, self.signing_key) if cursor else None
        return limit, position, owner, tag

    async def _cached_page(self, key: tuple) -> tuple[dict, bytes, str | None, tuple[str, ...]]:
        """The page as the page cache keeps it: the page, its JSON, the time of its oldest
        picture (``page_after``'s ``since`` when it is read again) and its pictures' ids
        (the key of a reader's marks on it)."""
        limit, position, owner, tag = key

        async def load() -> tuple[dict, bytes, str | None, tuple[str, ...]]:
            previous = self.pages.peek(key)
            page, oldest = await self._feed_page(limit, position, owner, tag,
                                                 previous[2] if previous else None)
            ids = tuple(item["picture_id"] for item in page["items"])
            return page, json.dumps(page).encode(), oldest, ids

        # The page object is about as large again as its JSON bytes.
        return await self.pages.get(key, load, lambda page: 2 * len(page[1]))

    async def _feed_page(self, limit: int, position: tuple[str, str] | None,
                         owner: str | None, tag: str | None,
                         since: str | None = None) -> tuple[dict, str | None]:
        """The page, and the time of the oldest picture read for it (``page_after``'s
        ``since`` when the page is read again)."""
        query: dict[str, Any] = {"status": "published"}
        if owner:
            query["owner_id"] = owner
        if tag:
            query["tags"] = tag
        docs = await page_after(self.db[PICTURES], query, position, limit + 1, since=since)
        oldest = docs[-1]["created_at"] if docs else None
        docs, next_cursor = self._page(docs, limit)
        return {"items": await self.shape(docs, None), "next_cursor": next_cursor}, oldest

    def _page(self, docs: list[dict], limit: int) -> tuple[list[dict], str | None]:
        """The first ``limit`` of ``docs`` (read ``limit + 1`` to know whether more follow)
        and the cursor after the last of them, None when none follow."""
        if len(docs) <= limit:
            return docs, None
        last = docs[limit - 1]
        return docs[:limit], encode_cursor(last["created_at"], last["_id"], self.signing_key)

    async def shape(self, docs: list[dict], viewer: str | None) -> list[dict]:
        """The API's picture objects for ``docs``, joined with owners, likes and the viewer."""
        if not docs:
            return []
        ids = [d["_id"] for d in docs]
        owner_ids = list({d["owner_id"] for d in docs})
        users_q = self.db[USERS].find({"_id": {"$in": owner_ids}}, {"display_name": 1})
        counts_q = self.db[LIKE_COUNTS].find({"_id": {"$in": ids}}, {"like_count": 1})
        comments_q = self.db[COMMENT_COUNTS].find({"_id": {"$in": ids}})
        users, counts, comments = await asyncio.gather(
            users_q.to_list(None), counts_q.to_list(None), comments_q.to_list(None))
        names = {u["_id"]: u.get("display_name") for u in users}
        like_counts = {c["_id"]: c["like_count"] for c in counts}
        comment_counts = {c["_id"]: c["comment_count"] for c in comments}
        items = [self._picture(d, names, like_counts, comment_counts) for d in docs]
        return await self.personal(items, viewer) if viewer else items

    async def personal(self, items: list[dict], viewer: str) -> list[dict]:
        """Copies of ``items`` marked with whether ``viewer`` likes and has bought each, as
        the read models say now (not from ``ReaderMarks``: a picture read with ``?after=``
        must show the reader's own like at once)."""
        if not items:
            return items
        marks = await self._marks_of(viewer, [item["picture_id"] for item in items])
        return [{**item, "liked_by_me": item["picture_id"] in marks.liked,
                 "purchased_by_me": item["picture_id"] in marks.bought} for item in items]

    def _picture(self, d: dict, names: dict, counts: dict,
                 comment_counts: dict | None = None) -> dict:
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
            "comment_count": (comment_counts or {}).get(d["_id"], 0),
            "liked_by_me": False,
            "purchased_by_me": False,
            "created_at": d["created_at"],
        }
        if d["status"] == "rejected":
            picture["reason"] = d.get("reason")
        return picture
