"""Money that goes back: Stripe's refund and dispute webhooks, the seller's refund, and a
payment Stripe refuses for good; all against the session's real servers (localstripe,
MariaDB, Kafka, the SMTP server's Maildir)."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp

from agents.purchases.ledger import Ledger
from deploy.local.stack import Stack
from picasso.settings import Settings
from tests.e2e.test_mail import wait_for_mails
from tests.e2e.test_purchase_delivery import intents_of, seller_total, signed
from tests.e2e.test_purchases import settled
from tests.helpers import Api, User, jpeg_with_gps


async def bought(api: Api, seller: User, buyer: User, price_cents: int) -> tuple[dict, dict]:
    """A published picture of ``seller`` and ``buyer``'s completed purchase of it."""
    picture = await api.published(seller, jpeg_with_gps(64, 48), price_cents=price_cents)
    status, started, _ = await api.call(
        "POST", f"/api/v1/pictures/{picture['picture_id']}/purchases", user=buyer,
        json={"payment_method": "pm_card_visa"})
    assert status == 202, started
    purchase = await settled(api, buyer, started["purchase_id"])
    assert purchase["status"] == "completed", purchase
    return picture, purchase


async def status_becomes(api: Api, buyer: User, purchase_id: str, wanted: str) -> dict:
    for _ in range(150):
        status, purchase, _ = await api.call("GET", f"/api/v1/purchases/{purchase_id}",
                                             user=buyer)
        assert status == 200, purchase
        if purchase["status"] == wanted:
            return purchase
        await asyncio.sleep(0.1)
    raise AssertionError(f"purchase {purchase_id} never became {wanted}: {purchase}")


async def stripe_get(settings: Settings, path: str, **params: str) -> dict:
    auth = {"Authorization": f"Bearer {settings.stripe_secret_key}"}
    async with aiohttp.ClientSession(headers=auth) as http, \
            http.get(f"{settings.stripe_api_base}{path}", params=params) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.json()


async def charge_of(settings: Settings, intent: dict) -> dict:
    """The intent's charge (localstripe expands ``latest_charge``; Stripe gives its id)."""
    latest = intent["latest_charge"]
    return latest if isinstance(latest, dict) else await stripe_get(
        settings, f"/v1/charges/{latest}")


async def post_webhook(api: Api, settings: Settings, event: dict) -> dict:
    payload = json.dumps(event).encode()
    status, body, _ = await api.call(
        "POST", "/api/v1/webhooks/stripe", data=payload,
        headers={"Stripe-Signature": signed(payload, settings.stripe_webhook_secret),
                 "Content-Type": "application/json"})
    assert status == 200, body
    return body


async def licence_is_gone(api: Api, buyer: User, picture_id: str) -> None:
    status, body, _ = await api.call("GET", f"/api/v1/pictures/{picture_id}/original",
                                     user=buyer)
    assert status == 403, body
    status, seen, _ = await api.call("GET", f"/api/v1/pictures/{picture_id}", user=buyer)
    assert seen["purchased_by_me"] is False


async def test_charge_refunded_webhook_twice_refunds_once_and_mails_both(
    api: Api, settings: Settings, ledger: Ledger, stack: Stack
) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    _, kept = await bought(api, ada, bob, 800)
    picture, purchase = await bought(api, ada, bob, 1500)
    (intent,) = await intents_of(settings, purchase["purchase_id"])
    charge = await charge_of(settings, intent)
    # What Stripe sends after a refund in its dashboard: the charge, refunded in full. The
    # charge carries no metadata of ours: the edge finds the purchase by its intent.
    event = {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": "charge.refunded",
             "data": {"object": {**charge, "metadata": {}, "refunded": True,
                                 "amount_refunded": charge["amount"]}}}
    for _ in range(2):
        assert (await post_webhook(api, settings, event))["used"] is True

    refunded = await status_becomes(api, bob, purchase["purchase_id"], "refunded")
    assert refunded["amount_cents"] == 1500
    await licence_is_gone(api, bob, picture["picture_id"])
    await asyncio.sleep(1.0)  # give a second application every chance to show up
    assert [(t["sales_count"], t["gross_cents"]) for t in await seller_total(api, ada)] == [
        (1, 800)]
    status, sales, _ = await api.call("GET", "/api/v1/me/sales", user=ada)
    assert [s["purchase_id"] for s in sales["items"]] == [kept["purchase_id"]]
    payments = await ledger.payments_of(purchase["purchase_id"], bob.user_id)
    assert [(p.kind, p.event_id, p.note) for p in payments if p.kind == "refunded"] == [
        ("refunded", event["id"], "refunded_at_stripe")]

    to_bob = await wait_for_mails(stack.maildir, bob.email, {"refund_buyer"})
    to_ada = await wait_for_mails(stack.maildir, ada.email, {"refund_seller"})
    assert len(to_bob.get("refund_buyer", [])) == 1, to_bob.keys()
    assert len(to_ada.get("refund_seller", [])) == 1, to_ada.keys()
    assert "15.00 USD" in to_bob["refund_buyer"][0]["Subject"]


