"""The purchases service's own catalogue: what it sells, from ``picasso.pictures.events``.

A purchase fixes its price, currency and seller from this catalogue, and its events carry
the picture's title from it; the pictures collection is the uploads service's and is never
read here. Each field keeps the time of the event that told it
(:func:`picasso.projection.remember`), so events applied late or twice never undo a newer
price, title or deletion.
"""

from __future__ import annotations

from dataclasses import dataclass

from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.mongo import PURCHASES_CATALOGUE
from picasso.projection import remember, wait_for
from topics.envelope import CloudEvent
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED, PICTURE_UPDATED
from topics.record import Record

# What a purchase needs of a picture; ``status`` is present once it was published.
_SOLD = ("owner_id", "title", "price_cents", "currency")


@dataclass
class Catalogue:
    db: AsyncIOMotorDatabase

    @property
    def collection(self):
        return self.db[PURCHASES_CATALOGUE]

    async def handle(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """Apply one pictures event; the ones a purchase needs nothing of are ignored."""
        d = event.data
        if record.type == PICTURE_PUBLISHED.type:
            fields = {k: d[k] for k in _SOLD} | {"status": "published"}
        elif record.type == PICTURE_UPDATED.type:
            fields = {k: d[k] for k in _SOLD if k in d}
        elif record.type == PICTURE_DELETED.type:
            fields = {"status": "deleted", "owner_id": d["owner_id"]}
        else:
            return []
        await remember(self.collection, d["picture_id"], fields, event.time)
        return []

    async def picture(self, picture_id: str, wait_s: float = 0.0) -> dict | None:
        """The picture as the catalogue knows it, waiting up to ``wait_s`` for its
        PicturePublished; None if it is still unknown."""
        return await wait_for(self.collection, {"_id": picture_id, "status": {"$exists": True}},
                              wait_s)

    async def title(self, picture_id: str) -> str:
        doc = await self.collection.find_one({"_id": picture_id}, {"title": 1})
        return doc["title"] if doc and doc.get("title") else picture_id
