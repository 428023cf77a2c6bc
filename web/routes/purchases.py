"""Purchases: buying an original, refunding it, Stripe's webhooks, the buyer's and seller's
lists, downloads.

Everything read here about purchases comes from the read models the purchases service
publishes in MongoDB (``web.readmodels``); the edge holds no ledger credentials."""

from __future__ import annotations

import uuid

import stripe
import structlog
from aiohttp import web

from picasso import tracing
from picasso.blobs import BlobNotFound, InvalidDownload
from picasso.imageformat import SNIFF_BYTES, sniff_format
from topics.pictures import IMAGE_FORMATS
from topics.purchases import (
    IDEMPOTENCY_KEY_MAX,
    PAYMENT_DISPUTED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    PAYMENT_SUCCEEDED,
    PURCHASE_PICTURE,
    REFUND_PURCHASE,
    decline_reason,
    price_changed,
)
from topics.record import Record
from web import validation
from web.problems import Problem
from web.services import Services, identity, json_object, long_poll, services

log = structlog.get_logger()
routes = web.RouteTableDef()
_PURCHASE_IDS = uuid.UUID("0b8f8e4c-2f4f-4f53-9a53-6a3c1f0e7d21")


_SALE = ("seller_id", "purchase_id", "picture_id", "buyer_id", "amount_cents", "currency",
         "completed_at")
_SHOWN = ("purchase_id", "picture_id", "buyer_id", "amount_cents", "currency", "status",
          "client_secret", "failure_reason", "created_at", "completed_at")


def _purchase_json(doc: dict) -> dict:
    """A purchase read model (the ledger's row, as the purchases service publishes it) as
    the API shows it."""
    return {k: doc.get(k) for k in _SHOWN}


@routes.post("/api/v1/pictures/{picture_id}/purchases")
async def buy(request: web.Request) -> web.Response:
    who = await identity(request)
    s = services(request)
    s.limits.purchases.check(who.user_id)
    picture_id = request.match_info["picture_id"]
    payment_method, expected_price = validation.purchase_request(
        await json_object(request, optional=True))
    picture = await s.read.picture_doc(picture_id)
    if picture is None or picture["status"] != "published":
        raise Problem(404, f"there is no published picture {picture_id}")
    if picture["owner_id"] == who.user_id:
        raise Problem(409, "nobody can buy their own picture")
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key and len(key) > IDEMPOTENCY_KEY_MAX:
        raise Problem(422, f"Idempotency-Key: at most {IDEMPOTENCY_KEY_MAX} characters")
    purchase_id = (uuid.uuid5(_PURCHASE_IDS, f"{who.user_id}/{key}").hex if key
                   else uuid.uuid4().hex)
    # A purchase the edge accepted moments ago may not be published yet: it is sent
    # again, and the purchases service takes the same purchase id once.
    existing = await s.read.purchase(purchase_id, who.user_id)
    if existing is None and await s.read.licensed(who.user_id, [picture_id]):
        raise Problem(409, "you have bought this picture already")
    if existing is None and expected_price is not None \
            and expected_price != picture["price_cents"]:
        # The purchases agent checks again against the price it fixes; this answers at once.
        raise Problem(409, price_changed(expected_price, picture["price_cents"]))
    if existing is None:
        data = {"purchase_id": purchase_id, "picture_id": picture_id, "buyer_id": who.user_id}
        if payment_method:
            data["payment_method"] = payment_method
        if expected_price is not None:
            data["expected_price_cents"] = expected_price
        if key:
            data["idempotency_key"] = key
        await s.send(PURCHASE_PICTURE, purchase_id, data)
    status = existing["status"] if existing else "pending"
    return web.json_response({"purchase_id": purchase_id, "status": status}, status=202,
                             headers={"Location": f"/api/v1/purchases/{purchase_id}"})


