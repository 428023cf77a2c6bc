"""The reactions agent's batch logic on a real MongoDB: last word per (picture, user),
counts equal to the likers, and a batch applied twice (a redelivery) changing nothing."""

from __future__ import annotations

import uuid

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from agents.reactions.likes import apply_reactions, ensure_indexes
from picasso.mongo import LIKE_COUNTS, LIKES
from picasso.settings import Settings
from tests.integration.test_reactions_delivery import like_command
from topics.reactions import LIKE_PICTURE, UNLIKE_PICTURE


@pytest.fixture
async def db(stack):
    settings = Settings.from_env(stack.env())
    client = AsyncIOMotorClient(settings.mongodb_url)
    name = f"reactions_{uuid.uuid4().hex[:8]}"
    await ensure_indexes(client[name])
    yield client[name]
    await client.drop_database(name)


def batch(*steps: tuple[str, str, bool]):
    out = []
    for picture, user, like in steps:
        command = like_command(picture, user, like)
        out.append((LIKE_PICTURE if like else UNLIKE_PICTURE, command))
    return out


async def state(db) -> tuple[dict, set]:
    counts = {d["_id"]: d["like_count"] async for d in db[LIKE_COUNTS].find()}
    likes = {(d["picture_id"], d["user_id"]) async for d in db[LIKES].find()}
    return counts, likes


async def test_the_last_word_per_user_wins_and_counts_follow(db) -> None:
    first = batch(("a", "u1", True), ("a", "u2", True), ("b", "u1", True), ("a", "u1", True))
    caused = await apply_reactions(db, first)
    assert [e.data["like_count"] for [e] in caused] == [2, 2, 1, 2]
    second = batch(("a", "u1", False), ("a", "u3", True), ("a", "u3", False),
                   ("b", "u2", False), ("b", "u2", True), ("c", "u9", False))
    await apply_reactions(db, second)
    counts, likes = await state(db)
    assert counts == {"a": 1, "b": 2, "c": 0}
    assert likes == {("a", "u2"), ("b", "u1"), ("b", "u2")}
    # The same batch again, as after a crash before the inbox recorded it: no change.
    again = await apply_reactions(db, second)
    assert await state(db) == (counts, likes)
    assert {e.data["picture_id"]: e.data["like_count"] for [e] in again} == counts
