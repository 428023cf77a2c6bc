"""Purchase records: buying an original, refunding it, and the payment facts Stripe tells us."""

from __future__ import annotations

from topics import PAYMENTS_EVENTS, PURCHASES_COMMANDS, PURCHASES_EVENTS
from topics.pictures import PRICE_CENTS, TITLE
from topics.record import COUNT, CURRENCY, ID, TIMESTAMP, Record

# Where a purchase is: pending (taken, no PaymentIntent yet), awaiting_payment, then
# completed, failed or refunded. The purchases service keeps them; the edge shows them.
STATUSES: tuple[str, ...] = ("pending", "awaiting_payment", "completed", "failed", "refunded")
PAYMENT_METHOD_MAX = 255  # characters of a Stripe payment method id
IDEMPOTENCY_KEY_MAX = 255  # characters of a buyer's Idempotency-Key

_AMOUNT = {"amount_cents": COUNT, "currency": CURRENCY}

PURCHASE_PICTURE = Record(
    "purchases", "PurchasePicture", PURCHASES_COMMANDS, "command",
    "A user buys the full-size original of a picture; the price is the picture's price "
    "when the purchases agent takes the command. payment_method confirms at once. With "
    "expected_price_cents, a different price fails the purchase before any charge.",
    {
        "purchase_id": ID, "picture_id": ID, "buyer_id": ID,
        "payment_method": {"type": "string", "maxLength": PAYMENT_METHOD_MAX},
        "expected_price_cents": {
            **PRICE_CENTS, "description": "the price the buyer saw, in the picture's currency"},
        "idempotency_key": {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
    },
    ("purchase_id", "picture_id", "buyer_id"),
)


def price_changed(expected_cents: int, price_cents: int) -> str:
    """Why a purchase whose buyer saw another price fails (the edge's and the agent's words)."""
    return (f"the price changed: it is {price_cents} cents, not the {expected_cents} cents "
            "the buyer saw; nothing was charged")


def decline_reason(message: str | None, code: str | None, decline_code: str | None) -> str:
    """Stripe's words for a refused payment, with its codes, e.g.
    ``Your card has insufficient funds. (card_declined: insufficient_funds)``: the reason of
    PaymentFailed (told by the edge from Stripe's webhook) and of PurchaseFailed (told by the
    purchases service when Stripe refuses a confirmation), so a buyer reads the same words."""
    codes = ": ".join(dict.fromkeys(c for c in (code, decline_code) if c))
    text = message or "the payment failed"
    return f"{text} ({codes})" if codes else text


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
REFUND_PURCHASE = Record(
    "purchases", "RefundPurchase", PURCHASES_COMMANDS, "command",
    "The seller gives the buyer their money back for a completed purchase; the purchases "
    "agent asks Stripe for the refund (one per purchase, whatever the redeliveries).",
    {"purchase_id": ID, "buyer_id": ID, "seller_id": ID},
    ("purchase_id", "buyer_id", "seller_id"),
)
EXPIRE_PURCHASE = Record(
    "purchases", "ExpirePurchase", PURCHASES_COMMANDS, "command",
    "A purchase awaited its payment longer than PURCHASE_PAYMENT_TIMEOUT_S: cancel its "
    "PaymentIntent and fail it. Sent by the purchases service's timer; the id derives from "
    "the purchase, so several workers sweeping at once send one command.",
    {"purchase_id": ID, "buyer_id": ID},
    ("purchase_id", "buyer_id"),
)
_REFUND_REASONS = ["refunded_by_seller", "refunded_at_stripe", "dispute_lost"]
PURCHASE_REFUNDED = Record(
    "purchases", "PurchaseRefunded", PURCHASES_EVENTS, "event",
    "The payment went back to the buyer (a refund, or a dispute the seller lost): the licence "
    "is withdrawn and the sale no longer counts in the seller's totals. Once per purchase.",
    {**_PURCHASE, "title": TITLE, "reason": {"enum": _REFUND_REASONS},
     "refunded_at": TIMESTAMP},
    (*_PURCHASE, "reason"),
)
PURCHASE_DISPUTED = Record(
    "purchases", "PurchaseDisputed", PURCHASES_EVENTS, "event",
    "The buyer disputed the payment with their bank (state opened), or the dispute ended "
    "(state closed, outcome is Stripe's final dispute status: won, lost, warning_closed, "
    "prevented). A lost dispute is followed by PurchaseRefunded.",
    {**_PURCHASE, "title": TITLE, "dispute_id": {"type": "string", "minLength": 1},
     "state": {"enum": ["opened", "closed"]}, "outcome": {"type": "string"},
     "reason": {"type": "string"}, "disputed_cents": COUNT},
    (*_PURCHASE, "dispute_id", "state"),
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
    "Stripe's verified charge.refunded webhook; amount_cents is the charge's amount refunded "
    "so far (a partial refund is less than the price). The message id is Stripe's event id.",
    {**_PAYMENT, "charge_id": {"type": "string"}}, ("purchase_id", "payment_intent_id",
                                                      "amount_cents"),
)
PAYMENT_DISPUTED = Record(
    "payments", "PaymentDisputed", PAYMENTS_EVENTS, "event",
    "Stripe's verified charge.dispute.created (state opened) or charge.dispute.closed (state "
    "closed, outcome the dispute's final status) webhook. The message id is Stripe's event id.",
    {**_PAYMENT, "dispute_id": {"type": "string", "minLength": 1},
     "state": {"enum": ["opened", "closed"]}, "outcome": {"type": "string"},
     "reason": {"type": "string"}},
    ("purchase_id", "payment_intent_id", "dispute_id", "state", "amount_cents"),
)

RECORDS = (
    PURCHASE_PICTURE, REFUND_PURCHASE, EXPIRE_PURCHASE, PURCHASE_AWAITING_PAYMENT,
    PURCHASE_COMPLETED, PURCHASE_FAILED, PURCHASE_REFUNDED, PURCHASE_DISPUTED,
    PAYMENT_SUCCEEDED, PAYMENT_FAILED, PAYMENT_REFUNDED, PAYMENT_DISPUTED,
)
