"""The trending service's state and read model, in MongoDB (the broker keeps nothing safely).

Windowed aggregation keyed by event time, in four collections of its own:

* ``trending_activity``: one document per contribution, keyed by what it is rather than by
  the message that told it: ``like:<picture>:<user>``, ``comment:<comment id>``,
  ``purchase:<purchase id>``. It holds the picture, the kind, the time bucket of the event
  that made it count (:data:`topics.trending.BUCKET_S`) and whether it counts (``live``):
  an unlike, a deleted comment or a refunded purchase sets it to false. Each document is
  written only by an event at least as late as the one that last wrote it (``changed_at``),
  so a redelivered or re-sent event, or a like told twice, changes nothing.
* ``trending_buckets``: per (picture, bucket), the number of live likes, comments and
  purchases, incremented once per batch by the batch's net change there, with the ids of
  the last journal entries added to it (``applied``), so an entry is never added twice.
* ``trending_journal``: one entry per batch, written before anything else of it: the
  contributions it writes and each (picture, bucket)'s change. It stays ``open`` until all
  of them are written; an entry left open (a worker stopped in between) is applied again by
  the next batch about any of its contributions, before that batch reads them, or by the
  sweep. So a batch costs a few writes per contribution it changes (one insert each when
  new) and one per (picture, bucket) it changes, whatever the number of its messages, and
  the counts stay exact under redelivery and crashes. A contribution's facts come on one
  partition (likes and comments are keyed by picture, purchases by purchase), so one worker
  at a time changes it; buckets are shared, and their increments commute.
* ``trending_pictures``: pictures deleted (from ``picasso.pictures.events``): their activity
  is removed and later activity for them is ignored.

The read model ``trending`` holds one document per window, its ranked pictures
(:func:`agents.trending.scoring.rank`), computed again from the buckets every few seconds.
Buckets and activity older than the longest window are swept away.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import UpdateOne

from agents.trending.scoring import bucket_of, rank, weighted, window_start
from picasso.mongo import (
    TRENDING,
    TRENDING_ACTIVITY,
    TRENDING_BUCKETS,
    TRENDING_JOURNAL,
    TRENDING_PICTURES,
    bulk_write_done_once,
    insert_new,
)
from picasso.projection import remember
from picasso.runtime import IN_MAX
from topics.comments import COMMENT_ADDED, COMMENT_DELETED
from topics.envelope import CloudEvent, utc_stamp
from topics.pictures import PICTURE_DELETED
from topics.purchases import PURCHASE_COMPLETED, PURCHASE_REFUNDED
from topics.reactions import PICTURE_LIKED, PICTURE_UNLIKED
from topics.record import Record
from topics.trending import BUCKET_S, KINDS, RANKED_MAX, WINDOWS

# The longest window, plus the bucket that overlaps its start: older activity counts nowhere.
KEPT = timedelta(seconds=max(w.length_s for w in WINDOWS.values()) + BUCKET_S)
# Every record that makes a contribution count (True) or stop counting (False), with its kind
# and the id of the contribution it is about.
CONTRIBUTIONS: dict[str, tuple[str, bool, Callable[[dict], str]]] = {
    PICTURE_LIKED.type: ("like", True, lambda d: f"{d['picture_id']}:{d['user_id']}"),
    PICTURE_UNLIKED.type: ("like", False, lambda d: f"{d['picture_id']}:{d['user_id']}"),
    COMMENT_ADDED.type: ("comment", True, lambda d: d["comment_id"]),
    COMMENT_DELETED.type: ("comment", False, lambda d: d["comment_id"]),
    PURCHASE_COMPLETED.type: ("purchase", True, lambda d: d["purchase_id"]),
    PURCHASE_REFUNDED.type: ("purchase", False, lambda d: d["purchase_id"]),
}
# The fields of a contribution's document besides its key.
_ACTIVITY_FIELDS = ("picture_id", "kind", "bucket", "live", "changed_at")
# How many of the last journal entries added to a bucket it remembers (``applied``): an entry
# is finished again at the latest by the next batch about its contributions, or by the sweep.
APPLIED_KEPT = 32
# A journal entry still open after this long belongs to a worker that stopped: the sweep
# finishes it.
JOURNAL_STALE_S = 60.0


async def _find_in(collection, field: str, values: list, query: dict | None = None,
                   projection: dict | None = None) -> list[dict]:
    """The documents whose ``field`` is one of ``values`` (and that match ``query``), asked
    for in slices of :data:`~picasso.runtime.IN_MAX` values."""
    found = []
    for start in range(0, len(values), IN_MAX):
        found += await collection.find({field: {"$in": values[start:start + IN_MAX]},
                                        **(query or {})}, projection).to_list(None)
    return found


def event_time(event: CloudEvent, now: datetime) -> datetime:
    """When the event happened, by its own ``time``; not later than ``now`` (a producer
    whose clock runs ahead cannot push a picture up) and ``now`` when it does not parse."""
    try:
        moment = datetime.fromisoformat(event.time)
    except ValueError:
        return now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(moment, now)


def _bucket_id(picture_id: str, bucket: str) -> str:
    return f"{picture_id}|{bucket}"




@dataclass
class Trending:
    db: AsyncIOMotorDatabase
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Set when this worker changed counts or deleted a picture since its last ranking.
    changed: bool = True

    @property
    def activity(self):
        return self.db[TRENDING_ACTIVITY]

    @property
    def buckets(self):
        return self.db[TRENDING_BUCKETS]

    async def ensure_indexes(self) -> None:
        await self.activity.create_index([("picture_id", 1)])
        await self.activity.create_index([("changed_at", 1)])
        await self.buckets.create_index([("bucket", 1)])
        await self.buckets.create_index([("picture_id", 1)])
        await self.journal.create_index([("open", 1)])
        await self.journal.create_index([("done_at", 1)])

    async def handle(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """Apply one event (see :meth:`apply`)."""
        await self.apply([(record, event)])
        return []

    async def handle_batch(self, items: list[tuple[Record, CloudEvent]]
                           ) -> list[list[CloudEvent]]:
        await self.apply(items)
        return [[] for _ in items]

    async def apply(self, items: list[tuple[Record, CloudEvent]]) -> None:
        """Apply likes, comments, purchases and deleted pictures, in order; other records of
        those topics are ignored. Applying the same events again changes nothing.

        The batch's contributions are folded in memory into each one's last state and each
        (picture, bucket)'s net change, written down as one journal entry, and then applied:
        the contributions in one bulk write, each bucket's change once (see :meth:`_apply`).
        """
        now = self.clock()
        oldest = now - KEPT
        told: list[tuple[str, str, str, bool, datetime]] = []
        for record, event in items:
            d = event.data
            if record.type == PICTURE_DELETED.type:
                await self.picture_deleted(d["picture_id"], event_time(event, now))
                self.changed = True
                continue
            if record.type not in CONTRIBUTIONS:
                continue
            kind, live, contribution = CONTRIBUTIONS[record.type]
            at = event_time(event, now)
            if at >= oldest:
                told.append((f"{kind}:{contribution(d)}", d["picture_id"], kind, live, at))
        if not told:
            return
        keys = list({key for key, *_ in told})
        await self._finish_open(set(keys))
        state = {doc["_id"]: doc for doc in await _find_in(self.activity, "_id", keys)}
        gone = await self._deleted(list({picture_id for _, picture_id, *_ in told}))
        changed: dict[str, dict] = {}
        for key, picture_id, kind, live, at in told:
            if picture_id in gone:
                continue
            stamp = utc_stamp(at)
            before = changed.get(key) or state.get(key)
            if before is not None and before["changed_at"] > stamp:
                continue  # a later event wrote it already
            bucket = utc_stamp(bucket_of(at))
            if before is not None and (before["live"] or not live):
                # Told again, or taken back: it counts, or stops counting, where it did.
                bucket = before["bucket"]
            changed[key] = {"_id": key, "picture_id": picture_id, "kind": kind,
                            "bucket": bucket, "live": live, "changed_at": stamp}
        # What changes: the contributions written differently, and per (picture, bucket) the
        # live contributions it gains or loses.
        writes = [doc for key, doc in changed.items()
                  if any(state.get(key, {}).get(f) != doc[f] for f in _ACTIVITY_FIELDS)]
        deltas: dict[str, dict] = {}
        for doc in writes:
            old = state.get(doc["_id"])
            for side, sign in ((old, -1), (doc, 1)):
                if side is not None and side["live"]:
                    i = _bucket_id(side["picture_id"], side["bucket"])
                    entry = deltas.setdefault(i, {"_id": i, "picture_id": side["picture_id"],
                                                  "bucket": side["bucket"]})
                    entry[side["kind"]] = entry.get(side["kind"], 0) + sign
        if not writes:
            return
        entry = {"_id": uuid.uuid4().hex, "open": True, "at": utc_stamp(now),
                 "keys": [doc["_id"] for doc in writes], "activity": writes,
                 "deltas": [d for d in deltas.values() if any(d.get(k) for k in KINDS)]}
        await self.journal.insert_one(entry)
        await self._apply(entry, fresh={doc["_id"] for doc in writes} - set(state))
        self.changed = True

    @property
    def journal(self):
        return self.db[TRENDING_JOURNAL]

    async def _apply(self, entry: dict, fresh: set[str] = frozenset()) -> None:
        """Apply one journal entry: write its contributions (``fresh`` ones, known not to be
        there when it was made, are inserted; the others written if no later event wrote
        them), add each bucket's change unless this entry's id is among the bucket's
        ``applied`` ones, then close the entry. Every step may be done again (after a crash,
        or by another worker finishing an entry left open) and changes nothing the second
        time."""
        new = [doc for doc in entry["activity"] if doc["_id"] in fresh]
        taken = {new[n]["_id"] for n in await insert_new(self.activity, new)}  # made meanwhile
        await bulk_write_done_once(self.activity, [
            UpdateOne({"_id": doc["_id"], "changed_at": {"$lte": doc["changed_at"]}},
                      {"$set": {f: doc[f] for f in _ACTIVITY_FIELDS}}, upsert=True)
            for doc in entry["activity"] if doc["_id"] not in fresh or doc["_id"] in taken])
        await self._add(entry["_id"], entry["deltas"])
        await self.journal.replace_one({"_id": entry["_id"]}, {
            "done_at": utc_stamp(self.clock()), "contributions": len(entry["activity"])})

    async def _add(self, entry_id: str, deltas: list[dict]) -> None:
        """Add each bucket's change once: an ``$inc`` of the buckets whose ``applied`` ids
        do not hold ``entry_id`` (one update per slice of buckets with the same change), and
        an insert of the buckets not there yet, until every bucket holds ``entry_id``."""
        while deltas:
            groups: dict[tuple[int, ...], list[dict]] = {}
            for d in deltas:
                groups.setdefault(tuple(d.get(k, 0) for k in KINDS), []).append(d)
            missing: list[dict] = []
            for change, group in groups.items():
                inc = {k: n for k, n in zip(KINDS, change) if n}
                for start in range(0, len(group), IN_MAX):
                    part = group[start:start + IN_MAX]
                    ids = [d["_id"] for d in part]
                    done = await self.buckets.update_many(
                        {"_id": {"$in": ids}, "applied": {"$ne": entry_id}},
                        {"$inc": inc, "$push": {"applied": {"$each": [entry_id],
                                                            "$slice": -APPLIED_KEPT}}})
                    if done.matched_count < len(part):
                        added = {doc["_id"] for doc in await self.buckets.find(
                            {"_id": {"$in": ids}, "applied": entry_id}, {"_id": 1}
                        ).to_list(None)}
                        missing += [d for d in part if d["_id"] not in added]
            if not missing:
                return
            taken = await insert_new(self.buckets, [
                {"_id": d["_id"], "picture_id": d["picture_id"], "bucket": d["bucket"],
                 **{k: d.get(k, 0) for k in KINDS}, "applied": [entry_id]}
                for d in missing])
            # Inserted meanwhile by another writer: add to them like to the others.
            deltas = [missing[n] for n in taken]

    async def _finish_open(self, keys: set[str] | None = None,
                           older_than_s: float | None = None) -> None:
        """Apply again the open journal entries (a worker stopped, or is still busy, between
        writing one and closing it) about any of ``keys``, or older than ``older_than_s``:
        before a batch reads the contributions it changes, so that it reads them as they
        are once every earlier batch about them is applied."""
        query: dict = {"open": True}
        if older_than_s is not None:
            query["at"] = {"$lt": utc_stamp(self.clock() - timedelta(seconds=older_than_s))}
        async for found in self.journal.find(query, {"keys": 1}):
            if keys is None or keys.intersection(found["keys"]):
                entry = await self.journal.find_one({"_id": found["_id"], "open": True})
                if entry is not None:
                    await self._apply(entry)

    async def _deleted(self, pictures: list[str]) -> set[str]:
        """Which of ``pictures`` were deleted."""
        found = await _find_in(self.db[TRENDING_PICTURES], "_id", pictures,
                               {"status": "deleted"}, {"_id": 1})
        return {doc["_id"] for doc in found}

    async def picture_deleted(self, picture_id: str, at: datetime) -> None:
        """A deleted picture leaves trending: remembered, and its activity removed."""
        await remember(self.db[TRENDING_PICTURES], picture_id, {"status": "deleted"},
                       utc_stamp(at))
        await self.activity.delete_many({"picture_id": picture_id})
        await self.buckets.delete_many({"picture_id": picture_id})

    async def refresh(self) -> dict[str, list[dict]]:
        """Rank the pictures of every window now and publish the rankings (the read model
        ``trending``); answers them by window."""
        now = self.clock()
        self.changed = False  # what changes from here on is ranked next time
        since = min(window_start(now, w) for w in WINDOWS.values())
        found = self.buckets.find({"bucket": {"$gte": utc_stamp(since)}},
                                  {"picture_id": 1, "bucket": 1, **dict.fromkeys(KINDS, 1)})
        buckets = [(doc["picture_id"], datetime.fromisoformat(doc["bucket"]), weighted(doc))
                   async for doc in found]
        gone = await self._deleted(list({p for p, _, _ in buckets}))
        buckets = [b for b in buckets if b[0] not in gone]
        rankings = {}
        for window in WINDOWS.values():
            items = [{"picture_id": r.picture_id, "score": r.score, "rank": r.rank}
                     for r in rank(buckets, now, window, RANKED_MAX)]
            await self.db[TRENDING].replace_one(
                {"_id": window.name},
                {"items": items, "computed_at": utc_stamp(now)}, upsert=True)
            rankings[window.name] = items
        return rankings

    async def sweep(self) -> None:
        """Finish journal entries left open by a worker that stopped, and remove buckets,
        activity and closed journal entries too old to count in any window."""
        await self._finish_open(older_than_s=JOURNAL_STALE_S)
        cutoff = utc_stamp(bucket_of(self.clock() - KEPT))
        await self.buckets.delete_many({"bucket": {"$lt": cutoff}})
        await self.activity.delete_many({"changed_at": {"$lt": cutoff}})
        await self.journal.delete_many({"done_at": {"$lt": cutoff}})
