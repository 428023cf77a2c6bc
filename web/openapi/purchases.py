"""The OpenAPI document's purchases (``web.routes.purchases``): buying originals,
refunds, Stripe's webhook, the buyer's and the seller's lists, downloads."""

from __future__ import annotations

from typing import Any

from topics.pictures import IMAGE_FORMATS, PRICE_MAX
from topics.purchases import IDEMPOTENCY_KEY_MAX, PAYMENT_METHOD_MAX, STATUSES
from web.openapi.common import (
    API,
    PICTURE_ID,
    SIGNED_IN,
    Schema,
    currency_schema,
    header_param,
    json_body,
    nullable,
    obj,
    operation,
    path_param,
    problems,
    query,
    response,
    schema_ref,
    string,
)
from web.readmodels import MAX_WAIT_MS


def schemas() -> dict[str, Schema]:
    return {
        "PurchaseRequest": obj({
            "payment_method": string("A Stripe payment method id to pay with; without it "
                                     "the client confirms the payment with "
                                     "`client_secret`.", minLength=1,
                                     maxLength=PAYMENT_METHOD_MAX),
            "expected_price_cents": {
                "type": "integer", "minimum": 0, "maximum": PRICE_MAX,
                "description": "The price the buyer was shown, in cents of the picture's "
                               "currency. If the price fixed for the purchase differs, "
                               "nothing is charged: 409 at once when the edge already "
                               "knows the new price, otherwise the purchase fails with a "
                               "`failure_reason` saying the price changed."},
        }, required=[], closed=True, description="All optional; the body may be left out."),
        "PurchaseAccepted": obj({
            "purchase_id": string(),
            "status": string("`pending` for a new purchase; the current status when the "
                             "`Idempotency-Key` names one already made.",
                             enum=list(STATUSES)),
        }, description="The purchase command was accepted by the broker; read the "
                       "purchase at `Location`."),
        "Purchase": obj({
            "purchase_id": string(),
            "picture_id": string(),
            "buyer_id": string(),
            "amount_cents": {"type": "integer", "minimum": 0},
            "currency": currency_schema(),
            "status": string(enum=list(STATUSES)),
            "client_secret": nullable(string("Stripe's PaymentIntent client secret to "
                                             "confirm the payment with; only while "
                                             "`awaiting_payment`.")),
            "failure_reason": nullable(string("Why the purchase failed.")),
            "created_at": string(format="date-time"),
            "completed_at": nullable(string(format="date-time")),
        }, description="One of the caller's purchases."),
        "PurchaseList": obj({
            "items": {"type": "array", "items": schema_ref("Purchase")},
        }, description="The caller's purchases, newest first (at most 100)."),
        "Sale": obj({
            "seller_id": string(),
            "purchase_id": string(),
            "picture_id": string(),
            "buyer_id": string(),
            "amount_cents": {"type": "integer", "minimum": 0},
            "currency": currency_schema(),
            "completed_at": string(format="date-time"),
        }, description="One completed purchase of the caller's picture."),
        "SellerTotal": obj({
            "currency": currency_schema(),
            "sales_count": {"type": "integer", "minimum": 0},
            "gross_cents": {"type": "integer", "minimum": 0},
        }, description="The caller's completed sales in one currency."),
        "SalesReport": obj({
            "items": {"type": "array", "items": schema_ref("Sale")},
            "totals": {"type": "array", "items": schema_ref("SellerTotal")},
        }, description="The caller's sales, newest first (at most 100), and totals by "
                       "currency."),
        "RefundAccepted": obj({
            "command_id": string("The RefundPurchase command's id."),
            "purchase_id": string(),
        }, description="The refund command was accepted by the broker; the purchase turns "
                       "`refunded` once Stripe has given the money back."),
        "WebhookReceipt": obj({
            "received": {"type": "boolean", "const": True},
            "used": {"type": "boolean", "description": "False for events the purchases "
                                                      "do not act on."},
        }),
    }


