"""Money under redelivery: a command twice, a webhook twice, a worker killed mid-purchase.

Each test checks what Stripe holds (the PaymentIntents localstripe keeps, listed over its
API) and what the ledger holds (payments, the seller's totals), not only the status a
client sees.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid

import aiohttp
import pytest

from agents.purchases.ledger import Ledger
from deploy.local.processes import Worker
from deploy.local.stack import Stack
from picasso.kafka import ensure_topics
from picasso.settings import Settings
from tests.e2e.test_purchases import settled
from tests.helpers import Api, User, jpeg_with_gps, produce
from topics import PURCHASES_COMMANDS
from topics.envelope import CloudEvent
from topics.purchases import PURCHASE_PICTURE


async def intents_of(settings: Settings, purchase_id: str) -> list[dict]:
    """Every PaymentIntent Stripe holds for one purchase (found by its metadata)."""
    found, after = [], None
    auth = {"Authorization": f"Bearer {settings.stripe_secret_key}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        while True:
            query = {"limit": "100", **({"starting_after": after} if after else {})}
            async with http.get(f"{settings.stripe_api_base}/v1/payment_intents",
                                params=query) as answer:
                assert answer.status == 200, await answer.text()
                page = await answer.json()
            found += [i for i in page["data"]
                      if (i.get("metadata") or {}).get("purchase_id") == purchase_id]
            if not page.get("has_more") or not page["data"]:
                return found
            after = page["data"][-1]["id"]


def purchase_command(purchase_id: str, picture_id: str, buyer: User,
                     payment_method: str | None = "pm_card_visa") -> CloudEvent:
    data = {"purchase_id": purchase_id, "picture_id": picture_id, "buyer_id": buyer.user_id}
    if payment_method:
        data["payment_method"] = payment_method
    return CloudEvent(type=PURCHASE_PICTURE.type, subject=purchase_id, source="/tests",
                      data=data)


async def seller_total(api: Api, seller: User) -> list[dict]:
    status, sales, _ = await api.call("GET", "/api/v1/me/sales", user=seller)
    assert status == 200, sales
    return sales["totals"]


async def test_purchase_command_delivered_twice_charges_once(
    api: Api, settings: Settings, ledger: Ledger
) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=900)
    purchase_id = uuid.uuid4().hex
    command = purchase_command(purchase_id, picture["picture_id"], bob)
    # The same command twice (a redelivery), then the same purchase under a new command id
    # (a client that retried through another edge).
    retried = purchase_command(purchase_id, picture["picture_id"], bob)
    topic = PURCHASES_COMMANDS.name(settings.topic_prefix)
    for message in (command, command, retried):
        await produce(settings.kafka_bootstrap, topic, message.to_json(), purchase_id.encode())

    done = await settled(api, bob, purchase_id)
    assert done["status"] == "completed", done
    intents = await intents_of(settings, purchase_id)
    assert [(i["status"], i["amount"]) for i in intents] == [("succeeded", 900)]
    payments = await ledger.payments_of(purchase_id, bob.user_id)
    assert [(p.kind, p.amount_cents) for p in payments] == [("succeeded", 900)]
    assert [(t["currency"], t["sales_count"], t["gross_cents"])
            for t in await seller_total(api, ada)] == [("usd", 1, 900)]


def signed(payload: bytes, secret: str) -> str:
    """A ``Stripe-Signature`` header, made the way Stripe makes it."""
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return f"t={stamp},v1={mac.hexdigest()}"


async def test_webhook_delivered_twice_completes_once(
    api: Api, settings: Settings, ledger: Ledger
) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=1200)
    status, started, _ = await api.call(
        "POST", f"/api/v1/pictures/{picture['picture_id']}/purchases", user=bob, json={})
    assert status == 202, started
    purchase_id = started["purchase_id"]
    awaiting = await settled_or_awaiting(api, bob, purchase_id)
    assert awaiting["status"] == "awaiting_payment" and awaiting["client_secret"], awaiting
    (intent,) = await intents_of(settings, purchase_id)

    event = {
        "id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {**intent, "status": "succeeded"}},
    }
    payload = json.dumps(event).encode()
    for _ in range(2):
        status, body, _ = await api.call(
            "POST", "/api/v1/webhooks/stripe", data=payload,
            headers={"Stripe-Signature": signed(payload, settings.stripe_webhook_secret),
                     "Content-Type": "application/json"})
        assert status == 200 and body["used"] is True, body

    done = await settled(api, bob, purchase_id)
    assert done["status"] == "completed", done
    # Give a second application every chance to show up before counting.
    await asyncio.sleep(1.0)
    payments = await ledger.payments_of(purchase_id, bob.user_id)
    assert [(p.kind, p.amount_cents, p.event_id) for p in payments] == [
        ("succeeded", 1200, event["id"])]
    assert [(t["sales_count"], t["gross_cents"])
            for t in await seller_total(api, ada)] == [(1, 1200)]


async def settled_or_awaiting(api: Api, buyer: User, purchase_id: str) -> dict:
    """The purchase once the agent took it (``wait_ms`` returns at any state but pending)."""
    status, purchase, _ = await api.call(
        "GET", f"/api/v1/purchases/{purchase_id}?wait_ms=10000", user=buyer)
    assert status == 200, purchase
    return purchase


@pytest.mark.slow
async def test_worker_killed_between_creating_and_recording_the_intent_charges_once(
    api: Api, stack: Stack, system_env: dict[str, str], ledger: Ledger
) -> None:
    """SIGKILL at the failpoint right after Stripe created the PaymentIntent.

    The crash worker has its own consumer group and topics but shares the session's stores,
    so the session's edge sees the purchase and its webhook completes it.
    """
    run = uuid.uuid4().hex[:8]
    env = {**system_env, "PICASSO_APP_ID": f"picasso-pay-crash-{run}",
           "PICASSO_TOPIC_PREFIX": f"paycrash{run}."}
    settings = Settings.from_env(env)
    await ensure_topics(settings)
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=2500)
    purchase_id = uuid.uuid4().hex
    command = purchase_command(purchase_id, picture["picture_id"], bob)
    await produce(settings.kafka_bootstrap, PURCHASES_COMMANDS.name(settings.topic_prefix),
                  command.to_json(), purchase_id.encode())

    logs = stack.data_dir / "logs"
    crashing = Worker(f"pay-crash-{run}", {**env, "PICASSO_FAILPOINTS":
                                           "purchases.after_create_intent"},
                      logs / f"pay-crash-{run}.log", stack.data_dir / f"pc-{run}",
                      "purchases")
    crashing.start()
    try:
        crashing.proc.wait(timeout=90)
    finally:
        crashing.kill()
    assert crashing.proc.returncode == -9, crashing.tail()
    before = await ledger.get(purchase_id, bob.user_id)
    assert before is not None and before.status == "pending"
    assert before.payment_intent_id is None  # created at Stripe, never recorded
    assert [i["status"] for i in await intents_of(settings, purchase_id)] == [
        "requires_confirmation"]

    restarted = Worker(f"pay-crash-{run}", env, logs / f"pay-crash-{run}.log",
                       stack.data_dir / f"pc-{run}", "purchases")
    restarted.start()
    try:
        restarted.wait_ready()
        done = await settled(api, bob, purchase_id)
    finally:
        restarted.stop()
    assert done["status"] == "completed", done
    intents = await intents_of(settings, purchase_id)
    charged = [i for i in intents if i["status"] == "succeeded"]
    # Stripe answers the retried create with the same intent (same idempotency key);
    # localstripe ignores the key and makes a second one, which is never confirmed.
    assert [i["amount"] for i in charged] == [2500]
    assert all(i["status"] == "requires_confirmation" for i in intents if i not in charged)
    payments = await ledger.payments_of(purchase_id, bob.user_id)
    assert [(p.kind, p.amount_cents, p.payment_intent_id) for p in payments] == [
        ("succeeded", 2500, charged[0]["id"])]
