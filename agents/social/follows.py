"""Follows: one document per (follower, followee), and each person's counts derived from them.

Like likes, the counts are recounted from the documents instead of incremented, so a
redelivered command or a crash between two writes can never make a count drift:

* ``following_count`` is set by the follows agent, which applies one follower's commands in
  order (they are keyed by the follower), right after it changed that follower's follows.
* ``followers_count`` is set by the followers agent from the facts on
  ``picasso.social.events``, keyed by the followee: one followee's facts come in order on
  one partition, and each recounts that followee's followers after the follow it tells of
  was written. The last fact about a person is counted after the last change to their
  followers, so the count ends exact; followers of different people, written by followers
  on other partitions, never race on one count.

Storing the counts keeps a profile read at one document however many followers someone has
(counting at read would walk an index of millions for a celebrity).
"""

from __future__ import annotations

import asyncio

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import DeleteOne, UpdateOne

from picasso.mongo import COMMAND_RESULTS, FOLLOWS, SOCIAL_COUNTS
from picasso.runtime import Rejected
from topics.envelope import CloudEvent, derived_id, utc_now
from topics.record import Record
from topics.social import FOLLOW_USER, USER_FOLLOWED, USER_UNFOLLOWED

SOURCE = "/picasso/agents/social"
SELF_FOLLOW = "nobody follows themselves"


async def ensure_indexes(db: AsyncIOMotorDatabase) -> None:
    await db[FOLLOWS].create_index([("follower_id", 1), ("followee_id", 1)], unique=True)
    # The lists, newest first: whom one follows, and who follows one.
    await db[FOLLOWS].create_index([("follower_id", 1), ("followed_at", -1), ("followee_id", -1)])
    await db[FOLLOWS].create_index([("followee_id", 1), ("followed_at", -1), ("follower_id", -1)])


async def _set_counts(db: AsyncIOMotorDatabase, field: str, counts: dict[str, int]) -> None:
    """Set one of the counts of each person in ``counts``."""
    await db[SOCIAL_COUNTS].bulk_write(
        [UpdateOne({"_id": person}, {"$set": {field: n}}, upsert=True)
         for person, n in counts.items()], ordered=False)


async def apply_follows(db: AsyncIOMotorDatabase,
                        commands: list[tuple[Record, CloudEvent]]) -> list[list[CloudEvent]]:
    """Apply many Follow/UnfollowUser commands at once, in order; one event per command.

    The touched follows are read once, only real changes are written, and each touched
    follower's ``following_count`` is set to the number of people they follow afterwards.
    A redelivered batch finds the state its first attempt left, changes nothing and sets the
    same counts. A self-follow is refused before anything is written.
    """
    for record, command in commands:
        if record is FOLLOW_USER and command.data["follower_id"] == command.data["followee_id"]:
            raise Rejected(SELF_FOLLOW)
    last: dict[tuple[str, str], tuple[Record, CloudEvent]] = {}
    for record, command in commands:
        last[(command.data["follower_id"], command.data["followee_id"])] = (record, command)
    followers = list({follower for follower, _ in last})
    followees = list({followee for _, followee in last})
    existing: set[tuple[str, str]] = set()
    found = db[FOLLOWS].find({"follower_id": {"$in": followers},
                              "followee_id": {"$in": followees}},
                             {"_id": 0, "follower_id": 1, "followee_id": 1})
    async for doc in found:
        existing.add((doc["follower_id"], doc["followee_id"]))
    writes: list[UpdateOne | DeleteOne] = []
    for pair, (record, command) in last.items():
        key = {"follower_id": pair[0], "followee_id": pair[1]}
        if record is FOLLOW_USER and pair not in existing:
            writes.append(UpdateOne(key, {"$setOnInsert": {"followed_at": command.time}},
                                    upsert=True))
        elif record is not FOLLOW_USER and pair in existing:
            writes.append(DeleteOne(key))
    if writes:
        await db[FOLLOWS].bulk_write(writes, ordered=False)
    numbers = await asyncio.gather(*(db[FOLLOWS].count_documents({"follower_id": f})
                                     for f in followers))
    counts = dict(zip(followers, numbers))
    await _set_counts(db, "following_count", counts)
    caused = []
    for record, command in commands:
        outcome = USER_FOLLOWED if record is FOLLOW_USER else USER_UNFOLLOWED
        follower, followee = command.data["follower_id"], command.data["followee_id"]
        # Facts are keyed by the followee (topics.social), commands by the follower.
        caused.append([CloudEvent(
            type=outcome.type, subject=followee, source=SOURCE,
            id=derived_id(command.id, outcome.type),
            data={"follower_id": follower, "followee_id": followee,
                  "following_count": counts[follower]})])
    return caused


async def count_followers(db: AsyncIOMotorDatabase,
                          facts: list[tuple[Record, CloudEvent]]) -> list[list[CloudEvent]]:
    """Recount the followers of each followee the follow facts name, once per followee
    however many facts a batch holds about them (a celebrity's burst of follows is one
    count, not one per follow); idempotent, and no events of its own.

    Then each fact's own id is written to ``command_results``, so that a reader waiting
    for the follow command (``GET /users/{id}?after=<command_id>``) sees the new count."""
    followees = list({event.data["followee_id"] for _, event in facts})
    numbers = await asyncio.gather(*(db[FOLLOWS].count_documents({"followee_id": f})
                                     for f in followees))
    await _set_counts(db, "followers_count", dict(zip(followees, numbers)))
    now = utc_now()
    await db[COMMAND_RESULTS].bulk_write(
        [UpdateOne({"_id": event.id}, {"$set": {
            "service": "social", "type": event.type, "subject": event.subject,
            "outcome": "applied", "reason": None, "applied_at": now}}, upsert=True)
         for _, event in facts], ordered=False)
    return [[] for _ in facts]
