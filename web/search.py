"""Search over the search service's index (``search_terms``, :mod:`agents.search.index`).

A query's words are analysed as the index was (:mod:`picasso.search`): each word is looked
up by its stem, and the last one also as the beginning of a word (type-ahead: ``sun``
finds ``sunset``). All the keys a query needs, and the tag it filters on, are read in one
query by ``_id``; ranking happens here:

- a picture's score for a word is its entry's weight (title words weigh most) times the
  word's rarity, ``ln(1 + RARITY / pictures holding it)``; a prefix match counts
  :data:`PREFIX_FACTOR` of a whole-word match;
- pictures are ordered by how many of the query's words they hold, then by score, then
  newest first, then by id, so a page boundary is exact and the cursor is that sort key.

Filters (a tag, a price range, free only) use the entries' price and the tag's key, so no
picture is read before its page is chosen; the page is then read from the pictures read
model and shaped like the feed's.
"""

from __future__ import annotations

import json
import math
from typing import Any

from picasso.mongo import PICTURES, SEARCH_TERMS, USERS
from picasso.search import (
    PERSON_PREFIX,
    PERSON_STEM,
    PICTURE_PREFIX,
    PICTURE_STEM,
    PICTURE_TAG,
    PREFIX_MAX,
    PREFIX_MIN,
    identifier,
    stem,
    words,
)
from topics.search import QUERY_WORDS_MAX
from web.problems import Problem
from web.readmodels import ReadModels, decode_cursor, encode_cursor

PREFIX_FACTOR = 0.5
RARITY = 1000.0


def query_words(q: str) -> list[str]:
    """The words of a query that count (at most QUERY_WORDS_MAX, repeats once)."""
    return list(dict.fromkeys(words(q)))[:QUERY_WORDS_MAX]


def _keys(terms: list[str], stem_space: str, prefix_space: str) -> list[list[str]]:
    """For each query word, the keys that find it: its stem; for the last, its prefix."""
    keys = [[stem_space + stem(w)] for w in terms]
    last = terms[-1]
    if len(last) >= PREFIX_MIN:
        keys[-1].append(prefix_space + last[:PREFIX_MAX])
    return keys


def _rank(keys: list[list[str]], postings: dict[str, dict],
          keep: Any = None) -> list[tuple[int, float, str, str]]:
    """(words matched, score, created_at, id) of everything matching, best first."""
    found: dict[str, list] = {}
    for word_keys in keys:
        best: dict[str, float] = {}
        for n, key in enumerate(word_keys):
            entries = postings.get(key, {})
            if not entries:
                continue
            rarity = math.log(1 + RARITY / len(entries)) * (PREFIX_FACTOR if n else 1.0)
            for name, entry in entries.items():
                if keep is not None and not keep(name, entry):
                    continue
                score = entry[0] * rarity
                if score > best.get(name, -1.0):
                    best[name] = score
                    found.setdefault(name, [0, 0.0, entry[2] if len(entry) > 2 else ""])
        for name, score in best.items():
            hit = found[name]
            hit[0] += 1
            hit[1] += score
    ranked = [(hit[0], round(hit[1], 6), hit[2], identifier(name))
              for name, hit in found.items()]
    ranked.sort(key=lambda r: (-r[0], -r[1], _desc(r[2]), r[3]))
    return ranked


def _desc(text: str) -> tuple[int, ...]:
    """A sort key that orders strings backwards (newest first for RFC 3339 times)."""
    return tuple(-ord(c) for c in text)


def _after(ranked: list[tuple], position: tuple | None) -> list[tuple]:
    if position is None:
        return ranked
    for n, row in enumerate(ranked):
        if row == position:
            return ranked[n + 1:]
    # The position's item left the index (or moved): continue after where it would sort.
    key = (-position[0], -position[1], _desc(position[2]), position[3])
    return [r for r in ranked if (-r[0], -r[1], _desc(r[2]), r[3]) > key]


def _encode(row: tuple, signing_key: str) -> str:
    return encode_cursor(json.dumps(list(row[:3])), row[3], signing_key)


def _decode(cursor: str, signing_key: str) -> tuple:
    head, identifier_ = decode_cursor(cursor, signing_key)
    try:
        matched, score, created_at = json.loads(head)
        return int(matched), float(score), str(created_at), identifier_
    except (ValueError, TypeError):
        raise Problem(400, "the cursor is not one this API gave out") from None


