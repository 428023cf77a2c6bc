"""Payments when things break: MariaDB stopped mid-purchase, Stripe answering 500s, and a
payment that never comes. Real servers throughout; the faults are real too (a stopped
server, a real HTTP proxy that answers 500)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from agents.purchases.ledger import Ledger
from agents.purchases.logic import EXPIRED_REASON
from deploy.local.processes import Worker, migrate
from deploy.local.stack import Stack
from picasso.kafka import ensure_topics
from picasso.settings import Settings
from tests.e2e.test_purchase_delivery import intents_of, purchase_command, seller_total
from tests.e2e.test_purchases import settled
from tests.helpers import Api, jpeg_with_gps, produce, read_topic
from topics import PURCHASES_COMMANDS, PURCHASES_EVENTS

OUTAGE_S = 10


async def settled_after_outage(api: Api, buyer, purchase_id: str, within_s: float = 90) -> dict:
    """The purchase once completed or failed; until the agent has caught up after the outage
    the buyer may not see it yet (404) or the edge may still be reconnecting (5xx)."""
    deadline = time.monotonic() + within_s
    while True:
        status, purchase, _ = await api.call(
            "GET", f"/api/v1/purchases/{purchase_id}?wait_ms=2000", user=buyer)
        if status == 200 and purchase["status"] in ("completed", "failed"):
            return purchase
        assert time.monotonic() < deadline, (status, purchase)
        await asyncio.sleep(0.25)


def own_worker(stack: Stack, system_env: dict[str, str], label: str,
               **changes: str) -> tuple[Worker, dict[str, str]]:
    """A worker with its own consumer group and topics (and ``changes`` to its settings),
    sharing the session's stores unless ``changes`` says otherwise."""
    run = uuid.uuid4().hex[:8]
    env = {**system_env, "PICASSO_APP_ID": f"picasso-{label}-{run}",
           "PICASSO_TOPIC_PREFIX": f"{label}{run}.", **changes}
    logs = stack.data_dir / "logs"
    return Worker(f"{label}-{run}", env, logs / f"{label}-{run}.log",
                  stack.data_dir / f"{label}-{run}", "purchases"), env


@pytest.mark.slow
async def test_mariadb_stopped_mid_purchase_each_completes_once(
    api: Api, stack: Stack, settings: Settings, ledger: Ledger
) -> None:
    ada = await api.register("Ada")
    buyers = [await api.register(f"Buyer{n}") for n in range(3)]
    prices = [900, 1100, 1300]
    pictures = [await api.published(ada, jpeg_with_gps(64, 48), price_cents=price)
                for price in prices]
    started = []
    for buyer, picture in zip(buyers, pictures):
        status, body, _ = await api.call(
            "POST", f"/api/v1/pictures/{picture['picture_id']}/purchases", user=buyer,
            json={"payment_method": "pm_card_visa"})
        assert status == 202, body
        started.append(body["purchase_id"])
    stack.stop_service("mariadb")
    try:
        await asyncio.sleep(OUTAGE_S)  # the agent's work and Stripe's webhooks meet no ledger
    finally:
        stack.start_service("mariadb")  # other tests share this server

    for buyer, purchase_id, price in zip(buyers, started, prices):
        done = await settled_after_outage(api, buyer, purchase_id)
        assert done["status"] == "completed", done
        intents = await intents_of(settings, purchase_id)
        charged = [i for i in intents if i["status"] == "succeeded"]
        assert [i["amount"] for i in charged] == [price], intents
        payments = await ledger.payments_of(purchase_id, buyer.user_id)
        assert [(p.kind, p.amount_cents, p.payment_intent_id) for p in payments] == [
            ("succeeded", price, charged[0]["id"])]
        assert await ledger.has_licence(buyer.user_id, done["picture_id"])
    await asyncio.sleep(1.0)  # a second application would show by now
    status, sales, _ = await api.call("GET", "/api/v1/me/sales", user=ada)
    assert sorted(s["purchase_id"] for s in sales["items"]) == sorted(started)
    assert [(t["sales_count"], t["gross_cents"]) for t in await seller_total(api, ada)] == [
        (3, sum(prices))]


