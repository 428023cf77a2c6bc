"""Likes: one document per (picture, user), and each picture's count kept beside them.

The worker applies likes in batches (:func:`apply_reactions`), at a cost that grows with
the batch and never with a picture's popularity:

* only the batch's own (picture, user) pairs are looked up (per picture, in slices of
  :data:`~picasso.runtime.IN_MAX` users, on the unique (picture_id, user_id) index);
* each pair's real change is worked out from its state and the batch's last word about it
  (a like of a picture already liked, or an unlike of one not liked, changes nothing);
* the changes are written down first as one entry of the ``reactions_journal``: the likes
  to add and remove and each picture's net change of ``like_count``; then the likes are
  written, each count gets one ``$inc`` of its net change, and the entry is deleted.

Exact under redelivery and crashes: a batch redelivered because the worker stopped before
its inbox recorded it finds its entry (if it got that far) and applies it again before
reading any pair: likes are written by key (an upsert, a delete), so writing them twice
changes nothing, and a count remembers the ids of the last entries added to it
(``applied``), so an entry is never added twice. Once the entry is applied the batch reads
the pairs as its first attempt left them, finds no real change left, and changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import DeleteOne, UpdateOne

from picasso.failpoints import failpoint
from picasso.mongo import (
    LIKE_COUNTS,
    LIKES,
    REACTIONS_JOURNAL,
    bulk_write_done_once,
)
from picasso.runtime import IN_MAX
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE, PICTURE_LIKED, PICTURE_UNLIKED
from topics.record import Record

SOURCE = "/picasso/agents/reactions"
# How many of the last journal entries added to a count it remembers. An entry is applied
# again only before the next batch about its pictures reads them, so the one just added is
# the one that matters; a few more cover workers overlapping while partitions move.
APPLIED_KEPT = 8


async def ensure_indexes(db: AsyncIOMotorDatabase) -> None:
    await db[LIKES].create_index([("picture_id", 1), ("user_id", 1)], unique=True)
    await db[LIKES].create_index([("user_id", 1), ("picture_id", 1)])


async def apply_reaction(db: AsyncIOMotorDatabase, record: Record,
                         command: CloudEvent) -> list[CloudEvent]:
    """Apply one LikePicture or UnlikePicture command; returns the event it causes."""
    [caused] = await apply_reactions(db, [(record, command)])
    return caused


async def apply_reactions(db: AsyncIOMotorDatabase,
                          commands: list[tuple[Record, CloudEvent]]) -> list[list[CloudEvent]]:
    """Apply many Like/UnlikePicture commands at once, in order; one event per command.

    The batch's last word per (picture, user) is compared with that pair's state; only real
    changes are written, through one journal entry (see the module). Each event carries its
    picture's count after the whole batch.
    """
    last: dict[tuple[str, str], tuple[Record, CloudEvent]] = {}
    for record, command in commands:
        last[(command.data["picture_id"], command.data["user_id"])] = (record, command)
    pictures = list(dict.fromkeys(picture_id for picture_id, _ in last))
    await finish_open(db, set(pictures))
    liked = await _liked(db, list(last))
    likes, unlikes = [], []
    change: dict[str, int] = defaultdict(int)
    for (picture_id, user_id), (record, command) in last.items():
        if record is LIKE_PICTURE and (picture_id, user_id) not in liked:
            likes.append({"picture_id": picture_id, "user_id": user_id, "at": command.time})
            change[picture_id] += 1
        elif record is not LIKE_PICTURE and (picture_id, user_id) in liked:
            unlikes.append({"picture_id": picture_id, "user_id": user_id})
            change[picture_id] -= 1
    if likes or unlikes:
        entry = {"_id": uuid.uuid4().hex, "pictures": sorted({p for p, _ in last}),
                 "likes": likes, "unlikes": unlikes,
                 "changes": [[p, n] for p, n in change.items() if n]}
        await db[REACTIONS_JOURNAL].insert_one(entry)
        await _apply(db, entry)
    counts = await _counts(db, pictures)
    caused = []
    for record, command in commands:
        outcome = PICTURE_LIKED if record is LIKE_PICTURE else PICTURE_UNLIKED
        picture_id, user_id = command.data["picture_id"], command.data["user_id"]
        data = {"picture_id": picture_id, "user_id": user_id, "like_count": counts[picture_id]}
        caused.append([command.caused(outcome.type, data, SOURCE)])
    return caused


async def _liked(db: AsyncIOMotorDatabase, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of ``pairs`` (picture, user) are liked: per picture, its users in slices of
    ``IN_MAX``, each slice a few point lookups on the (picture_id, user_id) index."""
    users: dict[str, list[str]] = defaultdict(list)
    for picture_id, user_id in pairs:
        users[picture_id].append(user_id)
    queries = [db[LIKES].find({"picture_id": picture_id,
                               "user_id": {"$in": some[start:start + IN_MAX]}},
                              {"_id": 0, "picture_id": 1, "user_id": 1}).to_list(None)
               for picture_id, some in users.items()
               for start in range(0, len(some), IN_MAX)]
    return {(doc["picture_id"], doc["user_id"])
            for found in await asyncio.gather(*queries) for doc in found}


