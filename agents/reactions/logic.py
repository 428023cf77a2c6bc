"""Likes: one document per (picture, user), and each picture's count derived from them.

``like_count`` is recounted from the likes themselves after every change instead of being
incremented, so a redelivered command or a crash between the two writes can never make the
count drift from the number of distinct users who like the picture.
"""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.mongo import LIKE_COUNTS, LIKES
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE, PICTURE_LIKED, PICTURE_UNLIKED
from topics.record import Record

SOURCE = "/picasso/agents/reactions"


async def ensure_indexes(db: AsyncIOMotorDatabase) -> None:
    await db[LIKES].create_index([("picture_id", 1), ("user_id", 1)], unique=True)
    await db[LIKES].create_index([("user_id", 1), ("picture_id", 1)])


async def apply_reaction(db: AsyncIOMotorDatabase, record: Record,
                         command: CloudEvent) -> list[CloudEvent]:
    """Apply a LikePicture or UnlikePicture command; returns the event it causes."""
    picture_id = command.data["picture_id"]
    user_id = command.data["user_id"]
    key = {"picture_id": picture_id, "user_id": user_id}
    if record is LIKE_PICTURE:
        await db[LIKES].update_one(key, {"$setOnInsert": {"liked_at": command.time}}, upsert=True)
        outcome = PICTURE_LIKED
    else:
        await db[LIKES].delete_one(key)
        outcome = PICTURE_UNLIKED
    count = await db[LIKES].count_documents({"picture_id": picture_id})
    await db[LIKE_COUNTS].update_one(
        {"_id": picture_id}, {"$set": {"like_count": count}}, upsert=True
    )
    return [command.caused(outcome.type, {**key, "like_count": count}, SOURCE)]
