"""The purchases service's own stores in MongoDB, on the real servers: its catalogue of
pictures (from pictures events, whatever their order), its wait for a picture it has not
heard of, the purchase read models' guard against older states, and the public command
results every service writes."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from agents.purchases.catalogue import Catalogue
from agents.purchases.gateway import PaymentGateway
from agents.purchases.ledger import Ledger, Purchase
from agents.purchases.logic import Purchases
from agents.purchases.views import PurchaseViews
from picasso.mongo import COMMAND_RESULTS, PURCHASES, PURCHASES_CATALOGUE
from picasso.runtime import Agent, Inbox, Message, Rejected
from picasso.settings import Settings
from topics.envelope import CloudEvent
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED, PICTURE_UPDATED
from topics.purchases import PURCHASE_COMPLETED, PURCHASE_PICTURE
from topics.reactions import LIKE_PICTURE, PICTURE_LIKED


@pytest.fixture
async def db(stack):
    settings = Settings.from_env(stack.env())
    client = AsyncIOMotorClient(settings.mongodb_url, tz_aware=True)
    name = f"purchases_{uuid.uuid4().hex[:8]}"
    yield client[name]
    await client.drop_database(name)


@pytest.fixture
async def ledger(settings: Settings):
    """A ledger of the test's own, on fresh databases of the session's MariaDB: what it
    records is no purchase of the session's system, whose purchases' rebuild reads the
    system's ledger whole (tests/e2e/test_operations.py)."""
    run = uuid.uuid4().hex[:8]
    shards = [f"{dsn.rsplit('/', 1)[0]}/projections_{run}_s{n}"
              for n, dsn in enumerate(settings.mysql_shards)]
    async with await Ledger.open(shards) as opened:
        yield opened


def _at(seconds: int) -> str:
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def published(picture_id: str, owner_id: str, price_cents: int, at: int,
              title: str = "Harbour") -> CloudEvent:
    return CloudEvent(type=PICTURE_PUBLISHED.type, subject=picture_id, source="/t", time=_at(at),
                      data={"picture_id": picture_id, "owner_id": owner_id, "title": title,
                            "price_cents": price_cents, "currency": "usd", "width": 8,
                            "height": 8, "format": "jpeg", "original_key": "o",
                            "thumbnail_key": "t", "preview_key": "p",
                            "created_at": _at(at)})


def updated(picture_id: str, at: int, **changes) -> CloudEvent:
    return CloudEvent(type=PICTURE_UPDATED.type, subject=picture_id, source="/t", time=_at(at),
                      data={"picture_id": picture_id, "owner_id": "ada", **changes})


async def apply(catalogue: Catalogue, *events: CloudEvent) -> None:
    records = {r.type: r for r in (PICTURE_PUBLISHED, PICTURE_UPDATED, PICTURE_DELETED)}
    for event in events:
        await catalogue.handle(records[event.type], event)


async def test_the_catalogue_keeps_the_newest_fact_whatever_the_order(db) -> None:
    catalogue = Catalogue(db)
    newer_price, older_title = updated("p1", 30, price_cents=900), updated("p1", 20, title="Old")
    newest_title = updated("p1", 40, title="Harbour at night")
    # Out of order: a change before the publication, older changes after newer ones, twice.
    await apply(catalogue, newer_price, published("p1", "ada", 500, 10), newest_title,
                older_title, newer_price, published("p1", "ada", 500, 10))
    doc = await db[PURCHASES_CATALOGUE].find_one({"_id": "p1"})
    assert (doc["price_cents"], doc["title"], doc["status"], doc["owner_id"]) == (
        900, "Harbour at night", "published", "ada")

    deleted = CloudEvent(type=PICTURE_DELETED.type, subject="p1", source="/t", time=_at(50),
                         data={"picture_id": "p1", "owner_id": "ada"})
    await apply(catalogue, deleted, published("p1", "ada", 500, 10))  # a late replay
    assert (await catalogue.picture("p1"))["status"] == "deleted"


async def test_a_change_before_the_publication_is_not_a_known_picture(db) -> None:
    catalogue = Catalogue(db)
    await apply(catalogue, updated("p2", 30, price_cents=900))
    assert await catalogue.picture("p2") is None
    assert await catalogue.title("p2") == "p2"


def free_purchase(picture_id: str, buyer_id: str) -> CloudEvent:
    purchase_id = uuid.uuid4().hex
    return CloudEvent(type=PURCHASE_PICTURE.type, subject=purchase_id, source="/t",
                      data={"purchase_id": purchase_id, "picture_id": picture_id,
                            "buyer_id": buyer_id})


