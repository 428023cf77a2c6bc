"""Search at the edge: an inverted index in memory, copied from the search service's read
model (``search_documents``, :mod:`agents.search.index`), and ranking.

Each edge process keeps its own copy (:class:`MemoryIndex`): it reads every document once,
then, before a search, the documents changed since it last looked, at most every
:data:`REFRESH_S` (by ``updated_at``, with :data:`OVERLAP_S` of margin for writes that
committed late or came from a clock a little behind this edge's; a writer's clock further
behind than that would go unseen until the document is written again). The shared read
model stays the one truth, written only by the search service; a copy is never more than
a refresh behind it. Measured (docs/benchmarks.md §10): reading the postings of common
words from MongoDB on every search was the bottleneck; in memory ranking is cheap.

A query's words are analysed as the documents were (:mod:`picasso.search`): each word is
looked up by its stem, and the last one also as the beginning of the words people wrote
(type-ahead: ``sun`` finds ``sunset``). Ranking:

- a picture's score for a word is its weight under the key (title words weigh most) times
  the word's rarity, ``ln(1 + RARITY / pictures holding it)``; a match by a beginning
  counts :data:`PREFIX_FACTOR` of a whole word's;
- pictures are ordered by how many of the query's words they hold, then by score, then
  newest first, then by id, so a page boundary is exact and the cursor is that sort key.

Filters (a tag, a price range, free only) use the copy's prices and tags, so no picture is
read before its page is chosen. A page is picked from the matches without sorting them all
(a heap of the page's size), and its pictures are read from the pictures read model and
shaped like the feed's, each kept for the page cache's time (:class:`ShapedPictures`).
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import json
import math
import time
import weakref
from datetime import UTC, datetime, timedelta
from typing import Callable

from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.mongo import PICTURES, SEARCH_DOCUMENTS, USERS
from picasso.search import (
    PERSON_STEM,
    PERSON_WORD,
    PICTURE,
    PICTURE_STEM,
    PICTURE_TAG,
    PICTURE_WORD,
    PREFIX_MIN,
    stem,
    words,
)
from topics.envelope import utc_stamp
from topics.search import QUERY_WORDS_MAX
from web.problems import Problem
from web.readmodels import ReadModels, decode_cursor, encode_cursor

PREFIX_FACTOR = 0.5
RARITY = 1000.0
# At most this many written words are looked up for one typed beginning (the first ones
# in alphabetical order).
PREFIX_WORDS_MAX = 500
REFRESH_S = 0.2
OVERLAP_S = 2.0

Row = tuple[int, float, str, str]  # (words matched, score, created_at, id)


class MemoryIndex:
    """One edge's copy of ``search_documents`` as an inverted index."""

    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self.db = db
        self.postings: dict[str, dict[str, float]] = {}  # key → {picture or person: weight}
        self.prices: dict[str, int] = {}  # picture → price_cents
        self.created: dict[str, str] = {}  # picture → created_at
        self.newness: dict[str, int] = {}  # picture → its created_at as an order, newest least
        self._keys: dict[str, list[str]] = {}  # document → the keys it is under
        # The words people wrote, sorted, per space: the words a beginning starts. A word
        # nobody holds any more stays (it finds nothing).
        self.words: dict[str, list[str]] = {PICTURE_WORD: [], PERSON_WORD: []}
        # Where the next refresh starts reading (updated_at), None: from the beginning.
        self._since: str | None = None
        self._checked = -math.inf
        self._refreshing: asyncio.Future | None = None

    async def fresh(self) -> MemoryIndex:
        """The copy, refreshed if it was last checked over REFRESH_S ago; concurrent
        searches share one refresh."""
        if time.monotonic() - self._checked >= REFRESH_S:
            if self._refreshing is None:
                self._refreshing = asyncio.ensure_future(self._refresh())
            await asyncio.shield(self._refreshing)
        return self

    async def _refresh(self) -> None:
        try:
            began, now = time.monotonic(), datetime.now(UTC)
            query = {} if self._since is None else {"updated_at": {"$gte": self._since}}
            async for doc in self.db[SEARCH_DOCUMENTS].find(query):
                self.apply(doc)
            # By this edge's clock: what was written from OVERLAP_S before this read on is
            # read again next time, and nothing older, so a quiet index costs nothing.
            self._since = utc_stamp(now - timedelta(seconds=OVERLAP_S))
            self._checked = began
        finally:
            self._refreshing = None

    def apply(self, doc: dict) -> None:
        """Put one document (as the search service wrote it) in place of its last copy."""
        ref = doc["ref"]
        for key in self._keys.pop(doc["_id"], []):
            holders = self.postings.get(key)
            if holders is not None:
                holders.pop(ref, None)
                if not holders:
                    del self.postings[key]
        keys = []
        for key, weight in doc.get("terms", []):
            holders = self.postings.get(key)
            if holders is None:
                holders = self.postings[key] = {}
                space = self.words.get(key[:2])
                if space is not None:
                    word = key[2:]
                    at = bisect.bisect_left(space, word)
                    if at == len(space) or space[at] != word:
                        space.insert(at, word)
            holders[ref] = weight
            keys.append(key)
        self._keys[doc["_id"]] = keys
        if doc["kind"] == PICTURE:
            if keys:
                self.prices[ref] = doc.get("price_cents", 0)
                self.created[ref] = doc.get("created_at", "")
                self.newness[ref] = _newness(self.created[ref])
            else:
                self.prices.pop(ref, None)
                self.created.pop(ref, None)
                self.newness.pop(ref, None)

    def starting(self, space: str, beginning: str) -> list[str]:
        """The keys of the words in ``space`` that start with ``beginning``."""
        found = self.words[space]
        at = bisect.bisect_left(found, beginning)
        keys = []
        while at < len(found) and found[at].startswith(beginning) \
                and len(keys) < PREFIX_WORDS_MAX:
            keys.append(space + found[at])
            at += 1
        return keys

    def rank(self, terms: list[str], stem_space: str, word_space: str,
             keep: Callable[[str], bool] | None = None, *, after: Row | None = None,
             most: int | None = None) -> list[Row]:
        """Everything holding any of ``terms`` (and kept by ``keep``), best first; with
        ``most``, only the first ``most`` of those that come after ``after`` (a page: picked
        from the matches without sorting them all)."""
        matched: dict[str, int] = {}
        scores: dict[str, float] = {}
        for n, term in enumerate(terms):
            looked_up = [(stem_space + stem(term), 1.0)]
            if n == len(terms) - 1 and len(term) >= PREFIX_MIN:
                looked_up += [(key, PREFIX_FACTOR) for key in self.starting(word_space, term)]
            best: dict[str, float] = {}
            for key, factor in looked_up:
                holders = self.postings.get(key)
                if not holders:
                    continue
                rarity = math.log(1 + RARITY / len(holders)) * factor
                if not best:  # the common case, one key: built in one comprehension
                    best = {ref: weight * rarity for ref, weight in holders.items()}
                    continue
                held = best.get
                for ref, weight in holders.items():
                    score = weight * rarity
                    if score > held(ref, -1.0):
                        best[ref] = score
            if keep is not None:
                best = {ref: score for ref, score in best.items() if keep(ref)}
            if not scores:
                scores, matched = best, dict.fromkeys(best, 1)
                continue
            for ref, score in best.items():
                if ref in scores:
                    scores[ref] += score
                    matched[ref] += 1
                else:
                    scores[ref] = score
                    matched[ref] = 1
        # Scores go into cursors as JSON, whose floats read back exactly.
        created = self.created
        if most is not None:
            # The order as one tuple compared in C: words matched and score highest first,
            # then newest first, then ids ascending.
            newness = self.newness
            keyed = ((-matched[ref], -score, newness.get(ref, 0), ref)
                     for ref, score in scores.items())
            if after is not None:
                bound = (-after[0], -after[1], _newness(after[2]), after[3])
                keyed = (k for k in keyed if k > bound)
            return [(-k[0], -k[1], created.get(k[3], ""), k[3])
                    for k in heapq.nsmallest(most, keyed)]
        rows = [(matched[ref], score, created.get(ref, ""), ref) for ref, score in scores.items()]
        # Best first: stable sorts from the last criterion to the first (ids ascending,
        # then newest first, then score and words matched, highest first).
        rows.sort(key=_ref)
        rows.sort(key=_created_at, reverse=True)
        rows.sort(key=_relevance, reverse=True)
        return rows