async def test_the_seller_refunds_through_the_api(
    api: Api, settings: Settings, ledger: Ledger, stack: Stack
) -> None:
    ada, bob, eve = (await api.register("Ada"), await api.register("Bob"),
                     await api.register("Eve"))
    picture, purchase = await bought(api, ada, bob, 2200)
    purchase_id = purchase["purchase_id"]
    refund = f"/api/v1/purchases/{purchase_id}/refund"
    assert (await api.call("POST", refund, user=eve))[0] == 403
    assert (await api.call("POST", refund, user=bob))[0] == 403  # the buyer is not the seller
    assert (await api.call("POST", f"/api/v1/purchases/{uuid.uuid4().hex}/refund",
                           user=ada))[0] == 404
    status, accepted, _ = await api.call("POST", refund, user=ada)
    assert status == 202 and accepted["command_id"], accepted

    await status_becomes(api, bob, purchase_id, "refunded")
    await licence_is_gone(api, bob, picture["picture_id"])
    (intent,) = await intents_of(settings, purchase_id)
    refunds = await stripe_get(settings, "/v1/refunds", payment_intent=intent["id"])
    assert [(r["amount"], r["status"]) for r in refunds["data"]] == [(2200, "succeeded")]
    assert [(t["sales_count"], t["gross_cents"]) for t in await seller_total(api, ada)] == [
        (0, 0)]
    payments = await ledger.payments_of(purchase_id, bob.user_id)
    assert [(p.kind, p.event_id, p.note) for p in payments if p.kind == "refunded"] == [
        ("refunded", refunds["data"][0]["id"], "refunded_by_seller")]
    status, body, _ = await api.call("POST", refund, user=ada)
    assert status == 409, body  # refunded already
    to_ada = await wait_for_mails(stack.maildir, ada.email, {"refund_seller"})
    assert "You refunded" in to_ada["refund_seller"][0].get_body(("plain",)).get_content()
    assert (await wait_for_mails(stack.maildir, bob.email, {"refund_buyer"}))["refund_buyer"]

    # Refunded, the picture can be bought again.
    status, again, _ = await api.call(
        "POST", f"/api/v1/pictures/{picture['picture_id']}/purchases", user=bob,
        json={"payment_method": "pm_card_visa"})
    assert status == 202, again
    assert (await settled(api, bob, again["purchase_id"]))["status"] == "completed"


async def test_a_lost_dispute_counts_as_a_refund(
    api: Api, settings: Settings, ledger: Ledger, stack: Stack
) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture, purchase = await bought(api, ada, bob, 1200)
    (intent,) = await intents_of(settings, purchase["purchase_id"])
    dispute = {"id": f"dp_{uuid.uuid4().hex[:14]}", "object": "dispute", "amount": 1200,
               "currency": "usd", "charge": (await charge_of(settings, intent))["id"],
               "payment_intent": intent["id"], "reason": "fraudulent",
               "status": "needs_response", "metadata": {}}
    opened = {"id": f"evt_{uuid.uuid4().hex}", "object": "event",
              "type": "charge.dispute.created", "data": {"object": dispute}}
    assert (await post_webhook(api, settings, opened))["used"] is True
    mails = await wait_for_mails(stack.maildir, ada.email, {"sale_disputed"})
    assert "sale_disputed" in mails
    assert (await api.call("GET", f"/api/v1/purchases/{purchase['purchase_id']}",
                           user=bob))[1]["status"] == "completed"  # open: nothing withdrawn

    closed = {"id": f"evt_{uuid.uuid4().hex}", "object": "event",
              "type": "charge.dispute.closed",
              "data": {"object": {**dispute, "status": "lost"}}}
    for _ in range(2):
        assert (await post_webhook(api, settings, closed))["used"] is True
    await status_becomes(api, bob, purchase["purchase_id"], "refunded")
    await licence_is_gone(api, bob, picture["picture_id"])
    await asyncio.sleep(1.0)
    assert [(t["sales_count"], t["gross_cents"]) for t in await seller_total(api, ada)] == [
        (0, 0)]
    kinds = [(p.kind, p.note) for p in
             await ledger.payments_of(purchase["purchase_id"], bob.user_id)]
    assert kinds == [("succeeded", None), ("dispute_opened", "fraudulent"),
                     ("dispute_closed", "lost"), ("refunded", "dispute_lost")]
    to_bob = await wait_for_mails(stack.maildir, bob.email, {"refund_buyer"})
    assert "decided in your favour" in to_bob["refund_buyer"][0].get_body(
        ("plain",)).get_content()


async def test_a_payment_stripe_refuses_for_good_fails_and_the_buyer_can_buy_again(
    api: Api, settings: Settings
) -> None:
    """A permanent Stripe error on creating the PaymentIntent (localstripe answers 404 for a
    payment method it does not know, as Stripe does) fails the purchase with Stripe's reason
    instead of leaving it pending, which would block the buyer."""
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=900)
    buy = f"/api/v1/pictures/{picture['picture_id']}/purchases"
    status, first, _ = await api.call("POST", buy, user=bob,
                                      json={"payment_method": "pm_no_such_method"})
    assert status == 202, first
    failed = await settled(api, bob, first["purchase_id"])
    assert failed["status"] == "failed", failed
    # Stripe's own words: Stripe says "No such PaymentMethod: …", localstripe "Not Found".
    assert failed["failure_reason"] in ("Not Found", "No such PaymentMethod: "
                                        "'pm_no_such_method'"), failed
    assert await intents_of(settings, first["purchase_id"]) == []

    status, second, _ = await api.call("POST", buy, user=bob,
                                       json={"payment_method": "pm_card_visa"})
    assert status == 202, second
    assert (await settled(api, bob, second["purchase_id"]))["status"] == "completed"


async def test_an_unsupported_currency_is_refused_at_upload(api: Api) -> None:
    ada = await api.register("Ada")
    status, body = await api.upload(ada, jpeg_with_gps(64, 48), price_cents=500,
                                    currency="xts")
    assert status == 422, body
    assert "usd" in body["errors"]["currency"]
    status, body = await api.upload(ada, jpeg_with_gps(64, 48), price_cents=500,
                                    currency="EUR")
    assert status == 202, body