@routes.get("/api/v1/purchases/{purchase_id}")
async def get_purchase(request: web.Request) -> web.Response:
    who = await identity(request)
    s = services(request)
    purchase_id = request.match_info["purchase_id"]

    async def settled():
        p = await s.read.purchase(purchase_id, who.user_id)
        return p if p is not None and p["status"] != "pending" else None

    # Not published yet counts as pending: a waiting client is answered once it is settled.
    purchase = await long_poll(request, ("purchase", purchase_id, who.user_id),
                               settled) or await s.read.purchase(purchase_id, who.user_id)
    if purchase is None:
        raise Problem(404, f"you have no purchase {purchase_id}")
    return web.json_response(_purchase_json(purchase))


@routes.get("/api/v1/me/purchases")
async def my_purchases(request: web.Request) -> web.Response:
    who = await identity(request)
    items = await services(request).read.purchases_of(who.user_id, 100)
    return web.json_response({"items": [_purchase_json(p) for p in items]})


@routes.get("/api/v1/me/sales")
async def my_sales(request: web.Request) -> web.Response:
    who = await identity(request)
    sales, totals = await services(request).read.sales_of(who.user_id, 100)
    return web.json_response({"items": [{k: sale[k] for k in _SALE} for sale in sales],
                              "totals": totals})


@routes.post("/api/v1/purchases/{purchase_id}/refund")
async def refund(request: web.Request) -> web.Response:
    """The seller gives the buyer their money back; the purchases agent asks Stripe."""
    who = await identity(request)
    s = services(request)
    purchase_id = request.match_info["purchase_id"]
    purchase = await s.read.purchase(purchase_id)
    if purchase is None:
        raise Problem(404, f"there is no purchase {purchase_id}")
    if purchase["seller_id"] != who.user_id:
        raise Problem(403, "only the seller of a purchase may refund it")
    if purchase["status"] != "completed":
        raise Problem(409, f"the purchase is {purchase['status']}; only a completed purchase "
                      "can be refunded")
    if purchase["amount_cents"] == 0:
        raise Problem(409, "the picture was free: there is no payment to refund")
    command = await s.send(REFUND_PURCHASE, purchase_id, {
        "purchase_id": purchase_id, "buyer_id": purchase["buyer_id"], "seller_id": who.user_id})
    return web.json_response({"command_id": command.id, "purchase_id": purchase_id},
                             status=202, headers={"Location": "/api/v1/me/sales"})


_INTENT_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed")
_CHARGE_EVENTS = ("charge.refunded", "charge.dispute.created", "charge.dispute.closed")


@routes.post("/api/v1/webhooks/stripe")
async def stripe_webhook(request: web.Request) -> web.Response:
    """Verify Stripe's signature on the raw body and hand the fact to the purchases agent.

    The fact's id is Stripe's event id, so a webhook delivered twice is one fact."""
    s = services(request)
    payload = await request.read()
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("Stripe-Signature", ""), s.settings.stripe_webhook_secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise Problem(400, f"the webhook was refused: {exc}") from None
    obj = event.data.object.to_dict()  # plain dicts and lists, as Stripe sent them
    fact: tuple[Record, dict] | None = None
    if event.type in _INTENT_EVENTS:
        fact = _intent_fact(event.type, obj)
        # The payment goes on in the trace of the buyer's request (the intent's metadata).
        metadata = obj.get("metadata") or {}
        tracing.continue_trace(metadata.get("traceparent"), metadata.get("correlationid"))
    elif event.type in _CHARGE_EVENTS:
        fact = await _charge_fact(s, event.type, obj)
    if fact is None:
        return web.json_response({"received": True, "used": False})
    record, data = fact
    await s.send(record, data["purchase_id"], data, event_id=event.id)
    return web.json_response({"received": True, "used": True})