_indexes: weakref.WeakKeyDictionary[ReadModels, MemoryIndex] = weakref.WeakKeyDictionary()


class ShapedPictures:
    """Pictures of search pages as the API shows them, by id, each kept for the page
    cache's time (``FEED_CACHE_TTL_S``; 0 keeps none), so as fresh as a cached page.
    Distinct queries share many of their pictures (about a third of a page's in the
    benchmark's mix of random queries): those are not read and shaped again."""

    MOST = 20_000  # past that, the pictures kept longest ago go first

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._items: dict[str, tuple[float, dict]] = {}

    async def get(self, read: ReadModels, ids: list[str]) -> list[dict]:
        """The published ones of ``ids``, in that order, shaped like the feed's."""
        now = time.monotonic()
        found: dict[str, dict] = {}
        for picture_id in ids:
            hit = self._items.get(picture_id)
            if hit is not None and hit[0] > now:
                found[picture_id] = hit[1]
        missing = [picture_id for picture_id in ids if picture_id not in found]
        if missing:
            docs = await read.db[PICTURES].find(
                {"_id": {"$in": missing}, "status": "published"}).to_list(None)
            for item in await read.shape(docs, None):
                found[item["picture_id"]] = item
                if self.ttl_s > 0:
                    self._items.pop(item["picture_id"], None)
                    self._items[item["picture_id"]] = (now + self.ttl_s, item)
            while len(self._items) > self.MOST:
                del self._items[next(iter(self._items))]
        return [found[picture_id] for picture_id in ids if picture_id in found]


_shaped: weakref.WeakKeyDictionary[ReadModels, ShapedPictures] = weakref.WeakKeyDictionary()


