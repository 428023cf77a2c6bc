"""The trending service's state and read model, in MongoDB (the broker keeps nothing safely).

Windowed aggregation keyed by event time, in three collections of its own:

* ``trending_activity``: one document per contribution, keyed by what it is rather than by
  the message that told it: ``like:<picture>:<user>``, ``comment:<comment id>``,
  ``purchase:<purchase id>``. It holds the picture, the kind, the time bucket of the event
  that made it count (:data:`topics.trending.BUCKET_S`) and whether it counts (``live``):
  an unlike, a deleted comment or a refunded purchase sets it to false. Each document is
  written only by an event at least as late as the one that last wrote it (``changed_at``),
  so a redelivered or re-sent event, or a like told twice, changes nothing.
* ``trending_buckets``: per (picture, bucket), the number of live likes, comments and
  purchases, recounted from the activity after every change, never incremented. A writer
  first bumps the bucket's ``changes`` and then recounts; a recount is written only if it
  read a later ``changes`` than the one written before it (``counted``). Two workers (the
  purchases topic is keyed by purchase, so one picture's purchases are spread over
  partitions) or a crash between two writes can leave a count stale only until the last
  recount of that bucket, which has read every change.
* ``trending_pictures``: pictures deleted (from ``picasso.pictures.events``): their activity
  is removed and later activity for them is ignored.

The read model ``trending`` holds one document per window, its ranked pictures
(:func:`agents.trending.scoring.rank`), computed again from the buckets every few seconds.
Buckets and activity older than the longest window are swept away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from agents.trending.scoring import bucket_of, rank, weighted, window_start
from picasso.mongo import (
    TRENDING,
    TRENDING_ACTIVITY,
    TRENDING_BUCKETS,
    TRENDING_PICTURES,
    TRENDING_PROCESSED,
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
_DUPLICATE_KEY = 11000


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


async def _bulk(collection, writes: list[UpdateOne]) -> None:
    """Unordered bulk write whose guarded upserts may collide with a newer document (the
    guard missed, the insert hit the key): those are writes that must not happen."""
    if not writes:
        return
    try:
        await collection.bulk_write(writes, ordered=False)
    except BulkWriteError as exc:
        if any(e.get("code") != _DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise


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
        await self.activity.create_index([("picture_id", 1), ("bucket", 1), ("live", 1)])
        await self.activity.create_index([("changed_at", 1)])
        await self.buckets.create_index([("bucket", 1)])
        await self.buckets.create_index([("picture_id", 1)])
        await self.db[TRENDING_PROCESSED].create_index([("applied_at", 1)])

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
        those topics are ignored. Applying the same events again changes nothing."""
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
        pictures = list({picture_id for _, picture_id, *_ in told})
        state = {doc["_id"]: doc for doc in await _find_in(self.activity, "_id", keys)}
        gone = await self._deleted(pictures)
        touched: set[tuple[str, str]] = set()
        changed: dict[str, dict] = {}
        for key, picture_id, kind, live, at in told:
            if picture_id in gone:
                continue
            stamp = utc_stamp(at)
            before = changed.get(key) or state.get(key)
            if before is not None and before["changed_at"] > stamp:
                continue  # a later event wrote it already
            bucket = utc_stamp(bucket_of(at))
            if before is not None:
                touched.add((picture_id, before["bucket"]))
                if before["live"] or not live:
                    # Told again, or taken back: it counts, or stops counting, where it did.
                    bucket = before["bucket"]
            changed[key] = {"picture_id": picture_id, "kind": kind, "bucket": bucket,
                            "live": live, "changed_at": stamp}
            touched.add((picture_id, bucket))
        await _bulk(self.activity, [
            UpdateOne({"_id": key, "changed_at": {"$lte": doc["changed_at"]}}, {"$set": doc},
                      upsert=True)
            for key, doc in changed.items()])
        await self.recount(touched)
        self.changed = self.changed or bool(touched)

    async def recount(self, touched: set[tuple[str, str]]) -> None:
        """Set the counts of the (picture, bucket) pairs ``touched`` from the activity."""
        if not touched:
            return
        ids = {_bucket_id(p, b): (p, b) for p, b in touched}
        await self.buckets.bulk_write([
            UpdateOne({"_id": i}, {"$inc": {"changes": 1},
                                   "$setOnInsert": {"picture_id": p, "bucket": b, "counted": 0}},
                      upsert=True)
            for i, (p, b) in ids.items()], ordered=False)
        changes = {doc["_id"]: doc["changes"]
                   for doc in await _find_in(self.buckets, "_id", list(ids), {}, {"changes": 1})}
        counts: dict[str, dict[str, int]] = {i: dict.fromkeys(KINDS, 0) for i in ids}
        live = await _find_in(self.activity, "picture_id", list({p for p, _ in touched}),
                              {"bucket": {"$in": list({b for _, b in touched})}, "live": True},
                              {"picture_id": 1, "bucket": 1, "kind": 1})
        for doc in live:
            i = _bucket_id(doc["picture_id"], doc["bucket"])
            if i in counts:
                counts[i][doc["kind"]] += 1
        await _bulk(self.buckets, [
            UpdateOne({"_id": i, "counted": {"$lt": changes[i]}},
                      {"$set": {**counts[i], "counted": changes[i]}})
            for i in ids if i in changes])  # not there: its picture was deleted meanwhile

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
        """Remove buckets and activity too old to count in any window, and the inbox's
        records of events that old (applied again, they would be too old to count)."""
        cutoff = utc_stamp(bucket_of(self.clock() - KEPT))
        await self.buckets.delete_many({"bucket": {"$lt": cutoff}})
        await self.activity.delete_many({"changed_at": {"$lt": cutoff}})
        await self.db[TRENDING_PROCESSED].delete_many({"applied_at": {"$lt": cutoff}})