class FailingStripe:
    """A real HTTP proxy in front of localstripe that answers 500 to the first ``failures``
    requests (forwarding nothing of them), then forwards everything."""

    def __init__(self, upstream: str, failures: int) -> None:
        self.upstream = upstream
        self.failures = failures
        self.seen = 0
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.seen += 1
        if self.refused < self.failures:
            self.refused += 1
            return web.json_response({"error": {"type": "api_error",
                                                "message": "injected failure"}}, status=500)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "content-type", "idempotency-key",
                                    "stripe-version")}
        async with aiohttp.ClientSession() as http, http.request(
                request.method, f"{self.upstream}{request.path_qs}", headers=headers,
                data=await request.read()) as answer:
            return web.Response(status=answer.status, body=await answer.read(),
                                content_type=answer.content_type)

    async def serve(self) -> AsyncIterator[str]:
        runner = web.AppRunner(web.Application())
        runner.app.router.add_route("*", "/{tail:.*}", self.handle)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


@pytest.mark.slow
async def test_stripe_answering_500s_is_retried_and_charges_once(
    api: Api, stack: Stack, system_env: dict[str, str], settings: Settings, ledger: Ledger
) -> None:
    proxy = FailingStripe(settings.stripe_api_base, failures=7)
    serving = proxy.serve()
    base = await serving.__anext__()
    worker, env = own_worker(stack, system_env, "stripe500", STRIPE_API_BASE=base)
    await ensure_topics(Settings.from_env(env))
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=1700)
    purchase_id = uuid.uuid4().hex
    command = purchase_command(purchase_id, picture["picture_id"], bob)
    await produce(settings.kafka_bootstrap,
                  PURCHASES_COMMANDS.name(env["PICASSO_TOPIC_PREFIX"]), command.to_json(),
                  purchase_id.encode())
    worker.start()
    try:
        worker.wait_ready()
        # The session's edge takes Stripe's webhook and the session's worker completes it.
        done = await settled(api, bob, purchase_id)
    finally:
        worker.stop()
        await serving.aclose()
    assert done["status"] == "completed", (done, worker.tail())
    assert proxy.refused == 7 and proxy.seen > 7
    intents = await intents_of(settings, purchase_id)
    assert [(i["status"], i["amount"]) for i in intents] == [("succeeded", 1700)]
    payments = await ledger.payments_of(purchase_id, bob.user_id)
    assert [(p.kind, p.amount_cents) for p in payments] == [("succeeded", 1700)]


@pytest.mark.slow
async def test_a_payment_not_made_in_time_expires_and_the_buyer_can_buy_again(
    api: Api, stack: Stack, system_env: dict[str, str], settings: Settings
) -> None:
    """A worker of its own with a 2 s deadline, sweeping every half second, over shard
    databases of its own (so that it expires nobody else's purchase); pictures are read from
    the session's MongoDB."""
    mysql = stack.mysql_url
    run = uuid.uuid4().hex[:8]
    shards = f"{mysql}/picasso_expiry_{run}_s0,{mysql}/picasso_expiry_{run}_s1"
    worker, env = own_worker(stack, system_env, "expiry", MYSQL_SHARDS=shards,
                             PURCHASE_PAYMENT_TIMEOUT_S="2", PURCHASE_EXPIRY_SWEEP_S="0.5")
    own = Settings.from_env(env)
    await ensure_topics(own)
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=600)
    commands = PURCHASES_COMMANDS.name(own.topic_prefix)
    first = uuid.uuid4().hex
    # No payment method: the buyer's client would pay with the client secret, and does not.
    await produce(own.kafka_bootstrap, commands,
                  purchase_command(first, picture["picture_id"], bob, None).to_json(),
                  first.encode())
    migrate(env)
    worker.start()
    async with await Ledger.open(shards) as ledger:
        try:
            worker.wait_ready()
            failed = await read_topic(
                own.kafka_bootstrap, PURCHASES_EVENTS.name(own.topic_prefix),
                lambda doc: doc["subject"] == first and doc["type"].endswith("PurchaseFailed"),
                timeout_s=60)
            assert failed["data"]["reason"] == EXPIRED_REASON
            expired = await ledger.get(first, bob.user_id)
            assert (expired.status, expired.failure_reason) == ("failed", EXPIRED_REASON)
            assert [i["status"] for i in await intents_of(settings, first)] == ["canceled"]
            # Free again: a new purchase of the same picture is taken, not refused.
            second = uuid.uuid4().hex
            await produce(own.kafka_bootstrap, commands,
                          purchase_command(second, picture["picture_id"], bob, None).to_json(),
                          second.encode())
            deadline = time.monotonic() + 30
            again = None
            while time.monotonic() < deadline:
                again = await ledger.get(second, bob.user_id)
                if again is not None and again.status != "pending":
                    break
                await asyncio.sleep(0.2)
            assert again is not None and again.status in ("awaiting_payment", "failed"), again
            assert again.payment_intent_id
        finally:
            worker.stop()
