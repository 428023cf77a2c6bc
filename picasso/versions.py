"""Writes that stay right when two workers make them at once.

A worker cut off from the broker keeps the batch it was applying while its partitions move
to another worker, which applies the same commands again; the first worker's writes can
land seconds later, when its link comes back. Nothing it writes may undo a newer command:

* A state keyed by a pair (a like, a follow) keeps the ``version`` of the last command
  applied to it (:func:`version`) and is written only over an older one
  (:func:`older_than`); an undone state stays as a document saying so, until
  :data:`GONE_FIELD` + the inbox's window, so that an older command arriving late finds it.
* A number recounted from those states is set only if nobody set it since it was read
  (:func:`set_counts`): the last count set is then one counted after every change before it.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Awaitable, Callable

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from picasso.failures import Contended
from picasso.mongo import DUPLICATE_KEY
from picasso.runtime import IN_MAX, Position
from topics.envelope import CloudEvent
from topics.record import Record

# The BSON date an undone state is removed by (a TTL index of the inbox's window).
GONE_FIELD = "gone_date"
# How often a count is recounted after another worker set it first.
ATTEMPTS = 5


def version(command: CloudEvent, position: Position | None) -> str:
    """A command's place among the commands about its pair: its time (milliseconds, text that
    sorts), then its offset, which orders commands of the same millisecond on the partition
    their key goes to. A command without one (applied on its own, off the stream) sorts
    before the others of its millisecond."""
    return f"{command.time}|{position[1]:020d}" if position is not None else f"{command.time}|"


@dataclass(frozen=True)
class Word:
    """A batch's last word about one pair (``on``: a like, a follow; else its undoing), and
    the newest version among the batch's commands about it."""

    on: bool
    version: str
    at: str  # the last word's time: when a like or follow began


def last_words(commands: list[tuple[Record, CloudEvent]], positions: list[Position] | None,
               pair: Callable[[CloudEvent], tuple[str, str]], on: Record
               ) -> dict[tuple[str, str], Word]:
    """Each pair's last word in a batch, in the batch's order; ``on``: the record that
    makes a pair's state true."""
    words: dict[tuple[str, str], Word] = {}
    for n, (record, command) in enumerate(commands):
        key = pair(command)
        v = version(command, positions[n] if positions is not None else None)
        before = words.get(key)
        words[key] = Word(record is on, max(v, before.version) if before else v, command.time)
    return words


# A pair with no document: older than any version.
NONE = ""


def older_than(v: str, held: str | None) -> dict:
    """The guard of a write of version ``v`` over a pair read with version ``held`` (None: a
    document written before states had versions, :data:`NONE`: no document): the
    document's version is older (or it still has none). Upserted, a write that misses it
    hits the pair's unique key: a duplicate, which is that write overtaken.

    Two guards rather than one ``$or``: the local MongoDB-compatible server answers an
    ``$or`` (or an ``$exists``) beside the key by reading the whole collection, 0.3 s a
    write at 20,000 pairs; a range on the (pair, version) index, or a null, it finds at
    once."""
    return {"version": None} if held is None else {"version": {"$lt": v}}


def gone_date(v: str) -> datetime:
    """When the command of version ``v`` was made: an undone state's :data:`GONE_FIELD`."""
    return datetime.fromisoformat(v.split("|")[0])


async def set_counts(collection: AsyncIOMotorCollection, field: str,
                     count: Callable[[str], Awaitable[int]], ids: list[str]) -> dict[str, int]:
    """Set ``field`` of each document of ``ids`` to ``await count(id)``, each only where
    nobody set it since it was read (a token per field, ``<field>_by``); one set meanwhile
    means counting that one again. Answers the counts set."""
    token_field = f"{field}_by"
    done: dict[str, int] = {}
    todo = list(ids)
    for _ in range(ATTEMPTS):
        held = {doc["_id"]: doc.get(token_field)
                for doc in await find_ids(collection, todo, {token_field: 1})}
        numbers = dict(zip(todo, await asyncio.gather(*(count(i) for i in todo))))
        token = uuid.uuid4().hex
        writes = [UpdateOne({"_id": i, token_field: held[i] if held.get(i) is not None
                             else {"$exists": False}},
                            {"$set": {field: numbers[i], token_field: token}},
                            upsert=i not in held)
                  for i in todo]
        try:
            result = await collection.bulk_write(writes, ordered=False)
            landed = result.matched_count + result.upserted_count
        except BulkWriteError as exc:  # a document made meanwhile: that one is counted again
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            landed = -1
        if landed == len(todo):
            won = set(todo)
        else:
            won = {doc["_id"] for doc in await find_ids(collection, todo, {token_field: 1})
                   if doc.get(token_field) == token}
        done.update({i: numbers[i] for i in won})
        todo = [i for i in todo if i not in won]
        if not todo:
            return done
    raise Contended(f"{len(todo)} count(s) of {field} set by another worker "
                    f"{ATTEMPTS} times in a row")



async def find_ids(collection: AsyncIOMotorCollection, ids: list[str],
                   projection: dict | None = None) -> list[dict]:
    """The documents of ``ids``, in ``$in`` slices of ``IN_MAX`` (see Inbox.find_many)."""
    found: list[dict] = []
    for start in range(0, len(ids), IN_MAX):
        found += await collection.find({"_id": {"$in": ids[start:start + IN_MAX]}},
                                       projection).to_list(None)
    return found