def _intent_fact(type_: str, intent: dict) -> tuple[Record, dict] | None:
    """PaymentSucceeded or PaymentFailed from a PaymentIntent, which carries our metadata."""
    metadata = dict(intent.get("metadata") or {})
    if "purchase_id" not in metadata:
        return None
    data = {"purchase_id": metadata["purchase_id"], "buyer_id": metadata.get("buyer_id", ""),
            "payment_intent_id": intent["id"], "amount_cents": int(intent.get("amount") or 0),
            "currency": intent.get("currency") or "usd"}
    if not data["buyer_id"]:
        del data["buyer_id"]
    if type_ == "payment_intent.succeeded":
        return PAYMENT_SUCCEEDED, data
    error = intent.get("last_payment_error") or {}
    return PAYMENT_FAILED, {**data, "reason": decline_reason(
        error.get("message"), error.get("code"), error.get("decline_code"))}


async def _charge_fact(s: Services, type_: str, obj: dict) -> tuple[Record, dict] | None:
    """PaymentRefunded (from a Charge) or PaymentDisputed (from a Dispute).

    Neither object need carry the PaymentIntent's metadata, so the purchase is found by its
    PaymentIntent in the purchases read model. The purchases service publishes a purchase
    with its intent before anyone can pay through it (``agents.purchases.logic``), so a
    charge of ours is always found; an intent that is not there is not a purchase. The fact
    keeps the purchase id as its key, so that it is applied in order with the purchase's
    other payment facts (one partition)."""
    intent_id = obj.get("payment_intent")
    if isinstance(intent_id, dict):  # expanded by the endpoint's settings
        intent_id = intent_id.get("id")
    if not intent_id:
        log.warning("stripe_webhook_without_intent", type=type_, object_id=obj.get("id"))
        return None
    purchase = await s.read.purchase_by_intent(intent_id)
    if purchase is None:
        return None
    data = {"purchase_id": purchase["purchase_id"], "buyer_id": purchase["buyer_id"],
            "payment_intent_id": intent_id,
            "currency": obj.get("currency") or purchase["currency"]}
    if type_ == "charge.refunded":
        return PAYMENT_REFUNDED, {**data, "charge_id": obj["id"],
                                  "amount_cents": int(obj.get("amount_refunded") or 0)}
    closed = type_ == "charge.dispute.closed"
    data.update({"dispute_id": obj["id"], "state": "closed" if closed else "opened",
                 "amount_cents": int(obj.get("amount") or 0)})
    if obj.get("reason"):
        data["reason"] = obj["reason"]
    if closed:
        data["outcome"] = obj.get("status") or "unknown"
    return PAYMENT_DISPUTED, data


@routes.get("/api/v1/pictures/{picture_id}/original")
async def original(request: web.Request) -> web.Response:
    who = await identity(request)
    s = services(request)
    picture_id = request.match_info["picture_id"]
    picture = await s.read.picture_doc(picture_id)
    if picture is None or not picture.get("original_key"):
        raise Problem(404, f"there is no picture {picture_id}")
    allowed = picture["owner_id"] == who.user_id or bool(await s.read.licensed(
        who.user_id, [picture_id]))
    if not allowed:
        raise Problem(403, "only the owner and buyers whose purchase completed may download")
    # The store makes the link: S3 presigns its own, the directory store signs one to
    # /api/v1/downloads below, on the public address (never the bind address).
    url = await s.blobs.download_url(picture["original_key"], picture_id,
                                     s.settings.download_ttl_s)
    return web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})


@routes.get("/api/v1/downloads/{filename}")
async def download(request: web.Request) -> web.StreamResponse:
    """A download link the blob store signed (the directory store's; S3 serves its own)."""
    s = services(request)
    filename = request.match_info["filename"]
    q = request.query
    try:
        key = s.blobs.verified_download(q.get("key", ""), q.get("expires", ""), filename,
                                        q.get("signature", ""))
        data = await s.blobs.get(key)
    except InvalidDownload as exc:
        raise Problem(403, str(exc)) from None
    except BlobNotFound:
        raise Problem(404, "the original is gone") from None
    kind = sniff_format(data[:SNIFF_BYTES])
    return web.Response(body=data, content_type=IMAGE_FORMATS.get(kind, "application/octet-stream"),
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
