"""The read models the edge serves for ``GET /api/v1/me/timeline``.

``timelines``: one document per (reader, picture) with the picture's owner and
``created_at``, indexed for newest-first pages per reader. One document per entry rather
than a capped list per reader: a fan-out is then plain unordered upserts (any order, any
number of times, from any worker), removing an owner's pictures or one picture everywhere is
one indexed delete, and a page is an index range read with a (created_at, picture_id)
cursor, with no read-modify-write of a large array.

``timeline_celebrities``: one document per (reader, followee with more followers than the
threshold): whose pictures a reader's page merges in at read time.

``timeline_recent``: one document per account with its ``RECENT`` newest published pictures
(``picture_id``, ``created_at``), newest first: what a reader's page merges in for each
account it marks, one lookup by id each instead of a sorted query over all pictures (the
local MongoDB-compatible server sorts every matching document). Kept for every account, so
one that crosses the threshold has it already. Entries are pushed with a filter that skips a
picture already there (redelivery) and pulled on delete; the array stays sorted and capped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from agents.timeline.follows import pair_key
from picasso.mongo import DUPLICATE_KEY, TIMELINE_CELEBRITIES, TIMELINE_RECENT, TIMELINES

# Writes per bulk write of a fan-out.
BULK = 1000
# How many of an account's newest pictures its merging readers see (a page deeper than that
# shows the account's older pictures no more).
RECENT = 50


@dataclass
class Timelines:
    db: AsyncIOMotorDatabase

    @property
    def entries(self):
        return self.db[TIMELINES]

    @property
    def celebrities(self):
        return self.db[TIMELINE_CELEBRITIES]

    async def ensure_indexes(self) -> None:
        await self.entries.create_index([("reader_id", 1), ("created_at", -1),
                                         ("picture_id", -1)])
        await self.entries.create_index([("picture_id", 1)])
        await self.entries.create_index([("reader_id", 1), ("owner_id", 1)])
        await self.celebrities.create_index([("reader_id", 1)])
        await self.celebrities.create_index([("celebrity_id", 1)])

    async def _bulk(self, collection, writes: Iterable[UpdateOne]) -> None:
        batch: list[UpdateOne] = []
        for write in writes:
            batch.append(write)
            if len(batch) >= BULK:
                await collection.bulk_write(batch, ordered=False)
                batch = []
        if batch:
            await collection.bulk_write(batch, ordered=False)

    async def add(self, readers: list[str], pictures: list[dict]) -> None:
        """Put ``pictures`` (catalogue documents) into each reader's timeline; idempotent.

        An entry never changes once written, so plain inserts whose duplicates are ignored
        do what upserts would, for less (measured: ``bench/timeline.py``)."""
        docs = [{"_id": pair_key(reader, p["_id"]), "reader_id": reader, "picture_id": p["_id"],
                 "owner_id": p["owner_id"], "created_at": p["created_at"]}
                for reader in readers for p in pictures]
        for start in range(0, len(docs), BULK):
            try:
                await self.entries.insert_many(docs[start:start + BULK], ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != DUPLICATE_KEY
                       for e in exc.details.get("writeErrors", [])):
                    raise

    async def remove_owner(self, reader_id: str, owner_id: str) -> None:
        await self.entries.delete_many({"reader_id": reader_id, "owner_id": owner_id})

    async def remove_pictures(self, picture_ids: list[str],
                              readers: list[str] | None = None) -> None:
        """Take pictures out of every timeline (or only out of ``readers``')."""
        if picture_ids:
            query: dict = {"picture_id": {"$in": picture_ids}}
            if readers is not None:
                query["reader_id"] = {"$in": readers}
            await self.entries.delete_many(query)

    @property
    def recent(self):
        return self.db[TIMELINE_RECENT]

    async def remember_recent(self, picture: dict) -> None:
        """Put a published picture (a catalogue document) among its owner's newest ones."""
        entry = {"picture_id": picture["_id"], "created_at": picture["created_at"]}
        try:
            await self.recent.update_one(
                {"_id": picture["owner_id"], "pictures.picture_id": {"$ne": picture["_id"]}},
                {"$push": {"pictures": {"$each": [entry], "$sort": {"created_at": -1},
                                        "$slice": RECENT}}},
                upsert=True)
        except DuplicateKeyError:
            pass  # the owner's document holds the picture already: the filter missed it

    async def forget_recent(self, owner_id: str, picture_ids: list[str]) -> None:
        if picture_ids:
            await self.recent.update_one(
                {"_id": owner_id},
                {"$pull": {"pictures": {"picture_id": {"$in": picture_ids}}}})

    async def mark(self, readers: list[str], celebrity_id: str) -> None:
        """The readers follow ``celebrity_id``, whose pictures they merge in when reading."""
        await self._bulk(self.celebrities, (
            UpdateOne({"_id": pair_key(reader, celebrity_id)},
                      {"$set": {"reader_id": reader, "celebrity_id": celebrity_id}},
                      upsert=True)
            for reader in readers))

    async def unmark(self, celebrity_id: str, reader_id: str | None = None) -> None:
        """``reader_id`` (or every reader) no longer merges ``celebrity_id`` in."""
        query = {"celebrity_id": celebrity_id}
        if reader_id is not None:
            query["reader_id"] = reader_id
        await self.celebrities.delete_many(query)

    async def marked(self, celebrity_id: str) -> bool:
        return await self.celebrities.find_one({"celebrity_id": celebrity_id},
                                               {"_id": 1}) is not None
