"""Every command topic fuzzed from a raw Kafka client, as a compromised or broken producer
would: malformed, oversized (over 1 MiB), deeply nested and wrongly typed messages.

Each lands in ``picasso.deadletter`` with its reason; the agents keep going (a valid
command sent after the fuzz, on the same partition, is applied), and nothing else changes.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from agents.purchases.ledger import Ledger
from picasso.mongo import LIKES, PICTURES, connect
from picasso.settings import Settings
from tests.e2e.test_purchase_delivery import purchase_command
from tests.e2e.test_purchases import settled
from tests.helpers import Api, jpeg_with_gps, produce, read_topic
from topics import DEADLETTER, PICTURES_COMMANDS, PURCHASES_COMMANDS, REACTIONS_COMMANDS
from topics.pictures import UPDATE_PICTURE
from topics.purchases import PURCHASE_PICTURE
from topics.reactions import LIKE_PICTURE

OVERSIZED_BYTES = 1_200_000
NESTING = 100_000


def fuzz(type_: str, data: dict, marker: str) -> list[bytes | None]:
    """Messages no agent may accept, for a topic whose commands are of ``type_``."""
    envelope = {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/fuzz",
                "type": type_, "subject": marker}

    def event(**fields) -> bytes:
        return json.dumps({**envelope, **fields}).encode()

    return [
        None,  # a tombstone
        b"",
        b"{not json at all",
        b"\xff\xfe\x00\x81 not UTF-8",
        b"[1, 2, 3]",
        b"null",
        b"9" * 5000,  # a number too long for int()
        # Oversized: a right-looking command whose one field is over a megabyte.
        event(data={**data, "description": "x" * OVERSIZED_BYTES}),
        # Deeply nested, in the envelope and in the data.
        b'{"specversion":"1.0","data":' + b"[" * NESTING + b"]" * NESTING + b"}",
        event(data={**data, "extra": json.loads("[" * 500 + "]" * 500)}),
        # Wrongly typed: the envelope, then the data.
        json.dumps({"specversion": 1, "id": [], "source": {}, "type": type_,
                    "data": "a string"}).encode(),
        event(data={key: 12345 for key in data}),
        event(data={key: [value] for key, value in data.items()}),
        event(data={}),
        event(type="picasso.evil.RunThis", data=data),
        event(data={**data, "owner_id": {"$ne": None}}),  # an operator where a value goes
    ]


async def test_fuzzed_command_topics_dead_letter_everything_and_keep_going(
    api: Api, settings: Settings, ledger: Ledger
) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=0)
    picture_id = picture["picture_id"]
    purchase_id = uuid.uuid4().hex
    marker = f"fuzz-{uuid.uuid4().hex[:8]}"
    # Keyed like the valid commands below, so they share a partition with the fuzz.
    topics = [
        (PICTURES_COMMANDS, picture_id, fuzz(UPDATE_PICTURE.type, {
            "picture_id": picture_id, "user_id": ada.user_id, "title": marker}, marker)),
        (REACTIONS_COMMANDS, picture_id, fuzz(LIKE_PICTURE.type, {
            "picture_id": picture_id, "user_id": f"{marker}-user"}, marker)),
        (PURCHASES_COMMANDS, purchase_id, fuzz(PURCHASE_PICTURE.type, {
            "purchase_id": purchase_id, "picture_id": picture_id,
            "buyer_id": f"{marker}-buyer"}, marker)),
    ]
    expected: set[tuple[str, str]] = set()
    for topic, key, messages in topics:
        name = topic.name(settings.topic_prefix)
        for value in messages:
            await produce(settings.kafka_bootstrap, name, value, key.encode(),
                          max_request_size=2 * OVERSIZED_BYTES)
            expected.add((name, hashlib.sha256(value or b"").hexdigest()))

    # Valid commands after the fuzz: an edit, a like, a purchase (a free picture).
    status, edit, _ = await api.call("PATCH", f"/api/v1/pictures/{picture_id}", user=ada,
                                     json={"title": "Still here"})
    assert status == 202, edit
    status, like, _ = await api.call("PUT", f"/api/v1/pictures/{picture_id}/like", user=bob)
    assert status == 202, like
    buy = purchase_command(purchase_id, picture_id, bob, payment_method=None)
    await produce(settings.kafka_bootstrap, PURCHASES_COMMANDS.name(settings.topic_prefix),
                  buy.to_json(), purchase_id.encode())

    letters: dict[tuple[str, str], dict] = {}

    def collect(doc: dict) -> bool:
        data = doc.get("data") or {}
        found = (data.get("topic"), data.get("payload_sha256"))
        if found in expected:
            letters[found] = data
        return set(letters) == expected

    await read_topic(settings.kafka_bootstrap, DEADLETTER.name(settings.topic_prefix),
                     collect, timeout_s=60)
    for letter in letters.values():
        assert letter["reason"] and len(letter["payload"]) <= 64 * 1024, letter["reason"]
        assert letter["payload_truncated"] == (letter["payload_bytes"] > 64 * 1024)

    # The agents went on: the valid commands were applied …
    done = await settled(api, bob, purchase_id)
    assert done["status"] == "completed", done
    for command in (edit, like):
        status, seen, _ = await api.call(
            "GET", f"/api/v1/pictures/{picture_id}?wait_ms=10000&after={command['command_id']}",
            user=bob)
        assert status == 200, seen
    assert seen["title"] == "Still here", seen
    assert seen["liked_by_me"] and seen["like_count"] == 1, seen
    # … and nothing the fuzz named exists.
    db = connect(settings)
    assert await db[PICTURES].count_documents({"title": marker}) == 0
    assert await db[LIKES].count_documents({"user_id": {"$regex": f"^{marker}"}}) == 0
    assert [p.purchase_id for p in await ledger.purchases_of(bob.user_id, 10)] == [purchase_id]
    assert (await ledger.find(purchase_id)).buyer_id == bob.user_id
