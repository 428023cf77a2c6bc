"""The timeline service's own catalogue of pictures, from ``picasso.pictures.events``.

What a timeline needs of a picture: its owner, when it was made (the timeline's order) and
whether it is published. Fields are guarded by their event's time
(:func:`picasso.projection.remember`), so a PicturePublished redelivered after the
PictureDeleted never brings a picture back. Backfills on follow read this, never the
uploads service's ``pictures``.
"""

from __future__ import annotations

from dataclasses import dataclass

from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.mongo import TIMELINE_PICTURES
from picasso.projection import remember

PUBLISHED = "published"
DELETED = "deleted"


@dataclass
class Catalogue:
    db: AsyncIOMotorDatabase

    @property
    def collection(self):
        return self.db[TIMELINE_PICTURES]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("owner_id", 1), ("status", 1), ("created_at", -1), ("_id", -1)])

    async def published(self, picture_id: str, owner_id: str, created_at: str,
                        at: str) -> dict | None:
        """Record a publication; answers the picture if it is (still) published."""
        await remember(self.collection, picture_id, {
            "owner_id": owner_id, "created_at": created_at, "status": PUBLISHED}, at)
        return await self.collection.find_one({"_id": picture_id, "status": PUBLISHED})

    async def deleted(self, picture_id: str, owner_id: str, at: str) -> None:
        await remember(self.collection, picture_id,
                       {"owner_id": owner_id, "status": DELETED}, at)

    async def recent(self, owner_id: str, limit: int) -> list[dict]:
        """The owner's newest published pictures, newest first."""
        found = self.collection.find({"owner_id": owner_id, "status": PUBLISHED})
        return await found.sort([("created_at", -1), ("_id", -1)]).to_list(limit)

    async def gone(self, picture_ids: list[str]) -> list[str]:
        """Which of ``picture_ids`` are no longer published."""
        if not picture_ids:
            return []
        found = self.collection.find({"_id": {"$in": picture_ids}, "status": {"$ne": PUBLISHED}},
                                     {"_id": 1})
        return [doc["_id"] async for doc in found]