def paths() -> dict[str, Any]:
    purchase_id = path_param("purchase_id", "The purchase's id.")
    listed = response("The caller's purchases.", schema_ref("PurchaseList"))
    return {
        f"{API}/pictures/{{picture_id}}/purchases": {"post": operation(
            "buyPicture", "purchases", "Buy a picture's original",
            {"202": response(
                "The purchase is accepted (`status: pending`); read it at `Location`.",
                schema_ref("PurchaseAccepted"),
                headers={"Location": {"description": "`/api/v1/purchases/{purchase_id}`",
                                      "schema": string(format="uri-reference")}}),
             **problems(400, 401, 404, 409, 422, 429, 503)},
            description="404 unless the picture is published; 409 for the caller's own "
                        "picture, one they have bought already, or when "
                        "`expected_price_cents` is not the picture's price.",
            security=SIGNED_IN,
            parameters=[PICTURE_ID, header_param(
                "Idempotency-Key", string(maxLength=IDEMPOTENCY_KEY_MAX),
                f"At most {IDEMPOTENCY_KEY_MAX} characters: the same key from the same "
                "caller names the same purchase, so a retry buys once.")],
            request_body={**json_body(schema_ref("PurchaseRequest")), "required": False},
        )},
        f"{API}/purchases/{{purchase_id}}": {"get": operation(
            "getPurchase", "purchases", "One of the caller's purchases",
            {"200": response("The purchase.", schema_ref("Purchase")),
             **problems(401, 404, 422, 503)},
            description="Only its buyer sees a purchase; others get 404.",
            security=SIGNED_IN,
            parameters=[purchase_id, query(
                "wait_ms", {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_MS,
                            "default": 0},
                "Hold the answer up to this many milliseconds until the purchase is no "
                "longer `pending`; then answer what there is.")],
        )},
        f"{API}/me/purchases": {"get": operation(
            "listMyPurchases", "purchases", "The caller's purchases",
            {"200": listed, **problems(401)},
            security=SIGNED_IN,
        )},
        f"{API}/me/sales": {"get": operation(
            "listMySales", "purchases", "The caller's sales and totals",
            {"200": response("The caller's completed sales.", schema_ref("SalesReport")),
             **problems(401)},
            security=SIGNED_IN,
        )},
        f"{API}/purchases/{{purchase_id}}/refund": {"post": operation(
            "refundPurchase", "purchases", "Refund a sale",
            {"202": response(
                "The refund is accepted; the sale leaves `GET /api/v1/me/sales` once "
                "Stripe has refunded it.", schema_ref("RefundAccepted"),
                headers={"Location": {"description": "`/api/v1/me/sales`",
                                      "schema": string(format="uri-reference")}}),
             **problems(401, 403, 404, 409, 503)},
            description="Only the purchase's seller may refund it (403 for anyone else, "
                        "404 for an unknown purchase); 409 unless the purchase is "
                        "completed and was paid. The buyer's licence is withdrawn, the "
                        "buyer and the seller are mailed, and the buyer may buy again.",
            security=SIGNED_IN, parameters=[purchase_id],
        )},
        f"{API}/webhooks/stripe": {"post": operation(
            "stripeWebhook", "purchases", "Stripe's payment events",
            {"200": response("The event was received; `used` tells whether it concerned "
                             "a purchase.", schema_ref("WebhookReceipt")),
             **problems(400, 503)},
            description="Called by Stripe, not by clients: no bearer token; the raw body "
                        "is checked against `Stripe-Signature` (400 when it does not "
                        "match). `payment_intent.succeeded` completes a purchase, "
                        "`payment_intent.payment_failed` fails it, `charge.refunded` (in "
                        "full) refunds it, `charge.dispute.created` and "
                        "`charge.dispute.closed` tell of a dispute (one lost refunds it); "
                        "other events are acknowledged and ignored. An event delivered "
                        "twice is applied once.",
            parameters=[header_param("Stripe-Signature", string(),
                                     "Stripe's signature of the raw body.", required=True)],
            request_body=json_body({"type": "object",
                                    "description": "A Stripe event, as Stripe sends it."}),
        )},
        f"{API}/pictures/{{picture_id}}/original": {"get": operation(
            "getOriginal", "purchases", "Download a picture's original",
            {"302": response(
                "A redirect to a signed link to the original that expires soon.",
                headers={
                    "Location": {"description": "The signed, expiring download link.",
                                 "schema": string(format="uri")},
                    "Cache-Control": {"description": "`no-store`", "schema": string()},
                }),
             **problems(401, 403, 404)},
            description="For the owner and buyers whose purchase completed; others get "
                        "403.",
            security=SIGNED_IN, parameters=[PICTURE_ID],
        )},
        f"{API}/downloads/{{filename}}": {"get": operation(
            "downloadOriginal", "purchases", "A signed download link (local storage)",
            {"200": {
                "description": "The original image, as an attachment.",
                "content": {kind: {"schema": string(format="binary")}
                            for kind in IMAGE_FORMATS.values()},
                "headers": {"Content-Disposition": {
                    "description": "`attachment; filename=\"<filename>\"`",
                    "schema": string()}},
            },
             **problems(403, 404)},
            description="The link GET /api/v1/pictures/{picture_id}/original redirects "
                        "to when originals are in the local directory store, which signs "
                        "it (S3 signs and serves its own links). 403 when the link is not "
                        "the store's or has expired; the link is opaque to clients.",
            parameters=[
                path_param("filename", "The name the file is saved as (the picture id)."),
                query("key", string(), "The stored object."),
                query("expires", {"type": "integer"},
                      "When the link expires, in seconds since the Unix epoch."),
                query("signature", string(), "The link's signature."),
            ],
        )},
    }
