"""The users projection: profiles the edge shows next to pictures (display names) and
in GET /me (with the mail preferences)."""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.mongo import USERS
from topics.envelope import CloudEvent
from topics.record import Record
from topics.users import USER_PREFERENCES_CHANGED, USER_REGISTERED


async def apply_user_event(db: AsyncIOMotorDatabase, record: Record,
                           event: CloudEvent) -> list[CloudEvent]:
    """Upsert the profile (and the mail preferences shown by GET /me); idempotent."""
    data = event.data
    if record is USER_PREFERENCES_CHANGED:
        changes = {f"preferences.{kind}": on for kind, on in data["preferences"].items()}
    else:
        changes = {k: data[k] for k in ("email", "display_name", "bio", "avatar_picture_id")
                   if k in data}
    update: dict = {"$set": {**changes, "updated_at": event.time}}
    if record is USER_REGISTERED:
        update["$setOnInsert"] = {"registered_at": event.time}
    await db[USERS].update_one({"_id": data["user_id"]}, update, upsert=True)
    return []
