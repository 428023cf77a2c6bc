"""Buying an original end to end: Stripe (localstripe), its webhook, the ledger, the download."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import Api, jpeg_with_gps


async def settled(api: Api, buyer, purchase_id: str) -> dict:
    """The purchase once it completed or failed (the webhook comes about a second later).

    Until the purchases service has taken the purchase the edge answered 202 for, the buyer
    is told 404 (no purchase of theirs has that id yet): asked again, as a client does,
    for as long as the purchase takes to come at most (a busy machine: seconds)."""
    for _ in range(40):
        status, p, _ = await api.call(
            "GET", f"/api/v1/purchases/{purchase_id}?wait_ms=2000", user=buyer)
        assert status in (200, 404), p
        if status == 200 and p["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.25)
    assert status == 200, p
    return p


async def test_buy_pay_download(api: Api) -> None:
    ada = await api.register("Ada")
    bob = await api.register("Bob")
    stranger = await api.register("Eve")
    original = jpeg_with_gps(320, 240)
    picture = await api.published(ada, original, price_cents=1500)
    pid = picture["picture_id"]

    headers = {"Idempotency-Key": "buy-once"}
    status, first, _ = await api.call("POST", f"/api/v1/pictures/{pid}/purchases", user=bob,
                                      json={"payment_method": "pm_card_visa"}, headers=headers)
    assert status == 202, first
    purchase_id = first["purchase_id"]
    status, again, _ = await api.call("POST", f"/api/v1/pictures/{pid}/purchases", user=bob,
                                      json={"payment_method": "pm_card_visa"}, headers=headers)
    assert again["purchase_id"] == purchase_id

    purchase = await settled(api, bob, purchase_id)
    assert purchase["status"] == "completed", purchase
    assert purchase["amount_cents"] == 1500 and purchase["currency"] == "usd"

    status, body, answer = await api.call("GET", f"/api/v1/pictures/{pid}/original", user=bob)
    assert status == 302, body
    async with api.http.get(answer.headers["Location"]) as download:
        assert download.status == 200
        assert await download.read() == original  # byte for byte what was uploaded
    status, body, _ = await api.call("GET", f"/api/v1/pictures/{pid}/original", user=stranger)
    assert status == 403
    status, seen, _ = await api.call("GET", f"/api/v1/pictures/{pid}", user=bob)
    assert seen["purchased_by_me"] is True

    status, sales, _ = await api.call("GET", "/api/v1/me/sales", user=ada)
    assert [s["purchase_id"] for s in sales["items"]] == [purchase_id]
    status, mine, _ = await api.call("GET", "/api/v1/me/purchases", user=bob)
    assert [p["purchase_id"] for p in mine["items"]] == [purchase_id]

    status, body, _ = await api.call("POST", f"/api/v1/pictures/{pid}/purchases", user=bob,
                                     json={"payment_method": "pm_card_visa"})
    assert status == 409  # bought already
    status, body, _ = await api.call("POST", f"/api/v1/pictures/{pid}/purchases", user=ada,
                                     json={})
    assert status == 409  # one's own picture


# Stripe's decline test payment methods and the codes Stripe's test mode answers for them
# (the error's code, then its decline_code); the local Stripe must answer the same.
DECLINES = {
    "pm_card_visa_chargeDeclined": ("card_declined", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds"),
    "pm_card_visa_chargeDeclinedLostCard": ("card_declined", "lost_card"),
    "pm_card_visa_chargeDeclinedStolenCard": ("card_declined", "stolen_card"),
    "pm_card_chargeDeclinedFraudulent": ("card_declined", "fraudulent"),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card",),
    "pm_card_chargeDeclinedIncorrectCvc": ("incorrect_cvc",),
    "pm_card_chargeDeclinedProcessingError": ("processing_error",),
    "pm_card_chargeCustomerFail": ("card_declined",),
}


@pytest.mark.parametrize("payment_method", list(DECLINES))
async def test_declined_card_fails_with_stripes_codes(api: Api, ledger,
                                                      payment_method: str) -> None:
    ada = await api.register("Ada")
    bob = await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=700)
    status, first, _ = await api.call(
        "POST", f"/api/v1/pictures/{picture['picture_id']}/purchases", user=bob,
        json={"payment_method": payment_method})
    assert status == 202
    p = await settled(api, bob, first["purchase_id"])
    assert p["status"] == "failed", p
    for code in DECLINES[payment_method]:
        assert code in p["failure_reason"], p
    payments = await ledger.payments_of(p["purchase_id"], bob.user_id)
    assert not [x for x in payments if x.kind == "succeeded"]  # nothing was charged


async def test_bad_webhook_signature_is_400(api: Api) -> None:
    status, body, _ = await api.call(
        "POST", "/api/v1/webhooks/stripe", data=b'{"id": "evt_x"}',
        headers={"Stripe-Signature": "t=1,v1=deadbeef", "Content-Type": "application/json"})
    assert status == 400
