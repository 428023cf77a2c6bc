"""No domain reads another's store, end to end: the edge runs without ledger credentials and
serves purchases from the purchases service's read models; the purchases service sells from
its own catalogue, built from the pictures events; ``?after=`` reads the public command
results every service writes."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from deploy.local.processes import Edge
from picasso.mongo import COMMAND_RESULTS, PICTURES, PURCHASES, PURCHASES_CATALOGUE
from picasso.settings import Settings
from tests.e2e.test_purchases import settled
from tests.e2e.test_refunds import bought, licence_is_gone, status_becomes
from tests.helpers import Api, jpeg_with_gps, produce
from topics import PICTURES_EVENTS, PURCHASES_COMMANDS
from topics.envelope import CloudEvent
from topics.pictures import PICTURE_PUBLISHED, PICTURE_UPDATED
from topics.purchases import PURCHASE_PICTURE


@pytest.fixture
async def db(settings: Settings):
    client = AsyncIOMotorClient(settings.mongodb_url, tz_aware=True)
    yield client[settings.mongodb_database]
    client.close()


async def eventually(check, what: str, timeout_s: float = 15.0):
    """``check``'s answer once it is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        answer = await check()
        if answer:
            return answer
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


async def test_the_edge_sells_without_ledger_credentials(api: Api, edge: Edge, db) -> None:
    env = environment_of(edge.pid)
    assert "MONGODB_URL" in env  # the edge's own process, read from the kernel
    assert not [name for name in env if name.startswith("MYSQL")]

    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture, purchase = await bought(api, ada, bob, 700)
    pid, purchase_id = picture["picture_id"], purchase["purchase_id"]
    status, seen, _ = await api.call("GET", f"/api/v1/pictures/{pid}", user=bob)
    assert seen["purchased_by_me"] is True
    status, _, _ = await api.call("GET", f"/api/v1/pictures/{pid}/original", user=bob)
    assert status == 302
    status, mine, _ = await api.call("GET", "/api/v1/me/purchases", user=bob)
    assert [(p["purchase_id"], p["status"]) for p in mine["items"]] == [
        (purchase_id, "completed")]
    status, sales, _ = await api.call("GET", "/api/v1/me/sales", user=ada)
    assert [s["purchase_id"] for s in sales["items"]] == [purchase_id]
    assert sales["totals"] == [{"currency": "usd", "sales_count": 1, "gross_cents": 700}]
    view = await db[PURCHASES].find_one({"_id": purchase_id})
    assert (view["seller_id"], view["payment_intent_id"][:3]) == (ada.user_id, "pi_")

    status, _, _ = await api.call("POST", f"/api/v1/purchases/{purchase_id}/refund", user=ada)
    assert status == 202
    await status_becomes(api, bob, purchase_id, "refunded")
    await licence_is_gone(api, bob, pid)
    status, sales, _ = await api.call("GET", "/api/v1/me/sales", user=ada)
    assert sales["items"] == []
    assert sales["totals"] == [{"currency": "usd", "sales_count": 0, "gross_cents": 0}]


async def test_a_price_change_reaches_the_catalogue_and_the_charge(api: Api, db) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=500, title="Quay")
    pid = picture["picture_id"]
    catalogued = await eventually(
        lambda: db[PURCHASES_CATALOGUE].find_one({"_id": pid, "status": "published"}),
        "the catalogue hearing of the picture")
    assert (catalogued["owner_id"], catalogued["price_cents"], catalogued["currency"],
            catalogued["title"]) == (ada.user_id, 500, "usd", "Quay")

    status, _, _ = await api.call("PATCH", f"/api/v1/pictures/{pid}", user=ada,
                                  json={"price_cents": 800})
    assert status == 202
    await eventually(lambda: db[PURCHASES_CATALOGUE].find_one({"_id": pid, "price_cents": 800}),
                     "the new price reaching the catalogue")
    status, started, _ = await api.call("POST", f"/api/v1/pictures/{pid}/purchases", user=bob,
                                        json={"payment_method": "pm_card_visa"})
    assert status == 202, started
    purchase = await settled(api, bob, started["purchase_id"])
    assert (purchase["status"], purchase["amount_cents"]) == ("completed", 800)


