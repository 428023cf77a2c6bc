"""The users projection: profiles the edge shows next to pictures (display names)."""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.mongo import USERS
from topics.envelope import CloudEvent
from topics.record import Record
from topics.users import USER_REGISTERED


async def apply_user_event(db: AsyncIOMotorDatabase, record: Record,
                           event: CloudEvent) -> list[CloudEvent]:
    """Upsert the profile; applying the same fact twice leaves the same document."""
    data = event.data
    changes = {k: data[k] for k in ("email", "display_name") if k in data}
    update: dict = {"$set": {**changes, "updated_at": event.time}}
    if record is USER_REGISTERED:
        update["$setOnInsert"] = {"registered_at": event.time}
    await db[USERS].update_one({"_id": data["user_id"]}, update, upsert=True)
    return []
