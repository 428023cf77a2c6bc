"""The operator's commands on the services' Faust apps, run as real processes against the
session's system: dead letters listed and replayed (applied once), read models (pictures,
like counts, purchases) rebuilt and switched with no gap in reads, topics created and
described, consumer lag per partition."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from deploy.local.processes import faust_command
from picasso.mongo import (
    COMMAND_RESULTS,
    COMMENT_COUNTS,
    COMMENTS,
    COMMENTS_PICTURES,
    COMMENTS_PROCESSED,
    LIKE_COUNTS,
    PICTURES,
    PURCHASES,
    PURCHASES_CATALOGUE,
)
from picasso.runtime import dead_letter_data
from picasso.settings import Settings
from tests.e2e.test_purchases import settled
from tests.helpers import Api, jpeg_with_gps, produce, read_topic
from tests.integration.test_comments_delivery import add
from topics import COMMENTS_COMMANDS, DEADLETTER, PICTURES_EVENTS
from topics.deadletter import MESSAGE_REJECTED
from topics.envelope import CloudEvent

# Each command is a real process (about 2 s of start-up on an idle machine, 10 s on a busy
# one), and the rebuild test runs a dozen.
pytestmark = pytest.mark.timeout(900)


async def run(env: dict[str, str], domain: str, *args: str,
              timeout_s: float = 120) -> tuple[int, str]:
    """``faust -A agents.<domain>.app <args>``: its exit status and output."""
    process = await asyncio.create_subprocess_exec(
        *faust_command(domain), *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    return process.returncode, out.decode()


async def until(check, timeout_s: float = 30.0):
    for _ in range(int(timeout_s * 10)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("not in time")


def db_of(settings: Settings):
    return AsyncIOMotorClient(settings.mongodb_url, tz_aware=True)[settings.mongodb_database]


async def comment_count(db, picture_id: str) -> int:
    doc = await db[COMMENT_COUNTS].find_one({"_id": picture_id})
    return doc["comment_count"] if doc else 0


async def test_a_dead_letter_is_replayed_once_its_cause_is_fixed(
        system: str, system_env: dict[str, str], settings: Settings) -> None:
    db = db_of(settings)
    picture_id = f"later-{uuid.uuid4().hex}"
    command = add(picture_id, "user-a")  # a comment on a picture comments does not know yet
    await produce(settings.kafka_bootstrap, COMMENTS_COMMANDS.name(settings.topic_prefix),
                  command.to_json(), picture_id.encode())
    letter = await read_topic(settings.kafka_bootstrap, DEADLETTER.name(settings.topic_prefix),
                              lambda m: m["data"].get("original_id") == command.id, 30)
    assert picture_id in letter["data"]["reason"]

    code, out = await run(system_env, "comments", "deadletters", "--type", "AddComment",
                          "--reason", picture_id)
    assert code == 0, out
    assert letter["id"] in out and "agent=comments" in out and "1 letter(s)" in out, out
    code, out = await run(system_env, "comments", "deadletters", "--reason", picture_id,
                          "--type", "LikePicture")
    assert "0 letter(s)" in out, out
    code, out = await run(system_env, "comments", "deadletters", "--json", "--within", "600",
                          "--topic", COMMENTS_COMMANDS.base_name, "--reason", picture_id)
    [shown] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert shown["original_id"] == command.id and shown["offset"] == letter["data"]["offset"]

    # No choice at all is refused, and so is a topic not in the contract; a dry run sends
    # nothing.
    code, out = await run(system_env, "comments", "deadletters-replay")
    assert code == 2, out
    code, out = await run(system_env, "comments", "deadletters", "--topic", "no.such.topic")
    assert code == 2 and "not a topic of the contract" in out, out
    code, out = await run(system_env, "comments", "deadletters-replay", "--reason", picture_id,
                          "--dry-run")
    assert code == 0 and "would replay 1, could not replay 0" in out, out
    assert "from the original at" in out, out

    # The cause fixed (the catalogue, as the picture's PicturePublished would leave it),
    # the replay applies the command, and a second replay changes nothing.
    await db[COMMENTS_PICTURES].insert_one(
        {"_id": picture_id, "owner_id": "owner", "status": "published"})
    code, out = await run(system_env, "comments", "deadletters-replay", "--id", letter["id"])
    assert code == 0 and "replayed 1, could not replay 0" in out, out
    await until(lambda: db[COMMENTS_PROCESSED].find_one({"_id": command.id, "sent": True}))
    code, out = await run(system_env, "comments", "deadletters-replay", "--reason", picture_id)
    assert code == 0 and "replayed 1" in out, out
    code, out = await run(system_env, "comments", "lag", "--wait", "30")
    assert code == 0, out
    assert await comment_count(db, picture_id) == 1
    assert await db[COMMENTS].count_documents({"picture_id": picture_id}) == 1
    result = await db[COMMAND_RESULTS].find_one({"_id": command.id})
    assert result["outcome"] == "applied", result


async def test_a_letter_whose_original_is_gone(
        system: str, system_env: dict[str, str], settings: Settings) -> None:
    """Past retention: a whole payload is replayed from the letter; an excerpt is not."""
    db = db_of(settings)
    picture_id = f"gone-{uuid.uuid4().hex}"
    await db[COMMENTS_PICTURES].insert_one(
        {"_id": picture_id, "owner_id": "owner", "status": "published"})
    topic = COMMENTS_COMMANDS.name(settings.topic_prefix)
    whole = add(picture_id, "user-a")
    big = add(picture_id, "user-b", text="x" * 1000)
    letters = []
    for n, (command, cut) in enumerate(((whole, False), (big, True))):
        raw = command.to_json()
        data = dead_letter_data("comments", f"test: {picture_id}", raw, picture_id.encode(),
                                topic, 0, 10**9 + n, command.id)
        if cut:  # as a payload over 64 KiB would be: an excerpt, the whole one's digest
            data |= {"payload": data["payload"][:100], "payload_truncated": True}
        assert data["payload_sha256"] == hashlib.sha256(raw).hexdigest()
        letter = CloudEvent(type=MESSAGE_REJECTED.type, subject=picture_id, data=data,
                            source="/tests", id=f"{topic}/0/{10**9 + n}")
        await produce(settings.kafka_bootstrap, DEADLETTER.name(settings.topic_prefix),
                      letter.to_json(), picture_id.encode())
        letters.append(letter.id)
    code, out = await run(system_env, "comments", "deadletters-replay", "--reason", picture_id)
    assert code == 1, out
    assert "replayed 1, could not replay 1" in out, out
    assert f"{letters[0]}: replayed" in out and "the letter's payload" in out, out
    assert f"{letters[1]}: cannot replay" in out, out
    await until(lambda: db[COMMENTS_PROCESSED].find_one({"_id": whole.id, "sent": True}))
    assert await comment_count(db, picture_id) == 1


async def snapshot(db, name: str) -> list[dict]:
    return sorted([doc async for doc in db[name].find({})], key=lambda d: d["_id"])


async def test_read_models_rebuilt_equal_the_originals(
        api: Api, system_env: dict[str, str], settings: Settings) -> None:
    db = db_of(settings)
    ada, bob = await api.register("Ada"), await api.register("Bob")
    kept = await api.published(ada, jpeg_with_gps(64, 48), title="Kept", tags="sea,sky")
    edited = await api.published(ada, jpeg_with_gps(64, 48), title="Before", price_cents=0)
    gone = await api.published(ada, jpeg_with_gps(64, 48), title="Gone", price_cents=500)
    status, body = await api.upload(ada, b"\xff\xd8\xff\xe0" + b"\x00" * 2000, title="Bad",
                                    tags="x", price_cents=700)
    assert status == 202, body
    rejected = body["picture_id"]
    calls = [("PATCH", f"/api/v1/pictures/{edited['picture_id']}",
              {"title": "After", "price_cents": 900}),
             ("DELETE", f"/api/v1/pictures/{gone['picture_id']}", None),
             ("PUT", f"/api/v1/pictures/{kept['picture_id']}/like", None),
             ("PUT", f"/api/v1/pictures/{edited['picture_id']}/like", None),
             ("DELETE", f"/api/v1/pictures/{edited['picture_id']}/like", None)]
    for method, path, payload in calls:
        user = ada if "like" not in path else bob
        status, answer, _ = await api.call(method, path, user=user, json=payload)
        assert status == 202, answer
        picture_id = path.split("/")[4]
        await api.call("GET", f"/api/v1/pictures/{picture_id}?wait_ms=10000"
                              f"&after={answer['command_id']}", user=ada)
    await until(lambda: db[PICTURES].find_one({"_id": rejected, "status": "rejected"}))
    await until(lambda: db[PURCHASES_CATALOGUE].find_one(
        {"_id": edited["picture_id"], "price_cents": 900}))
    status, started, _ = await api.call("POST", f"/api/v1/pictures/{edited['picture_id']}"
                                        "/purchases", user=bob,
                                        json={"payment_method": "pm_card_visa"})
    assert status == 202, started
    assert (await settled(api, bob, started["purchase_id"]))["status"] == "completed"
    ids = [kept["picture_id"], edited["picture_id"], gone["picture_id"], rejected]
    # Every command above was applied (its result read with ?after=); the purchase's last
    # messages (the webhook's payment) too, once the purchases service has no lag.
    assert (await run(system_env, "purchases", "lag", "--wait", "30"))[0] == 0
    pictures, counts = await snapshot(db, PICTURES), await snapshot(db, LIKE_COUNTS)
    purchases = await snapshot(db, PURCHASES)
    assert started["purchase_id"] in {d["_id"] for d in purchases}
    mine = {d["_id"]: d for d in pictures if d["_id"] in ids}
    assert mine[edited["picture_id"]]["updated_at"] and mine[gone["picture_id"]]["deleted_at"]
    assert mine[rejected]["status"] == "rejected" and mine[rejected]["price_cents"] == 700
    assert {d["_id"]: d["like_count"] for d in counts
            if d["_id"] in ids} == {kept["picture_id"]: 1, edited["picture_id"]: 0}

    code, out = await run(system_env, "uploads", "rebuild", "pictures", "--dry-run")
    assert code == 0 and "0 of them the live collection lacks or holds otherwise" in out, out
    assert "it holds 0 the source does not make" in out, out
    collections = set(await db.list_collection_names())
    indexes = await db[PICTURES].index_information()

    # Rebuilt over the live collection while readers read it: never a gap.
    misses = 0
    reading = True

    async def read() -> None:
        nonlocal misses
        while reading:
            found = await db[PICTURES].count_documents({"_id": {"$in": ids}})
            misses += found != len(ids)
            await asyncio.sleep(0.005)

    reader = asyncio.create_task(read())
    code, out = await run(system_env, "uploads", "rebuild", "pictures", "--settle", "0.5")
    reading = False
    await reader
    assert code == 0 and "switched to the rebuilt collection" in out, out
    assert misses == 0
    assert set(await db.list_collection_names()) == collections  # no collection left behind
    assert await snapshot(db, PICTURES) == pictures
    assert await db[PICTURES].index_information() == indexes

    # Deleted, rebuilt, compared document by document.
    for domain, name, before in (("uploads", PICTURES, pictures),
                                 ("reactions", LIKE_COUNTS, counts),
                                 ("purchases", PURCHASES, purchases)):
        await db[name].drop()
        code, out = await run(system_env, domain, "rebuild", name, "--settle", "0.5")
        assert code == 0, out
        after = await snapshot(db, name)
        assert [d["_id"] for d in after] == [d["_id"] for d in before], (
            name, [d for d in after if d not in before], [d for d in before if d not in after])
        # A count's ``entry`` is the reactions agent's claim on it, not the read model's.
        aside = {"entry"} if name == LIKE_COUNTS else set()
        for old, new in zip(before, after):
            assert {k: v for k, v in old.items() if k not in aside} == new
    status, seen, _ = await api.call("GET", f"/api/v1/pictures/{edited['picture_id']}")
    assert status == 200 and seen["title"] == "After" and seen["like_count"] == 0


async def test_topics_created_described_and_lag_per_partition(
        system: str, system_env: dict[str, str], settings: Settings) -> None:
    env = {**system_env, "PICASSO_TOPIC_PREFIX": f"ops{uuid.uuid4().hex[:6]}."}
    code, out = await run(env, "uploads", "topics-describe", PICTURES_EVENTS.base_name)
    assert code == 1 and "missing" in out, out
    code, out = await run(env, "uploads", "topics-create", PICTURES_EVENTS.base_name,
                          "--partitions", "3", "--replication", "1", "--dry-run")
    assert code == 0 and "would create with 3 partition(s), replication 1" in out, out
    assert (await run(env, "uploads", "topics-describe", PICTURES_EVENTS.base_name))[0] == 1
    code, out = await run(env, "uploads", "topics-create", PICTURES_EVENTS.base_name,
                          "--partitions", "3", "--replication", "1")
    assert code == 0 and "created with 3 partition(s)" in out, out
    code, out = await run(env, "uploads", "topics-describe", PICTURES_EVENTS.base_name)
    assert code == 0, out
    name = PICTURES_EVENTS.name(env["PICASSO_TOPIC_PREFIX"])
    assert f"{name}: 3 partition(s), replication 1" in out, out
    assert all(f"{name}[{p}] leader=" in out for p in range(3)), out
    code, out = await run(env, "uploads", "topics-create", "no.such.topic")
    assert code == 2 and "not a topic of the contract" in out, out

    # The session's groups: every partition of the topics each consumes, with its lag.
    code, out = await run(system_env, "reactions", "consumer-lag")
    assert code == 0, out
    topic = f"{settings.topic_prefix}picasso.reactions.commands"
    assert f"{settings.app_id}-reactions:" in out
    assert all(f"{topic}[{p}] committed=" in out for p in range(settings.topic_partitions)), out
    code, out = await run(system_env, "reactions", "consumer-lag", "--every-service")
    assert code == 0 and f"{settings.app_id}-mail:" in out, out
