"""The reactions batch handler alone, alternating fresh pictures and a popular one.

``python bench/handler_rounds.py <mongodb url> <database> <popular picture> <rounds>
<likes a batch>``, with the tree to measure first on PYTHONPATH (only ``agents`` and
``topics`` are imported, which every tree has): ``rounds`` times a batch of new likes of a
fresh picture, then one of the popular picture, each through ``apply_reactions`` on the
given store. Prints one JSON line: each kind's seconds per batch.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid

from motor.motor_asyncio import AsyncIOMotorClient

from agents.reactions.likes import apply_reactions
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE


def _batch(picture_id: str, n: int, tag: str) -> list:
    return [(LIKE_PICTURE, CloudEvent(type=LIKE_PICTURE.type, subject=picture_id, source="/bench",
                                      data={"picture_id": picture_id,
                                            "user_id": f"handler-{tag}-{i}"}))
            for i in range(n)]


async def _rounds(url: str, database: str, popular: str, rounds: int, size: int) -> dict:
    db = AsyncIOMotorClient(url)[database]
    run = uuid.uuid4().hex[:6]
    seconds: dict[str, list[float]] = {"fresh": [], "popular": []}
    for n in range(rounds):
        for kind, picture_id in (("fresh", f"handler-{run}-{n}"), ("popular", popular)):
            batch = _batch(picture_id, size, f"{run}-{n}")
            began = time.perf_counter()
            await apply_reactions(db, batch)
            seconds[kind].append(time.perf_counter() - began)
    return seconds


if __name__ == "__main__":
    url, database, popular, rounds, size = sys.argv[1:6]
    print(json.dumps(asyncio.run(_rounds(url, database, popular, int(rounds), int(size)))))