async def _postings(read: ReadModels, keys: list[str]) -> dict[str, dict]:
    docs = await read.db[SEARCH_TERMS].find({"_id": {"$in": keys}}).to_list(None)
    return {d["_id"]: d.get("postings", {}) for d in docs}


async def rank_pictures(read: ReadModels, terms: list[str], tag: str | None = None,
                        min_price: int | None = None, max_price: int | None = None
                        ) -> list[tuple[int, float, str, str]]:
    """Every indexed picture matching the query's words (:func:`query_words`) and the
    filters, best first: (words matched, score, created_at, picture id)."""
    keys = _keys(terms, PICTURE_STEM, PICTURE_PREFIX)
    wanted = [k for word_keys in keys for k in word_keys]
    if tag:
        wanted.append(PICTURE_TAG + tag)
    postings = await _postings(read, wanted)
    tagged = postings.get(PICTURE_TAG + tag, {}) if tag else None

    def keep(name: str, entry: list) -> bool:
        price = entry[1]
        return ((tagged is None or name in tagged)
                and (min_price is None or price >= min_price)
                and (max_price is None or price <= max_price))

    filtered = tag is not None or min_price is not None or max_price is not None
    return _rank(keys, postings, keep if filtered else None)


async def search_pictures(read: ReadModels, q: str, *, tag: str | None,
                          min_price: int | None, max_price: int | None, limit: int,
                          cursor: str | None, viewer: str | None) -> dict:
    """A page of the published pictures matching ``q``, best first, shaped like the feed's
    (with the viewer's marks)."""
    position = _decode(cursor, read.signing_key) if cursor else None
    terms = query_words(q)

    async def load() -> list[tuple]:
        return await rank_pictures(read, terms, tag, min_price, max_price)

    async def load_page() -> dict:
        # Ranked lists are shared by every page of one query for the feed cache's time.
        ranked = await read.pages.get(("search", tuple(terms), tag, min_price, max_price),
                                      load, lambda rows: 120 * len(rows))
        rows = _after(ranked, position)[:limit + 1]
        page = rows[:limit]
        ids = [r[3] for r in page]
        docs = {d["_id"]: d for d in await read.db[PICTURES].find(
            {"_id": {"$in": ids}, "status": "published"}).to_list(None)}
        items = await read.shape([docs[i] for i in ids if i in docs], None)
        next_cursor = _encode(page[-1], read.signing_key) if len(rows) > limit else None
        return {"items": items, "next_cursor": next_cursor}

    # Pages are the same for everyone but the viewer's marks, as the feed's.
    page = await read.pages.get(
        ("search-page", tuple(terms), tag, min_price, max_price, limit, position),
        load_page, lambda p: 2 * len(json.dumps(p)))
    if viewer is None:
        return page
    return {**page, "items": await read.personal(page["items"], viewer)}


async def rank_people(read: ReadModels, terms: list[str]) -> list[tuple]:
    """Every indexed person whose name matches the query's words, best first."""
    keys = _keys(terms, PERSON_STEM, PERSON_PREFIX)
    return _rank(keys, await _postings(read, [k for ks in keys for k in ks]))


async def search_people(read: ReadModels, q: str, *, limit: int,
                        cursor: str | None) -> tuple[list[dict], str | None]:
    """A page of the people whose names match ``q``, best first: their users documents
    (from the users read model) and the cursor to the next page."""
    position = _decode(cursor, read.signing_key) if cursor else None
    terms = query_words(q)

    async def load() -> list[tuple]:
        return await rank_people(read, terms)

    ranked = await read.pages.get(("people", tuple(terms)), load,
                                  lambda rows: 120 * len(rows))
    rows = _after(ranked, position)[:limit + 1]
    page = rows[:limit]
    ids = [r[3] for r in page]
    users = {u["_id"]: u for u in await read.db[USERS].find(
        {"_id": {"$in": ids}}, {"display_name": 1, "avatar_picture_id": 1}).to_list(None)}
    next_cursor = _encode(page[-1], read.signing_key) if len(rows) > limit else None
    return [users[i] for i in ids if i in users], next_cursor
