"""What each event does to the search index.

The service keeps what it needs of each picture (``search_pictures``: title, description,
tags, price, owner, status, creation time) and each person (``search_people``: the display
name), every field guarded by the time of the event that told it
(:func:`picasso.projection.remember`), so an old event redelivered after a newer one never
brings an old title (or a deleted picture) back. After each change it derives the keys the
picture or person should have in the index from that state, and writes them into
``search_terms`` (the read model the edge searches): for each key, one field of that key's
``postings`` set to the entry (``$set``), and one ``$unset`` for each key it had before and
has no more. Both are idempotent, so a redelivery writes the same again.

A picture's entry under a key is ``[weight, price_cents, created_at]``: the weight says how
much the key counts for it (title words count most), the price and time let the edge filter
and order without reading each picture. A person's entry is ``[weight]``.

The owner's name is searchable with their pictures, and comes on another topic: a picture
is indexed with the owner's name as the service knows it, and a new name re-indexes the
owner's pictures. Each side writes its own fact first and then reads the other's, so
whichever comes last indexes with both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import UpdateOne

from picasso.mongo import SEARCH_PEOPLE, SEARCH_PICTURES, SEARCH_TERMS
from picasso.projection import remember
from picasso.search import (
    PERSON_PREFIX,
    PERSON_STEM,
    PICTURE_PREFIX,
    PICTURE_STEM,
    PICTURE_TAG,
    field,
    prefixes,
    stem,
    words,
)
from topics.envelope import CloudEvent
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED, PICTURE_UPDATED
from topics.record import Record

PUBLISHED = "published"
DELETED = "deleted"
# How much a word counts in each field of a picture, and how often a repeated word counts.
FIELD_WEIGHTS = {"title": 3.0, "tags": 2.0, "owner": 2.0, "description": 1.0}
REPEATS_MAX = 3
# Fields of a picture the index uses, as the pictures events tell them.
_PICTURE_FIELDS = ("owner_id", "title", "description", "tags", "price_cents", "created_at")


def _weights(fields: dict[str, str]) -> tuple[Counter, Counter]:
    """Each stem's and each prefix's weight over ``fields`` (name → text)."""
    stems: Counter = Counter()
    starts: Counter = Counter()
    for name, text in fields.items():
        counted = Counter(words(text))
        for word, times in counted.items():
            weight = FIELD_WEIGHTS[name] * min(times, REPEATS_MAX)
            stems[stem(word)] += weight
            for start in prefixes(word):
                starts[start] += weight
    return stems, starts


def picture_entries(picture: dict, owner_name: str | None) -> dict[str, list]:
    """The keys a published picture has in the index, each with its entry."""
    stems, starts = _weights({
        "title": picture.get("title", ""),
        "description": picture.get("description", ""),
        "tags": " ".join(picture.get("tags", [])),
        "owner": owner_name or "",
    })
    price, created_at = picture.get("price_cents", 0), picture.get("created_at", "")
    entries = {PICTURE_STEM + s: [round(w, 3), price, created_at] for s, w in stems.items()}
    entries.update((PICTURE_PREFIX + p, [round(w, 3), price, created_at])
                   for p, w in starts.items())
    entries.update((PICTURE_TAG + tag, [0, price, created_at])
                   for tag in picture.get("tags", []))
    return entries


def person_entries(display_name: str) -> dict[str, list]:
    """The keys a person has in the index (by name), each with its entry."""
    stems, starts = _weights({"owner": display_name})
    entries = {PERSON_STEM + s: [round(w, 3)] for s, w in stems.items()}
    entries.update((PERSON_PREFIX + p, [round(w, 3)]) for p, w in starts.items())
    return entries


@dataclass
class SearchIndex:
    db: AsyncIOMotorDatabase

    @property
    def pictures(self):
        return self.db[SEARCH_PICTURES]

    @property
    def people(self):
        return self.db[SEARCH_PEOPLE]

    @property
    def terms(self):
        return self.db[SEARCH_TERMS]

    async def ensure_indexes(self) -> None:
        await self.pictures.create_index([("owner_id", 1)])

    async def picture(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """A pictures event: remember what it tells, then index the picture anew."""
        d = event.data
        picture_id = d["picture_id"]
        if record is PICTURE_PUBLISHED:
            await remember(self.pictures, picture_id,
                           {**{k: d[k] for k in _PICTURE_FIELDS if k in d},
                            "status": PUBLISHED}, event.time)
        elif record is PICTURE_UPDATED:
            await remember(self.pictures, picture_id,
                           {k: d[k] for k in _PICTURE_FIELDS if k in d}, event.time)
        elif record is PICTURE_DELETED:
            await remember(self.pictures, picture_id, {"status": DELETED}, event.time)
        else:
            return []  # a refused upload or change: nothing indexed changes
        await self.reindex_picture(picture_id)
        return []

    async def person(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """A users event: a (new) display name re-indexes the person and their pictures."""
        name = event.data.get("display_name")
        if name is None:
            return []  # preferences, a bio or an avatar: not searched
        user_id = event.data["user_id"]
        await remember(self.people, user_id, {"display_name": name}, event.time)
        person = await self.people.find_one({"_id": user_id})
        await self._write(self.people, user_id, person,
                          person_entries(person.get("display_name", "")))
        async for picture in self.pictures.find({"owner_id": user_id}, {"_id": 1}):
            await self.reindex_picture(picture["_id"])
        return []

    async def reindex_picture(self, picture_id: str) -> None:
        """Write the picture's keys as its state now says: its entries while published
        (with every field it needs known), none otherwise."""
        picture = await self.pictures.find_one({"_id": picture_id})
        if picture is None:
            return
        entries: dict[str, list] = {}
        if picture.get("status") == PUBLISHED and "title" in picture:
            owner = await self.people.find_one({"_id": picture.get("owner_id")},
                                               {"display_name": 1})
            entries = picture_entries(picture, (owner or {}).get("display_name"))
        await self._write(self.pictures, picture_id, picture, entries)

    async def _write(self, collection, key: str, doc: dict, entries: dict[str, list]) -> None:
        """Make ``key``'s postings what ``entries`` says; ``doc`` (in ``collection``) holds
        the keys written before, in ``indexed``.

        The keys about to be written are added to ``indexed`` first, so that a crash half
        way leaves every key that may hold the id listed, and the next run takes out the
        ones it no longer has."""
        before = set(doc.get("indexed", []))
        now = set(entries)
        name = field(key)
        if now - before:
            await collection.update_one({"_id": key},
                                        {"$addToSet": {"indexed": {"$each": sorted(now)}}})
        writes = [UpdateOne({"_id": term}, {"$set": {f"postings.{name}": entry}}, upsert=True)
                  for term, entry in entries.items()]
        writes += [UpdateOne({"_id": term}, {"$unset": {f"postings.{name}": ""}})
                   for term in sorted(before - now)]
        if writes:
            await self.terms.bulk_write(writes, ordered=False)
        if before != now:
            await collection.update_one({"_id": key}, {"$set": {"indexed": sorted(now)}})
