"""Purchase records: buying an original, and the payment facts Stripe tells us."""

from __future__ import annotations

from topics import PAYMENTS_EVENTS, PURCHASES_COMMANDS, PURCHASES_EVENTS
from topics.record import COUNT, CURRENCY, ID, TITLE, Record

_AMOUNT = {"amount_cents": COUNT, "currency": CURRENCY}

PURCHASE_PICTURE = Record(
    "purchases", "PurchasePicture", PURCHASES_COMMANDS, "command",
    "A user buys the full-size original of a picture; the price is the picture's price "
    "when the purchases agent takes the command. payment_method confirms at once.",
    {
        "purchase_id": ID, "picture_id": ID, "buyer_id": ID,
        "payment_method": {"type": "string", "maxLength": 255},
        "idempotency_key": {"type": "string", "maxLength": 255},
    },
    ("purchase_id", "picture_id", "buyer_id"),
)
_PURCHASE = {"purchase_id": ID, "picture_id": ID, "buyer_id": ID, "seller_id": ID, **_AMOUNT}
PURCHASE_AWAITING_PAYMENT = Record(
    "purchases", "PurchaseAwaitingPayment", PURCHASES_EVENTS, "event",
    "A PaymentIntent exists; the buyer's client pays with its client secret.",
    {**_PURCHASE, "payment_intent_id": {"type": "string"}},
    (*_PURCHASE, "payment_intent_id"),
)
PURCHASE_COMPLETED = Record(
    "purchases", "PurchaseCompleted", PURCHASES_EVENTS, "event",
    "Payment arrived (or the picture was free): the buyer may download the original. Carries "
    "what a receipt and a sale notice need.",
    {**_PURCHASE, "title": TITLE, "completed_at": {"type": "string", "format": "date-time"}},
    tuple(_PURCHASE),
)
PURCHASE_FAILED = Record(
    "purchases", "PurchaseFailed", PURCHASES_EVENTS, "event",
    "The purchase cannot complete; reason says why (Stripe's words for a declined card).",
    {**_PURCHASE, "reason": {"type": "string"}},
    ("purchase_id", "picture_id", "buyer_id", "reason"),
)
PURCHASE_REFUNDED = Record(
    "purchases", "PurchaseRefunded", PURCHASES_EVENTS, "event",
    "The payment was refunded; the licence is withdrawn.",
    dict(_PURCHASE), tuple(_PURCHASE),
)

_PAYMENT = {
    "purchase_id": ID, "buyer_id": ID, "payment_intent_id": {"type": "string"}, **_AMOUNT,
}
PAYMENT_SUCCEEDED = Record(
    "payments", "PaymentSucceeded", PAYMENTS_EVENTS, "event",
    "Stripe's verified payment_intent.succeeded webhook; the message id is Stripe's event id.",
    _PAYMENT, ("purchase_id", "payment_intent_id"),
)
PAYMENT_FAILED = Record(
    "payments", "PaymentFailed", PAYMENTS_EVENTS, "event",
    "Stripe's verified payment_intent.payment_failed webhook.",
    {**_PAYMENT, "reason": {"type": "string"}}, ("purchase_id", "payment_intent_id", "reason"),
)
PAYMENT_REFUNDED = Record(
    "payments", "PaymentRefunded", PAYMENTS_EVENTS, "event",
    "Stripe's verified charge.refunded webhook.",
    _PAYMENT, ("purchase_id", "payment_intent_id"),
)

RECORDS = (
    PURCHASE_PICTURE, PURCHASE_AWAITING_PAYMENT, PURCHASE_COMPLETED, PURCHASE_FAILED,
    PURCHASE_REFUNDED, PAYMENT_SUCCEEDED, PAYMENT_FAILED, PAYMENT_REFUNDED,
)