async def _counts(db: AsyncIOMotorDatabase, pictures: list[str]) -> dict[str, int]:
    """Each picture's ``like_count``; a picture without one gets 0 (every picture a like or
    unlike was applied to has a count, see :mod:`agents.reactions.rebuild`)."""
    counts: dict[str, int] = {}
    for start in range(0, len(pictures), IN_MAX):
        async for doc in db[LIKE_COUNTS].find({"_id": {"$in": pictures[start:start + IN_MAX]}},
                                              {"like_count": 1}):
            counts[doc["_id"]] = doc["like_count"]
    missing = [p for p in pictures if p not in counts]
    if missing:
        await db[LIKE_COUNTS].bulk_write(
            [UpdateOne({"_id": p}, {"$setOnInsert": {"like_count": 0}}, upsert=True)
             for p in missing], ordered=False)
        counts.update(dict.fromkeys(missing, 0))
    return counts


async def _apply(db: AsyncIOMotorDatabase, entry: dict) -> None:
    """Apply one journal entry, every step of which may be done again and then changes
    nothing: write its likes, add each picture's change to its count unless the count holds
    the entry's id, delete the entry, and then take its id off the counts (an entry no
    longer in the journal is never applied again), so that a count is the read model's
    ``{_id, like_count}`` again, as a rebuild makes it."""
    writes: list[UpdateOne | DeleteOne] = [
        UpdateOne({"picture_id": d["picture_id"], "user_id": d["user_id"]},
                  {"$setOnInsert": {"liked_at": d["at"]}}, upsert=True)
        for d in entry["likes"]]
    writes += [DeleteOne({"picture_id": d["picture_id"], "user_id": d["user_id"]})
               for d in entry["unlikes"]]
    await bulk_write_done_once(db[LIKES], writes)
    failpoint("reactions.after_likes_written")
    # The guard misses a count that holds the entry already; its upsert then hits the
    # count's _id, and that duplicate is the add that must not happen.
    await bulk_write_done_once(db[LIKE_COUNTS], [
        UpdateOne({"_id": picture_id, "applied": {"$ne": entry["_id"]}},
                  {"$inc": {"like_count": n},
                   "$push": {"applied": {"$each": [entry["_id"]], "$slice": -APPLIED_KEPT}}},
                  upsert=True)
        for picture_id, n in entry["changes"]])
    await db[REACTIONS_JOURNAL].delete_one({"_id": entry["_id"]})
    changed = [picture_id for picture_id, _ in entry["changes"]]
    for start in range(0, len(changed), IN_MAX):
        some = changed[start:start + IN_MAX]
        done = await db[LIKE_COUNTS].update_many({"_id": {"$in": some}, "applied": [entry["_id"]]},
                                                 {"$unset": {"applied": ""}})
        if done.modified_count < len(some):  # other entries' ids too, or a redo: keep theirs
            await db[LIKE_COUNTS].update_many({"_id": {"$in": some}, "applied": entry["_id"]},
                                              {"$pull": {"applied": entry["_id"]}})


async def finish_open(db: AsyncIOMotorDatabase, pictures: set[str] | None = None) -> None:
    """Apply again the journal entries still there (a worker stopped between writing one
    and deleting it, or is busy with it now) about any of ``pictures`` (None: all), before
    a batch or a rebuild reads them. The journal holds only entries not yet applied, a few
    at most: one query."""
    async for found in db[REACTIONS_JOURNAL].find({}, {"pictures": 1}):
        if pictures is None or pictures.intersection(found["pictures"]):
            entry = await db[REACTIONS_JOURNAL].find_one({"_id": found["_id"]})
            if entry is not None:
                await _apply(db, entry)


