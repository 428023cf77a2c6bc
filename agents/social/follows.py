"""Follows: one document per (follower, followee), and each person's counts derived from them.

A follow's document is its state (``active``; an unfollow keeps it, ``active`` false, for
the inbox's window) with the version of its last command, written only over an older one;
each count is set only where nobody set it since it was counted (:mod:`picasso.versions`).
So a worker whose partitions moved while it was writing undoes nothing when its writes land
late. The counts are recounted from the documents instead of incremented, so a redelivered
command or a crash between two writes can never make a count drift:

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

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import UpdateOne

from picasso.mongo import (
    FOLLOWING,
    FOLLOWS,
    SOCIAL_COUNTS,
    bulk_write_done_once,
    ensure_expiry,
)
from picasso.runtime import CommandResults, Position, Rejected
from picasso.versions import GONE_FIELD, NONE, gone_date, last_words, older_than, set_counts
from topics.envelope import CloudEvent, derived_id
from topics.record import Record
from topics.social import FOLLOW_USER, USER_FOLLOWED, USER_UNFOLLOWED

SOURCE = "/picasso/agents/social"
SELF_FOLLOW = "nobody follows themselves"


async def ensure_indexes(db: AsyncIOMotorDatabase, retention_s: float | None = None) -> None:
    """The pairs' unique key, the two lists newest first, and (with ``retention_s``) the
    expiry of undone follows: older commands than that are never delivered again."""
    await db[FOLLOWS].create_index([("follower_id", 1), ("followee_id", 1)], unique=True)
    # The lists, newest first: whom one follows, and who follows one.
    await db[FOLLOWS].create_index([("follower_id", 1), ("followed_at", -1), ("followee_id", -1)])
    await db[FOLLOWS].create_index([("followee_id", 1), ("followed_at", -1), ("follower_id", -1)])
    # What a guarded write finds its pair by (picasso.versions.older_than).
    await db[FOLLOWS].create_index([("follower_id", 1), ("followee_id", 1), ("version", 1)])
    if retention_s is not None:
        await ensure_expiry(db[FOLLOWS], GONE_FIELD, retention_s)


async def apply_follows(db: AsyncIOMotorDatabase, commands: list[tuple[Record, CloudEvent]],
                        positions: list[Position] | None = None) -> list[list[CloudEvent]]:
    """Apply many Follow/UnfollowUser commands at once, in order; one event per command.

    The touched follows are read once; each takes the batch's last word unless it holds a
    newer command already (a version, :mod:`picasso.versions`: a worker that lost its
    partitions and writes late undoes nothing); then each touched follower's
    ``following_count`` is set to the number of people they follow. A redelivered batch
    finds the state its first attempt left, changes nothing and sets the same counts. A
    self-follow is refused before anything is written.
    """
    for record, command in commands:
        if record is FOLLOW_USER and command.data["follower_id"] == command.data["followee_id"]:
            raise Rejected(SELF_FOLLOW)
    words = last_words(commands, positions,
                       lambda c: (c.data["follower_id"], c.data["followee_id"]), FOLLOW_USER)
    followers = list({follower for follower, _ in words})
    followees = list({followee for _, followee in words})
    states: dict[tuple[str, str], tuple[bool, str | None]] = {}
    found = db[FOLLOWS].find({"follower_id": {"$in": followers},
                              "followee_id": {"$in": followees}},
                             {"_id": 0, "follower_id": 1, "followee_id": 1, "active": 1,
                              "version": 1})
    async for doc in found:
        states[(doc["follower_id"], doc["followee_id"])] = (doc.get("active", True),
                                                            doc.get("version"))
    writes = []
    for (follower, followee), word in words.items():
        active, held = states.get((follower, followee), (False, NONE))
        if held is not None and word.version <= held:
            continue  # this command, or a newer one, is there already
        if word.on:
            update: dict = {"$set": {"active": True, "version": word.version},
                            "$unset": {GONE_FIELD: ""}}
            if not active:
                update["$set"]["followed_at"] = word.at
        else:
            update = {"$set": {"active": False, "version": word.version,
                               GONE_FIELD: gone_date(word.version)},
                      "$unset": {"followed_at": ""}}
        writes.append(UpdateOne({"follower_id": follower, "followee_id": followee,
                                 **older_than(word.version, held)}, update, upsert=True))
    await bulk_write_done_once(db[FOLLOWS], writes)
    counts = await set_counts(
        db[SOCIAL_COUNTS], "following_count",
        lambda f: db[FOLLOWS].count_documents({"follower_id": f, **FOLLOWING}), followers)
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
    await set_counts(
        db[SOCIAL_COUNTS], "followers_count",
        lambda f: db[FOLLOWS].count_documents({"followee_id": f, **FOLLOWING}), followees)
    await CommandResults(db, "social").write([event for _, event in facts], "applied")
    return [[] for _ in facts]