async def test_an_older_price_told_late_does_not_undo_a_newer_one(
        api: Api, db, settings: Settings) -> None:
    ada = await api.register("Ada")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=500)
    pid = picture["picture_id"]
    status, _, _ = await api.call("PATCH", f"/api/v1/pictures/{pid}", user=ada,
                                  json={"price_cents": 900})
    assert status == 202
    current = await eventually(
        lambda: db[PURCHASES_CATALOGUE].find_one({"_id": pid, "price_cents": 900}),
        "the new price reaching the catalogue")
    # The same kind of event, told again late with an older time (a replay, a redelivery).
    older = CloudEvent(type=PICTURE_UPDATED.type, subject=pid, source="/replay",
                       time="2020-01-01T00:00:00.000Z",
                       data={"picture_id": pid, "owner_id": ada.user_id, "price_cents": 100})
    marker = CloudEvent(type=PICTURE_UPDATED.type, subject=pid, source="/replay",
                        data={"picture_id": pid, "owner_id": ada.user_id, "title": "Marker"})
    topic = PICTURES_EVENTS.name(settings.topic_prefix)
    for event in (older, marker):  # one partition, in order: the marker comes after
        await produce(settings.kafka_bootstrap, topic, event.to_json(), pid.encode())
    doc = await eventually(
        lambda: db[PURCHASES_CATALOGUE].find_one({"_id": pid, "title": "Marker"}),
        "the marker reaching the catalogue")
    assert doc["price_cents"] == 900 and doc["price_cents_at"] == current["price_cents_at"]


async def test_a_picture_only_the_events_told_of_is_sold(api: Api, db, settings) -> None:
    """A picture published after the worker started, that the uploads service's pictures
    collection never held: the purchases service knows it from its event alone."""
    ada, bob = await api.register("Ada"), await api.register("Bob")
    pid = uuid.uuid4().hex
    told = CloudEvent(type=PICTURE_PUBLISHED.type, subject=pid, source="/partner", data={
        "picture_id": pid, "owner_id": ada.user_id, "title": "Told, not stored",
        "description": "", "tags": [], "price_cents": 0, "currency": "usd", "width": 8,
        "height": 8, "format": "jpeg",
        "original_key": f"originals/{pid}", "thumbnail_key": f"thumbnails/{pid}",
        "preview_key": f"previews/{pid}", "created_at": "2026-01-01T00:00:00.000Z"})
    await produce(settings.kafka_bootstrap, PICTURES_EVENTS.name(settings.topic_prefix),
                  told.to_json(), pid.encode())
    purchase_id = uuid.uuid4().hex
    command = CloudEvent(type=PURCHASE_PICTURE.type, subject=purchase_id, source="/partner",
                         data={"purchase_id": purchase_id, "picture_id": pid,
                               "buyer_id": bob.user_id})
    await produce(settings.kafka_bootstrap, PURCHASES_COMMANDS.name(settings.topic_prefix),
                  command.to_json(), purchase_id.encode())
    purchase = await settled(api, bob, purchase_id)
    assert (purchase["status"], purchase["amount_cents"]) == ("completed", 0), purchase
    assert await db[PICTURES].find_one({"_id": pid}) is None
    result = await eventually(lambda: db[COMMAND_RESULTS].find_one({"_id": command.id}),
                              "the purchase's command result")
    assert (result["service"], result["outcome"]) == ("purchases", "applied")


async def test_likes_and_uploads_tell_their_results(api: Api, db) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    status, uploaded = await api.upload(ada, jpeg_with_gps(64, 48))
    assert status == 202
    status, picture, _ = await api.call(
        "GET", f"/api/v1/pictures/{uploaded['picture_id']}?wait_ms=10000"
        f"&after={uploaded['command_id']}", user=ada)
    assert picture["status"] == "published"
    result = await db[COMMAND_RESULTS].find_one({"_id": uploaded["command_id"]})
    assert (result["service"], result["outcome"]) == ("uploads", "applied")

    status, liked, answer = await api.call(
        "PUT", f"/api/v1/pictures/{picture['picture_id']}/like", user=bob)
    assert status == 202
    status, seen, _ = await api.call("GET", f"{answer.headers['Location']}&wait_ms=10000",
                                     user=bob)
    assert seen["like_count"] == 1 and seen["liked_by_me"] is True  # ?after= answered
    result = await db[COMMAND_RESULTS].find_one({"_id": liked["command_id"]})
    assert (result["service"], result["outcome"], result["type"]) == (
        "reactions", "applied", "picasso.reactions.LikePicture")