async def test_a_purchase_waits_for_its_picture_a_bounded_time(db, ledger, settings) -> None:
    purchases = Purchases(db, ledger, PaymentGateway(settings), picture_wait_s=5.0)
    picture_id, buyer = uuid.uuid4().hex, uuid.uuid4().hex
    command = free_purchase(picture_id, buyer)
    buying = asyncio.ensure_future(purchases.handle(PURCHASE_PICTURE, command))
    await asyncio.sleep(0.5)
    assert not buying.done()  # waiting for the catalogue
    await apply(purchases.catalogue, published(picture_id, "ada", 0, 10))
    events = await asyncio.wait_for(buying, 5.0)
    assert [e.type for e in events] == [PURCHASE_COMPLETED.type]
    assert events[0].data["title"] == "Harbour"  # from the catalogue
    view = await db[PURCHASES].find_one({"_id": command.data["purchase_id"]})
    assert (view["status"], view["buyer_id"], view["seller_id"]) == ("completed", buyer, "ada")

    purchases.picture_wait_s = 0.5
    began = asyncio.get_running_loop().time()
    with pytest.raises(Rejected, match="unknown"):
        await purchases.handle(PURCHASE_PICTURE, free_purchase(uuid.uuid4().hex, buyer))
    assert 0.5 <= asyncio.get_running_loop().time() - began < 3.0


def _purchase(status: str, updated_at: datetime, purchase_id: str = "b1") -> Purchase:
    return Purchase(purchase_id, "p1", "u2", "u1", 500, "usd", status, "pi_1", "pi_1_secret", None,
                    None, updated_at, updated_at, None)


async def test_an_older_state_never_overwrites_a_newer_one(db) -> None:
    views = PurchaseViews(db)
    await views.ensure_indexes()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    awaiting = _purchase("awaiting_payment", t0)
    completed = replace(awaiting, status="completed", updated_at=t0 + timedelta(seconds=1),
                        completed_at=t0 + timedelta(seconds=1))
    await views.publish(completed)
    await views.publish(awaiting)  # a slower writer with the older state
    doc = await db[PURCHASES].find_one({"_id": "b1"})
    assert doc["status"] == "completed" and doc["client_secret"] is None
    # The same millisecond: the status's place decides.
    await views.publish(replace(completed, status="refunded"))
    await views.publish(completed)
    assert (await db[PURCHASES].find_one({"_id": "b1"}))["status"] == "refunded"
    # Paid after it failed, within the same millisecond: completed is the later state.
    failed = _purchase("failed", t0, "b2")
    await views.publish(replace(failed, status="completed"))
    await views.publish(failed)
    assert (await db[PURCHASES].find_one({"_id": "b2"}))["status"] == "completed"
    assert await db[PURCHASES].count_documents({}) == 2


def _like(picture_id: str) -> CloudEvent:
    return CloudEvent(type=LIKE_PICTURE.type, subject=picture_id, source="/t",
                      data={"picture_id": picture_id, "user_id": "u1"})


def _agent(db, handler, batch_handler=None) -> Agent:
    async def send(topic: str, key: bytes, value: bytes) -> None:
        pass

    return Agent("reactions", [LIKE_PICTURE], handler, send, "t.", Inbox(db["processed"]),
                 batch_handler=batch_handler)


async def test_every_command_gets_one_public_result(db) -> None:
    async def handler(record, command):
        if command.subject == "refused":
            raise Rejected("picture refused is not published")
        return [command.caused(PICTURE_LIKED.type, {**command.data, "like_count": 1}, "/t")]

    agent = _agent(db, handler)
    applied, refused = _like("p1"), _like("refused")
    for offset, command in enumerate((applied, applied, refused, refused)):
        await agent.handle(command.to_json(), command.subject.encode(), "t.x", 0, offset)
    results = {doc["_id"]: doc async for doc in db[COMMAND_RESULTS].find()}
    assert set(results) == {applied.id, refused.id}
    assert (results[applied.id]["service"], results[applied.id]["outcome"]) == (
        "reactions", "applied")
    assert results[refused.id]["outcome"] == "rejected"
    assert results[refused.id]["reason"] == "picture refused is not published"


async def test_a_batch_writes_a_result_per_command(db) -> None:
    async def batch(items):
        return [[] for _ in items]

    agent = _agent(db, None, batch_handler=batch)
    commands = [_like(f"p{n}") for n in range(5)]
    messages = [Message(c.to_json(), c.subject.encode(), "t.x", 0, n)
                for n, c in enumerate(commands + commands[:2])]  # two delivered twice
    await agent.handle_batch(messages)
    await agent.handle_batch(messages[:3])  # redelivered
    results = [doc async for doc in db[COMMAND_RESULTS].find()]
    assert sorted(doc["_id"] for doc in results) == sorted(c.id for c in commands)
    assert {doc["outcome"] for doc in results} == {"applied"}
