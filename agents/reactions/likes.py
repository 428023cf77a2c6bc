"""Likes: one document per (picture, user), and each picture's count kept beside them.

The worker applies likes in batches (:func:`apply_reactions`), at a cost that grows with
the batch and never with a picture's popularity: only the batch's own (picture, user) pairs
are read (per picture, in slices of :data:`~picasso.runtime.IN_MAX` users, on the unique
(picture_id, user_id) index), and each picture's count changes by the batch's real changes.

Exact even when two workers apply the same commands at once, which happens: a worker cut off
from the broker keeps its batch while its partitions move to another, which applies the
same commands again, and the first one's writes may land seconds later (a link that comes
back). So nothing is written that a slower writer could undo:

* A pair's document is its state, ``liked`` true or false (an unlike keeps the document,
  ``liked`` false, until ``gone_date`` + INBOX_RETENTION_HOURS), with the ``version`` of the
  last command applied to it: the command's time, then its offset on the topic. A pair is
  written only where its version is older (a guarded upsert), so a late or repeated write of
  an older command changes nothing, and the last command about a pair wins wherever and
  however often it is applied.
* A picture's count document is claimed before any of its pairs is written: one update,
  guarded by the id of the entry that changed it last (``entry``), adds the batch's net
  change to ``like_count`` and keeps the pair writes it stands for in ``pending``. The pairs
  are written after, then ``pending`` is dropped. A claim whose guard no longer holds
  (another worker claimed the picture since it read it) is not made; the batch reads that
  picture again and works its change out anew.
* Whoever finds a ``pending`` (a worker stopped half-way, or one slower than this one)
  writes its pairs before reading any: the count and the pairs then agree again. Since the
  count and the pairs it was worked out from are read under the same claim, ``like_count``
  is always the number of pairs whose ``liked`` is true once no claim is pending.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import UpdateOne

from picasso.failpoints import failpoint
from picasso.failures import Contended
from picasso.mongo import (
    LIKE_COUNTS,
    LIKES,
    bulk_write_done_once,
    ensure_expiry,
    insert_new,
)
from picasso.runtime import IN_MAX, Position
from picasso.versions import GONE_FIELD, NONE, Word, find_ids, gone_date, last_words, older_than
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE, PICTURE_LIKED, PICTURE_UNLIKED
from topics.record import Record

SOURCE = "/picasso/agents/reactions"
# How often a batch reads a picture again after another worker claimed it first.
CLAIM_ATTEMPTS = 5
# A picture's pending writes are finished before it is read; how many rounds of that at most
# (each round finds what another worker claimed meanwhile).
FINISH_ROUNDS = 5


async def ensure_indexes(db: AsyncIOMotorDatabase, retention_s: float | None = None) -> None:
    """The pairs' unique key, the likes of a user, and (with ``retention_s``) the expiry of
    unliked pairs: older commands than that are never delivered again (the inbox's window)."""
    await db[LIKES].create_index([("picture_id", 1), ("user_id", 1)], unique=True)
    await db[LIKES].create_index([("user_id", 1), ("picture_id", 1)])
    # What a guarded write finds its pair by (picasso.versions.older_than).
    await db[LIKES].create_index([("picture_id", 1), ("user_id", 1), ("version", 1)])
    if retention_s is not None:
        await ensure_expiry(db[LIKES], GONE_FIELD, retention_s)


async def apply_reaction(db: AsyncIOMotorDatabase, record: Record, command: CloudEvent,
                         position: Position | None = None) -> list[CloudEvent]:
    """Apply one LikePicture or UnlikePicture command; returns the event it causes."""
    [caused] = await apply_reactions(db, [(record, command)],
                                     positions=None if position is None else [position])
    return caused


async def apply_reactions(db: AsyncIOMotorDatabase, commands: list[tuple[Record, CloudEvent]],
                          positions: list[Position] | None = None) -> list[list[CloudEvent]]:
    """Apply many Like/UnlikePicture commands at once, in order; one event per command.

    Each pair takes the batch's last word about it unless it holds a newer command already;
    only real changes move a count (see the module). Each event carries its picture's count
    after the whole batch.
    """
    words = last_words(commands, positions,
                       lambda c: (c.data["picture_id"], c.data["user_id"]), LIKE_PICTURE)
    counts = await _settle(db, words)
    caused = []
    for record, command in commands:
        outcome = PICTURE_LIKED if record is LIKE_PICTURE else PICTURE_UNLIKED
        picture_id, user_id = command.data["picture_id"], command.data["user_id"]
        data = {"picture_id": picture_id, "user_id": user_id, "like_count": counts[picture_id]}
        caused.append([command.caused(outcome.type, data, SOURCE)])
    return caused


async def _settle(db: AsyncIOMotorDatabase, words: dict[tuple[str, str], Word]
                  ) -> dict[str, int]:
    """Write the batch's words; answers each picture's count after them."""
    by_picture: dict[str, list[str]] = defaultdict(list)
    for picture_id, user_id in words:
        by_picture[picture_id].append(user_id)
    counts: dict[str, int] = {}
    todo = list(by_picture)
    for _ in range(CLAIM_ATTEMPTS):
        heads = await _unclaimed(db, todo)
        states = await _states(db, [(p, u) for p in todo for u in by_picture[p]])
        entry = uuid.uuid4().hex
        claims, writes = [], {}
        for picture_id in todo:
            ops, change = [], 0
            for user_id in by_picture[picture_id]:
                word = words[(picture_id, user_id)]
                liked, held = states.get((picture_id, user_id), (False, NONE))
                if held is not None and word.version <= held:
                    continue  # this command, or a newer one, is there already
                op = {"u": user_id, "liked": word.on, "v": word.version, "held": held}
                if word.on != liked:
                    change += 1 if word.on else -1
                    if word.on:
                        op["at"] = word.at
                ops.append(op)
            head = heads[picture_id]
            if not ops:
                counts[picture_id] = head["like_count"]
                continue
            writes[picture_id] = ops
            counts[picture_id] = head["like_count"] + change
            claims.append(UpdateOne(
                {"_id": picture_id, "entry": head.get("entry", {"$exists": False})},
                {"$inc": {"like_count": change},
                 "$set": {"entry": entry, "pending": {"id": entry, "ops": ops}}}))
        if not claims:
            return counts
        done = await db[LIKE_COUNTS].bulk_write(claims, ordered=False)
        won = set(writes)
        if done.matched_count < len(claims):  # another worker claimed some first: which?
            won = {doc["_id"] for doc in await find_ids(db[LIKE_COUNTS], list(writes))
                   if doc.get("pending", {}).get("id") == entry}
        failpoint("reactions.after_counts_claimed")
        await _write_pairs(db, {p: (entry, writes[p]) for p in won})
        todo = [p for p in writes if p not in won]
        if not todo:
            return counts
    raise Contended(f"{len(todo)} picture(s) claimed by another worker "
                    f"{CLAIM_ATTEMPTS} times in a row")


async def _unclaimed(db: AsyncIOMotorDatabase, pictures: list[str]) -> dict[str, dict]:
    """The count documents of ``pictures`` with no claim pending, the pair writes of each
    pending claim done first. A picture without a count gets one, at 0 (every picture a like
    or unlike was applied to has one; see :mod:`agents.reactions.rebuild`)."""
    heads: dict[str, dict] = {}
    todo = pictures
    for _ in range(FINISH_ROUNDS):
        found = await find_ids(db[LIKE_COUNTS], todo)
        claims = _pending(found)
        heads.update({doc["_id"]: doc for doc in found if doc["_id"] not in claims})
        missing = [p for p in todo if p not in heads and p not in claims]
        if missing:
            await db[LIKE_COUNTS].bulk_write(
                [UpdateOne({"_id": p}, {"$setOnInsert": {"like_count": 0}}, upsert=True)
                 for p in missing], ordered=False)
        if not claims and not missing:
            return heads
        await _write_pairs(db, claims)
        todo = [*claims, *missing]  # read again: another claim may have come meanwhile
    raise Contended(f"{len(todo)} picture(s) claimed again and again while finishing")


def _pending(heads: list[dict]) -> dict[str, tuple[str, list[dict]]]:
    return {doc["_id"]: (doc["pending"]["id"], doc["pending"]["ops"])
            for doc in heads if doc.get("pending")}


async def finish_pending(db: AsyncIOMotorDatabase, pictures: list[str] | None = None) -> None:
    """Write the pairs of every claim still pending (a worker stopped half-way, or busy with
    it now) about ``pictures`` (None: any), as a batch about its picture would first: then
    each count is its likes'."""
    if pictures is None:
        found = await db[LIKE_COUNTS].find({"pending": {"$exists": True}}).to_list(None)
    else:
        found = await find_ids(db[LIKE_COUNTS], pictures)
    await _write_pairs(db, _pending(found))


async def _write_pairs(db: AsyncIOMotorDatabase, claims: dict[str, tuple[str, list[dict]]]
                       ) -> None:
    """Write the pairs of claimed entries (each write guarded by the pair's version, so
    writing them again, or late, changes nothing), then drop each claim's ``pending``."""
    if not claims:
        return
    await _write_states(db[LIKES], [(picture_id, op) for picture_id, (_, ops) in claims.items()
                                    for op in ops])
    failpoint("reactions.after_likes_written")
    # Each claim's writes are done: its pending goes (a newer claim's stays).
    await db[LIKE_COUNTS].bulk_write(
        [UpdateOne({"_id": picture_id, "pending.id": entry}, {"$unset": {"pending": ""}})
         for picture_id, (entry, _) in claims.items()], ordered=False)


async def _write_states(likes: AsyncIOMotorCollection, ops: list[tuple[str, dict]]) -> None:
    """Each pair's new state. A pair read as having no document is inserted: the local
    MongoDB-compatible server inserts a batch of pairs about six times faster than it
    upserts them under a guard. An insert that hits the pair's key (another writer made the
    pair since it was read) is made again as the guarded write, which every other pair gets."""
    fresh = [(picture_id, op) for picture_id, op in ops if op["held"] == NONE]
    taken = await insert_new(likes, [_pair_doc(picture_id, op) for picture_id, op in fresh])
    # A duplicate of a guarded write is that write overtaken (bulk_write_done_once).
    await bulk_write_done_once(likes, [
        *(_pair_write(*fresh[n]) for n in taken),
        *(_pair_write(picture_id, op) for picture_id, op in ops if op["held"] != NONE)])


def _pair_write(picture_id: str, op: dict) -> UpdateOne:
    """One pair's new state, written only over an older version (:mod:`picasso.versions`)."""
    guard = {"picture_id": picture_id, "user_id": op["u"], **older_than(op["v"], op["held"])}
    if op["liked"]:
        update: dict = {"$set": {"liked": True, "version": op["v"]},
                        "$unset": {GONE_FIELD: ""}}
        if "at" in op:  # liked anew, not liked again
            update["$set"]["liked_at"] = op["at"]
    else:
        update = {"$set": {"liked": False, "version": op["v"],
                           GONE_FIELD: gone_date(op["v"])},
                  "$unset": {"liked_at": ""}}
    return UpdateOne(guard, update, upsert=True)


def _pair_doc(picture_id: str, op: dict) -> dict:
    """The document of a pair that has none yet, as :func:`_pair_write` would upsert it."""
    doc = {"picture_id": picture_id, "user_id": op["u"], "liked": op["liked"],
           "version": op["v"]}
    if not op["liked"]:
        doc[GONE_FIELD] = gone_date(op["v"])
    elif "at" in op:
        doc["liked_at"] = op["at"]
    return doc


async def _states(db: AsyncIOMotorDatabase, pairs: list[tuple[str, str]]
                  ) -> dict[tuple[str, str], tuple[bool, str | None]]:
    """The state of those of ``pairs`` (picture, user) that have a document: (liked, version;
    None before pairs had versions). Per picture, its users in slices of ``IN_MAX``, each
    slice a few point lookups on the (picture_id, user_id) index."""
    users: dict[str, list[str]] = defaultdict(list)
    for picture_id, user_id in pairs:
        users[picture_id].append(user_id)
    queries = [db[LIKES].find({"picture_id": picture_id,
                               "user_id": {"$in": some[start:start + IN_MAX]}},
                              {"_id": 0, "picture_id": 1, "user_id": 1, "liked": 1,
                               "version": 1}).to_list(None)
               for picture_id, some in users.items()
               for start in range(0, len(some), IN_MAX)]
    return {(doc["picture_id"], doc["user_id"]): (doc.get("liked", True), doc.get("version"))
            for found in await asyncio.gather(*queries) for doc in found}
