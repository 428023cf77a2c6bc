"""The purchases domain: a purchase from command to completion or refund, in the MariaDB ledger.

Money moves only on Stripe's verified word: a purchase completes on a
``payment_intent.succeeded`` webhook (turned into ``PaymentSucceeded`` by the edge), never
on the client's. Free pictures complete at once, without Stripe.

Money goes back on Stripe's word too. A seller's refund is final when Stripe's Refund object
says ``succeeded`` (localstripe, our local Stripe, never sends ``charge.refunded``, and real
Stripe says so at once for cards); a ``charge.refunded`` webhook, from that refund or one
made in Stripe's dashboard, is final as well, and whichever comes second finds the purchase
refunded and changes nothing. A dispute lost counts as a refund.

Stripe's failures are sorted by :func:`picasso.failures.is_transient`: transient ones are
raised for the runtime to retry; a permanent one on creating or confirming the PaymentIntent
fails the purchase with Stripe's reason, so it never stays pending and blocks the buyer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC

import stripe
import structlog
from motor.motor_asyncio import AsyncIOMotorDatabase

from agents.purchases.catalogue import Catalogue
from agents.purchases.gateway import Intent, PaymentDeclined, PaymentGateway
from agents.purchases.ledger import AlreadyOwned, Ledger, Purchase
from agents.purchases.views import PurchaseViews
from picasso.failpoints import failpoint
from picasso.failures import describe, is_transient
from picasso.metrics import PAYMENT_CENTS, PAYMENTS
from picasso.runtime import Rejected
from topics.envelope import CloudEvent, utc_now
from topics.purchases import (
    EXPIRE_PURCHASE,
    PAYMENT_DISPUTED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    PAYMENT_SUCCEEDED,
    PURCHASE_AWAITING_PAYMENT,
    PURCHASE_COMPLETED,
    PURCHASE_DISPUTED,
    PURCHASE_FAILED,
    PURCHASE_PICTURE,
    PURCHASE_REFUNDED,
    REFUND_PURCHASE,
    price_changed,
)
from topics.record import Record

log = structlog.get_logger()

SOURCE = "/picasso/agents/purchases"
EXPIRED_REASON = "payment not completed in time"
_REFUND_REASONS = PURCHASE_REFUNDED.properties["reason"]["enum"]
# How long a purchase waits for its picture to reach the catalogue (its PicturePublished
# comes on another topic and may be applied a moment after the edge accepted the purchase),
# before it is refused as a purchase of an unknown picture. The wait holds the command's
# partition; it only happens while the catalogue lags behind the pictures events.
PICTURE_WAIT_S = 10.0
# The events that tell an outcome of money, by the outcome the metrics name.
_PAYMENT_OUTCOMES = {PURCHASE_COMPLETED.type: "completed", PURCHASE_FAILED.type: "failed",
                     PURCHASE_REFUNDED.type: "refunded", PURCHASE_DISPUTED.type: "disputed"}


def _count_payment(event: CloudEvent) -> None:
    """Count an outcome of money in ``picasso_payments_total`` and its amount (a dispute's:
    the amount disputed). A redelivery that tells it again counts it again."""
    outcome = _PAYMENT_OUTCOMES.get(event.type)
    if outcome is None:
        return
    d = event.data
    currency = str(d.get("currency") or "").lower()
    PAYMENTS.labels(outcome, currency).inc()
    PAYMENT_CENTS.labels(outcome, currency).inc(d.get("disputed_cents", d.get("amount_cents"))
                                                or 0)


def _facts(p: Purchase) -> dict:
    return {
        "purchase_id": p.purchase_id, "picture_id": p.picture_id, "buyer_id": p.buyer_id,
        "seller_id": p.seller_id, "amount_cents": p.amount_cents, "currency": p.currency,
    }


@dataclass
class Purchases:
    """The purchases agent's logic over the ledger, Stripe and its own catalogue; it
    publishes every purchase it changes to the read models (:mod:`agents.purchases.views`)."""

    db: AsyncIOMotorDatabase
    ledger: Ledger
    gateway: PaymentGateway
    picture_wait_s: float = PICTURE_WAIT_S
    catalogue: Catalogue = field(init=False)
    views: PurchaseViews = field(init=False)

    def __post_init__(self) -> None:
        self.catalogue = Catalogue(self.db)
        self.views = PurchaseViews(self.db)

    async def handle(self, record: Record, message: CloudEvent) -> list[CloudEvent]:
        """Apply one command or payment fact; returns the events it causes.

        The purchase's read model is written from the ledger afterwards, also when the
        message is refused (a refund refused by Stripe was requested in the ledger) and on
        every redelivery, before the runtime records the message as applied."""
        handlers = {
            PURCHASE_PICTURE.type: self.purchase, REFUND_PURCHASE.type: self.refund,
            EXPIRE_PURCHASE.type: self.expire, PAYMENT_SUCCEEDED.type: self.paid,
            PAYMENT_FAILED.type: self.payment_failed, PAYMENT_REFUNDED.type: self.refunded,
            PAYMENT_DISPUTED.type: self.disputed,
        }
        handler = handlers.get(record.type)
        if handler is None:
            raise Rejected(f"the purchases agent does not handle {record.type}")
        try:
            events = await handler(message)
        except Rejected:
            await self.publish(message.data)
            raise
        await self.publish(message.data)
        for event in events:
            _count_payment(event)
        return events

    async def publish(self, d: dict) -> None:
        """Write the read model of the purchase ``d`` names, as the ledger holds it now."""
        purchase = (await self.ledger.get(d["purchase_id"], d["buyer_id"]) if d.get("buyer_id")
                    else await self.ledger.find(d["purchase_id"]))
        await self.views.publish(purchase)

    async def purchase(self, command: CloudEvent) -> list[CloudEvent]:
        """PurchasePicture: record it, create (and with a payment method, confirm) its
        PaymentIntent. Repeats resume where an earlier try stopped."""
        d = command.data
        picture = await self.catalogue.picture(d["picture_id"], self.picture_wait_s)
        if picture is None:
            raise Rejected(f"picture {d['picture_id']} is unknown: the purchases catalogue "
                           f"did not hear of it within {self.picture_wait_s:g} s")
        try:
            # The price is fixed here, once: a later change of price does not change it.
            purchase = await self.ledger.begin_purchase(
                command_id=command.id, purchase_id=d["purchase_id"],
                picture_id=d["picture_id"], buyer_id=d["buyer_id"],
                seller_id=picture["owner_id"], amount_cents=picture["price_cents"],
                currency=picture["currency"], idempotency_key=d.get("idempotency_key"),
            )
        except AlreadyOwned:
            raise Rejected(
                f"user {d['buyer_id']} has bought picture {d['picture_id']} already") from None
        await self.views.publish(purchase)  # the buyer sees it pending while Stripe answers
        if purchase.purchase_id != d["purchase_id"] or purchase.status not in (
                "pending", "awaiting_payment"):
            return []  # the same purchase, asked for again: nothing more to do
        payment_method = d.get("payment_method")
        if purchase.status == "pending":
            refusal = None
            if picture["status"] != "published":
                refusal = f"picture is {picture['status']} and cannot be bought"
            elif picture["owner_id"] == d["buyer_id"]:
                refusal = "nobody can buy their own picture"
            elif d.get("expected_price_cents", purchase.amount_cents) != purchase.amount_cents:
                # The buyer pinned the price they saw: a different one is not charged.
                refusal = price_changed(d["expected_price_cents"], purchase.amount_cents)
            if refusal:
                return await self._failed(purchase, refusal, f"refused-{command.id}")
            if purchase.amount_cents == 0:
                return await self._completed(purchase, f"free-{purchase.purchase_id}",
                                             picture["title"])
            try:
                intent = await self.gateway.create_intent(
                    purchase.purchase_id, purchase.amount_cents, purchase.currency,
                    {"purchase_id": purchase.purchase_id, "picture_id": purchase.picture_id,
                     "buyer_id": purchase.buyer_id,
                     # Stripe's webhook continues the buyer's trace (web.routes.purchases).
                     **{k: v for k, v in (("traceparent", command.traceparent),
                                          ("correlationid", command.correlationid)) if v}},
                    payment_method,
                )
            except stripe.StripeError as exc:
                return await self._stripe_refused(purchase, exc)
            failpoint("purchases.after_create_intent")
            # Published before anyone can pay through the intent (the client_secret is read
            # from the read model; with a payment method, it is confirmed below): every
            # charge Stripe tells of later finds its intent there (web.routes.purchases).
            await self.views.publish(await self.ledger.attach_payment_intent(
                purchase.purchase_id, purchase.buyer_id, intent.id, intent.client_secret))
        else:
            # Attached by an earlier try that stopped before confirming (Stripe or the
            # ledger failed in between), or the same purchase asked for again: confirm only
            # an intent that still waits for it.
            intent = await self.gateway.retrieve(purchase.payment_intent_id)
        awaiting = CloudEvent(type=PURCHASE_AWAITING_PAYMENT.type, subject=purchase.purchase_id,
                              data={**_facts(purchase), "payment_intent_id": intent.id},
                              source=SOURCE, id=f"awaiting-{purchase.purchase_id}")
        if payment_method and intent.status == "requires_confirmation":
            try:
                await self.gateway.confirm(intent.id)
            except PaymentDeclined as exc:
                return [awaiting, *await self._failed(purchase, exc.reason,
                                                      f"declined-{intent.id}")]
            except stripe.StripeError as exc:
                return [awaiting, *await self._stripe_refused(purchase, exc)]
        return [awaiting]

    async def _stripe_refused(self, purchase: Purchase, exc: stripe.StripeError
                              ) -> list[CloudEvent]:
        """A Stripe error while paying: transient ones go back to the runtime to be retried;
        a permanent one fails the purchase with Stripe's reason."""
        if is_transient(exc):
            raise exc
        log.warning("purchase_refused_by_stripe", purchase_id=purchase.purchase_id,
                    error=repr(exc))
        return await self._failed(purchase, describe(exc),
                                  f"stripe-refused-{purchase.purchase_id}")

    async def refund(self, command: CloudEvent) -> list[CloudEvent]:
        """RefundPurchase: the seller gives the money back. Final when Stripe's Refund says
        succeeded; a pending one is applied by its ``charge.refunded`` webhook."""
        d = command.data
        purchase = await self.ledger.get(d["purchase_id"], d["buyer_id"])
        if purchase is None or purchase.seller_id != d["seller_id"]:
            raise Rejected(f"purchase {d['purchase_id']} is not a sale of {d['seller_id']} to "
                           f"{d['buyer_id']}")
        if purchase.status == "refunded":
            return await self._refunded(purchase)  # done before (a redelivery): tell again
        if purchase.status != "completed":
            raise Rejected(f"purchase {purchase.purchase_id} is {purchase.status}; only a "
                           "completed purchase can be refunded")
        if purchase.amount_cents == 0 or not purchase.payment_intent_id:
            raise Rejected(f"purchase {purchase.purchase_id} was free: nothing to refund")
        await self.ledger.request_refund(purchase.purchase_id, purchase.buyer_id)
        try:
            result = await self.gateway.refund(purchase.payment_intent_id,
                                               purchase.purchase_id, purchase.amount_cents)
        except stripe.StripeError as exc:
            if is_transient(exc):
                raise
            raise Rejected(f"Stripe refused to refund purchase {purchase.purchase_id}: "
                           f"{describe(exc)}") from None
        if result.status in ("failed", "canceled"):
            raise Rejected(f"Stripe's refund {result.id} of purchase {purchase.purchase_id} "
                           f"is {result.status}")
        if result.status != "succeeded":
            log.info("refund_pending", purchase_id=purchase.purchase_id, refund_id=result.id,
                     status=result.status)
            return []
        await self.ledger.refund(purchase.purchase_id, purchase.buyer_id, result.id,
                                 result.amount_refunded_cents, "refunded_by_seller")
        return await self._refunded(purchase)

    async def expire(self, command: CloudEvent) -> list[CloudEvent]:
        """ExpirePurchase: cancel the PaymentIntent at Stripe, then fail the purchase if it
        still awaits payment. An intent Stripe will not cancel because it succeeded or is
        processing is left to its webhook, which completes or fails the purchase."""
        d = command.data
        purchase = await self.ledger.get(d["purchase_id"], d["buyer_id"])
        if purchase is None:
            raise Rejected(f"no purchase {d['purchase_id']} of {d['buyer_id']} to expire")
        if purchase.status == "failed" and purchase.failure_reason == EXPIRED_REASON:
            return [self._failed_event(purchase, EXPIRED_REASON)]  # a redelivery: tell again
        if purchase.status != "awaiting_payment" or not purchase.payment_intent_id:
            return []
        intent: Intent = await self.gateway.cancel(purchase.payment_intent_id)
        if intent.status != "canceled":
            log.info("expiry_left_to_webhook", purchase_id=purchase.purchase_id,
                     intent_status=intent.status)
            return []
        if not await self.ledger.expire(purchase.purchase_id, purchase.buyer_id,
                                        EXPIRED_REASON):
            current = await self.ledger.get(purchase.purchase_id, purchase.buyer_id)
            if current is None or current.failure_reason != EXPIRED_REASON:
                return []  # moved on meanwhile (completed, or failed for another reason)
        return [self._failed_event(purchase, EXPIRED_REASON)]

    async def paid(self, event: CloudEvent) -> list[CloudEvent]:
        purchase = await self._purchase_of(event)
        return await self._completed(purchase, event.id, None,
                                     amount_cents=event.data.get("amount_cents"),
                                     payment_intent_id=event.data["payment_intent_id"])

    async def payment_failed(self, event: CloudEvent) -> list[CloudEvent]:
        purchase = await self._purchase_of(event)
        return await self._failed(purchase, event.data["reason"], event.id)

    async def refunded(self, event: CloudEvent) -> list[CloudEvent]:
        """PaymentRefunded (``charge.refunded``): money went back, from our refund or one
        made in Stripe's dashboard."""
        purchase = await self._purchase_of(event)
        await self.ledger.refund(purchase.purchase_id, purchase.buyer_id, event.id,
                                 event.data["amount_cents"], "refunded_at_stripe")
        return await self._refunded(purchase)

    async def disputed(self, event: CloudEvent) -> list[CloudEvent]:
        """PaymentDisputed: told as PurchaseDisputed; a dispute lost is also a refund."""
        purchase = await self._purchase_of(event)
        d = event.data
        outcome = d.get("outcome") or ""
        await self.ledger.record_dispute(purchase.purchase_id, purchase.buyer_id, event.id,
                                         d["state"], d["amount_cents"],
                                         outcome or d.get("reason") or "")
        data = {**_facts(purchase), "title": await self._title(purchase.picture_id),
                "dispute_id": d["dispute_id"], "state": d["state"],
                "disputed_cents": d["amount_cents"]}
        data.update({k: d[k] for k in ("outcome", "reason") if d.get(k)})
        told = [event.caused(PURCHASE_DISPUTED.type, data, SOURCE)]
        if d["state"] == "closed" and outcome == "lost":
            await self.ledger.refund(purchase.purchase_id, purchase.buyer_id,
                                     f"{event.id}/lost", purchase.amount_cents, "dispute_lost")
            told += await self._refunded(purchase)
        return told

    async def _purchase_of(self, event: CloudEvent) -> Purchase:
        d = event.data
        purchase = (await self.ledger.get(d["purchase_id"], d["buyer_id"]) if d.get("buyer_id")
                    else await self.ledger.find(d["purchase_id"]))
        if purchase is None:
            raise Rejected(f"no purchase {d['purchase_id']} for this payment")
        if d.get("payment_intent_id") != purchase.payment_intent_id:
            raise Rejected(f"payment {d.get('payment_intent_id')} is not the one of purchase "
                           f"{purchase.purchase_id}")
        return purchase

    async def _completed(self, purchase: Purchase, payment_id: str, title: str | None,
                         **payment: object) -> list[CloudEvent]:
        await self.ledger.complete(purchase.purchase_id, purchase.buyer_id, payment_id,
                                   **payment)
        # Announce by the ledger's state, not by whether this call completed it: after a
        # crash between the two, the redelivery must still announce (same event id).
        purchase = await self.ledger.get(purchase.purchase_id, purchase.buyer_id)
        if purchase is None or purchase.status != "completed":
            return []
        if title is None:
            title = await self._title(purchase.picture_id)
        data = {**_facts(purchase), "title": title, "completed_at": utc_now()}
        return [CloudEvent(type=PURCHASE_COMPLETED.type, subject=purchase.purchase_id,
                           data=data, source=SOURCE, id=f"completed-{purchase.purchase_id}")]

    async def _failed(self, purchase: Purchase, reason: str,
                      payment_id: str) -> list[CloudEvent]:
        await self.ledger.fail(purchase.purchase_id, purchase.buyer_id, reason, payment_id)
        return [self._failed_event(purchase, reason)]

    @staticmethod
    def _failed_event(purchase: Purchase, reason: str) -> CloudEvent:
        return CloudEvent(type=PURCHASE_FAILED.type, subject=purchase.purchase_id,
                          data={**_facts(purchase), "reason": reason}, source=SOURCE,
                          id=f"failed-{purchase.purchase_id}")

    async def _refunded(self, purchase: Purchase) -> list[CloudEvent]:
        """PurchaseRefunded, told from the ledger's state (one id per purchase), so that a
        redelivery after a crash tells it again and a second refund fact tells nothing new."""
        current = await self.ledger.get(purchase.purchase_id, purchase.buyer_id)
        if current is None or current.status != "refunded":
            return []
        payments = await self.ledger.payments_of(current.purchase_id, current.buyer_id)
        applied = next((p for p in payments if p.kind == "refunded"), None)
        reason = applied.note if applied and applied.note in _REFUND_REASONS \
            else "refunded_at_stripe"
        when = applied.received_at if applied else current.updated_at
        data = {**_facts(current), "title": await self._title(current.picture_id),
                "reason": reason,
                "refunded_at": when.astimezone(UTC).isoformat(timespec="milliseconds")}
        return [CloudEvent(type=PURCHASE_REFUNDED.type, subject=current.purchase_id, data=data,
                           source=SOURCE, id=f"refunded-{current.purchase_id}")]

    async def _title(self, picture_id: str) -> str:
        return await self.catalogue.title(picture_id)
