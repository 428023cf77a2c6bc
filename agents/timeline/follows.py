"""The timeline service's own copy of the follow graph, from ``picasso.social.events``.

One document per (followee, follower) whose ``follows`` is guarded by the time of the event
that set it (:func:`picasso.projection.remember`), so a follow redelivered after the
unfollow that took it back changes nothing. Unfollows stay as ``follows: false`` for that
guard. Beside it, each followee's fan-out mode (``timeline_accounts``): ``fanout`` (new
pictures are written into every follower's timeline) or ``merge`` (more followers than the
threshold: readers merge the pictures in), and whether the switch to it is complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import AsyncIterator

from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.mongo import TIMELINE_ACCOUNTS, TIMELINE_FOLLOWS
from picasso.projection import remember

FANOUT = "fanout"
MERGE = "merge"


def pair_key(first: str, second: str) -> str:
    """One document id for a pair of ids, unambiguous whatever characters they hold."""
    return json.dumps([first, second], separators=(",", ":"))


@dataclass
class Follows:
    db: AsyncIOMotorDatabase

    @property
    def edges(self):
        return self.db[TIMELINE_FOLLOWS]

    @property
    def accounts(self):
        return self.db[TIMELINE_ACCOUNTS]

    async def ensure_indexes(self) -> None:
        await self.edges.create_index([("followee_id", 1), ("follows", 1), ("follower_id", 1)])

    async def record(self, followee_id: str, follower_id: str, follows: bool, at: str) -> bool:
        """Apply one follow or unfollow told at ``at``; answers whether, after it, the
        follower follows (a newer event may already have said otherwise)."""
        key = pair_key(followee_id, follower_id)
        await remember(self.edges, key, {"followee_id": followee_id,
                                         "follower_id": follower_id, "follows": follows}, at)
        doc = await self.edges.find_one({"_id": key}, {"follows": 1})
        return bool(doc and doc.get("follows"))

    async def count(self, followee_id: str) -> int:
        return await self.edges.count_documents({"followee_id": followee_id, "follows": True})

    async def batches(self, followee_id: str, follows: bool = True,
                      size: int = 1000) -> AsyncIterator[list[str]]:
        """The followee's followers (or, with ``follows=False``, former followers), in
        lists of at most ``size`` ids."""
        found = self.edges.find({"followee_id": followee_id, "follows": follows},
                                {"follower_id": 1}).batch_size(size)
        batch: list[str] = []
        async for doc in found:
            batch.append(doc["follower_id"])
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    async def mode(self, followee_id: str) -> dict:
        """``{"mode": FANOUT|MERGE, "settled": bool}``; an account never seen fans out."""
        doc = await self.accounts.find_one({"_id": followee_id})
        return {"mode": doc["mode"], "settled": doc["settled"]} if doc else \
            {"mode": FANOUT, "settled": True}

    async def set_mode(self, followee_id: str, mode: str, settled: bool) -> None:
        await self.accounts.update_one({"_id": followee_id},
                                       {"$set": {"mode": mode, "settled": settled}},
                                       upsert=True)