def shaped_pictures(read: ReadModels) -> ShapedPictures:
    """The edge's shaped pictures of search pages (one per read-model handle)."""
    shaped = _shaped.get(read)
    if shaped is None:
        shaped = _shaped[read] = ShapedPictures(read.pages.ttl_s)
    return shaped


def memory_index(read: ReadModels) -> MemoryIndex:
    """The edge's copy of the index (one per read-model handle, so one per process)."""
    index = _indexes.get(read)
    if index is None:
        index = _indexes[read] = MemoryIndex(read.db)
    return index


def query_words(q: str) -> list[str]:
    """The words of a query that count (at most QUERY_WORDS_MAX, repeats once)."""
    return list(dict.fromkeys(words(q)))[:QUERY_WORDS_MAX]


def _newness(created_at: str) -> int:
    """A creation time as an order: the later, the smaller (milliseconds before the epoch);
    none, or one that does not parse, after every other (as "" sorts last newest first)."""
    try:
        return -round(datetime.fromisoformat(created_at).timestamp() * 1000)
    except (TypeError, ValueError):
        return 0


def _ref(row: Row) -> str:
    return row[3]


def _created_at(row: Row) -> str:
    return row[2]


def _relevance(row: Row) -> tuple[int, float]:
    return row[0], row[1]


async def rank_pictures(read: ReadModels, terms: list[str], tag: str | None = None,
                        min_price: int | None = None, max_price: int | None = None, *,
                        after: Row | None = None, most: int | None = None) -> list[Row]:
    """Every published picture matching the query's words (:func:`query_words`) and the
    filters, best first (or the ``most`` first after ``after``: :meth:`MemoryIndex.rank`)."""
    index = await memory_index(read).fresh()
    tagged = index.postings.get(PICTURE_TAG + tag, {}) if tag else None

    def keep(ref: str) -> bool:
        price = index.prices.get(ref, 0)
        return ((tagged is None or ref in tagged)
                and (min_price is None or price >= min_price)
                and (max_price is None or price <= max_price))

    filtered = tag is not None or min_price is not None or max_price is not None
    return index.rank(terms, PICTURE_STEM, PICTURE_WORD, keep if filtered else None,
                      after=after, most=most)


async def rank_people(read: ReadModels, terms: list[str], *, after: Row | None = None,
                      most: int | None = None) -> list[Row]:
    """Every person whose name matches the query's words, best first (or a page of them)."""
    index = await memory_index(read).fresh()
    return index.rank(terms, PERSON_STEM, PERSON_WORD, after=after, most=most)


def _encode(row: Row, signing_key: str) -> str:
    return encode_cursor(json.dumps(list(row[:3])), row[3], signing_key)


def _decode(cursor: str, signing_key: str) -> Row:
    head, identifier_ = decode_cursor(cursor, signing_key)
    try:
        matched, score, created_at = json.loads(head)
        return int(matched), float(score), str(created_at), identifier_
    except (ValueError, TypeError):
        raise Problem(400, "the cursor is not one this API gave out") from None


async def search_pictures(read: ReadModels, q: str, *, tag: str | None,
                          min_price: int | None, max_price: int | None, limit: int,
                          cursor: str | None, viewer: str | None) -> bytes:
    """A page of the published pictures matching ``q``, best first, shaped like the feed's
    (with the viewer's marks), as the response body."""
    position = _decode(cursor, read.signing_key) if cursor else None
    terms = query_words(q)

    async def load_page() -> tuple[dict, bytes]:
        rows = await rank_pictures(read, terms, tag, min_price, max_price, after=position,
                                   most=limit + 1)
        page = rows[:limit]
        items = await shaped_pictures(read).get(read, [r[3] for r in page])
        next_cursor = _encode(page[-1], read.signing_key) if len(rows) > limit else None
        found = {"items": items, "next_cursor": next_cursor}
        return found, json.dumps(found).encode()

    # Pages are the same for everyone but the viewer's marks, as the feed's: anonymous
    # readers get the cached bytes.
    page, body = await read.pages.get(
        ("search", tuple(terms), tag, min_price, max_price, limit, position),
        load_page, lambda page: 2 * len(page[1]))
    if viewer is None:
        return body
    page = {**page, "items": await read.personal(page["items"], viewer)}
    return json.dumps(page).encode()


async def search_people(read: ReadModels, q: str, *, limit: int,
                        cursor: str | None) -> tuple[list[dict], str | None]:
    """A page of the people whose names match ``q``, best first: their users documents
    (from the users read model) and the cursor to the next page."""
    position = _decode(cursor, read.signing_key) if cursor else None
    rows = await rank_people(read, query_words(q), after=position, most=limit + 1)
    page = rows[:limit]
    ids = [r[3] for r in page]
    users = {u["_id"]: u for u in await read.db[USERS].find(
        {"_id": {"$in": ids}}, {"display_name": 1, "avatar_picture_id": 1}).to_list(None)}
    next_cursor = _encode(page[-1], read.signing_key) if len(rows) > limit else None
    return [users[i] for i in ids if i in users], next_cursor
