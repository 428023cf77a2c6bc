"""The like counts read model, made again from the likes themselves.

``faust -A agents.reactions.app rebuild like_counts [--dry-run]`` (see
:mod:`picasso.ops.rebuild`). The source of truth is ``likes``, one document per (picture,
user): a picture's ``like_count`` is the number of its pairs liked, as the agent keeps it.
Claims a stopped worker left pending are written first, also under ``--dry-run`` (the next
batch about their pictures would do the same), so that the likes are counted with every
change of theirs written. Every picture a like or
unlike was applied to within the inbox's window (a subject in the reactions inbox) has a
count, 0 when nobody likes it any more, as the agent leaves it.
"""

from __future__ import annotations

from collections import Counter
from typing import AsyncIterator

from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase

from agents.reactions.likes import finish_pending
from picasso.mongo import LIKE_COUNTS, LIKED, LIKES, REACTIONS_PROCESSED
from picasso.ops.rebuild import ReadModel
from picasso.runtime import Inbox


async def everything(db: AsyncIOMotorDatabase) -> AsyncIterator[tuple[str, dict | None]]:
    await finish_pending(db)
    counts: Counter[str] = Counter()
    async for like in db[LIKES].find(LIKED, {"_id": 0, "picture_id": 1}):
        counts[like["picture_id"]] += 1
    # Every picture a like or unlike was applied to has a count, 0 when none is liked now.
    async for record in db[REACTIONS_PROCESSED].find({}, {"subject": 1, "subjects": 1}):
        for subject in Inbox.subjects_of(record):
            counts[subject] += 0
    for picture_id, n in counts.items():
        yield picture_id, {"_id": picture_id, "like_count": n}


async def some(db: AsyncIOMotorDatabase, ids: list[str]) -> dict[str, dict]:
    await finish_pending(db, ids)
    counts = Counter({picture_id: 0 for picture_id in ids})
    async for like in db[LIKES].find({"picture_id": {"$in": ids}, **LIKED},
                                     {"_id": 0, "picture_id": 1}):
        counts[like["picture_id"]] += 1
    return {p: {"_id": p, "like_count": n} for p, n in counts.items()}


async def _indexes(collection: AsyncIOMotorCollection) -> None:
    """The counts are read by picture id alone: no index beyond ``_id``."""


LIKE_COUNTS_MODEL = ReadModel(
    name=LIKE_COUNTS, inbox=REACTIONS_PROCESSED, source="the likes (likes)",
    everything=everything, some=some, ensure_indexes=_indexes,
)
