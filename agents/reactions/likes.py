"""Likes: one document per (picture, user), and each picture's count derived from them.

``like_count`` is recounted from the likes themselves after every change instead of being
incremented, so a redelivered command or a crash between the two writes can never make the
count drift from the number of distinct users who like the picture.

The worker applies likes in batches (:func:`apply_reactions`): the touched pictures' likes
are read in one query, the batch's real changes written in one bulk write and the counts
set in one more, whatever the batch's size.
"""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import DeleteOne, UpdateOne

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
    """Apply one LikePicture or UnlikePicture command; returns the event it causes."""
    [caused] = await apply_reactions(db, [(record, command)])
    return caused


async def apply_reactions(db: AsyncIOMotorDatabase,
                          commands: list[tuple[Record, CloudEvent]]) -> list[list[CloudEvent]]:
    """Apply many Like/UnlikePicture commands at once, in order; one event per command.

    The likes of the touched pictures are read once; only the batch's real changes are
    written (a like of a liked picture writes nothing), and each count is set to the size
    of the picture's likes after the batch. A redelivered batch reads the state its first
    attempt left, so it changes nothing and sets the same counts. Each event carries the
    picture's count after the whole batch.
    """
    last: dict[tuple[str, str], tuple[Record, CloudEvent]] = {}
    for record, command in commands:
        last[(command.data["picture_id"], command.data["user_id"])] = (record, command)
    pictures = list({picture_id for picture_id, _ in last})
    likers: dict[str, set[str]] = {picture_id: set() for picture_id in pictures}
    found = db[LIKES].find({"picture_id": {"$in": pictures}},
                           {"_id": 0, "picture_id": 1, "user_id": 1})
    async for doc in found:
        likers[doc["picture_id"]].add(doc["user_id"])
    writes: list[UpdateOne | DeleteOne] = []
    for (picture_id, user_id), (record, command) in last.items():
        key = {"picture_id": picture_id, "user_id": user_id}
        if record is LIKE_PICTURE and user_id not in likers[picture_id]:
            writes.append(UpdateOne(key, {"$setOnInsert": {"liked_at": command.time}},
                                    upsert=True))
            likers[picture_id].add(user_id)
        elif record is not LIKE_PICTURE and user_id in likers[picture_id]:
            writes.append(DeleteOne(key))
            likers[picture_id].discard(user_id)
    if writes:
        await db[LIKES].bulk_write(writes, ordered=False)
    counts = {picture_id: len(users) for picture_id, users in likers.items()}
    await db[LIKE_COUNTS].bulk_write(
        [UpdateOne({"_id": p}, {"$set": {"like_count": n}}, upsert=True)
         for p, n in counts.items()], ordered=False)
    caused = []
    for record, command in commands:
        outcome = PICTURE_LIKED if record is LIKE_PICTURE else PICTURE_UNLIKED
        picture_id, user_id = command.data["picture_id"], command.data["user_id"]
        data = {"picture_id": picture_id, "user_id": user_id, "like_count": counts[picture_id]}
        caused.append([command.caused(outcome.type, data, SOURCE)])
    return caused
