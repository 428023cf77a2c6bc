"""Stripe, through the official SDK: one PaymentIntent per purchase, at most one refund.

The same code talks to api.stripe.com in production and to localstripe locally; only
``STRIPE_API_BASE`` and the keys differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from picasso.settings import Settings
from topics.purchases import decline_reason


class PaymentDeclined(Exception):
    """Stripe refused the payment; ``reason`` is Stripe's own message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Intent:
    id: str
    client_secret: str
    status: str


def _intent(obj: stripe.PaymentIntent) -> Intent:
    return Intent(obj.id, obj.client_secret or "", obj.status)


@dataclass(frozen=True)
class RefundResult:
    """Stripe's refund of a purchase's payment: its id, status (succeeded, pending,
    requires_action, failed, canceled) and the total refunded on the intent so far."""

    id: str
    status: str
    amount_refunded_cents: int


# Refunds that still give, or already gave, the money back (failed and canceled do not).
_LIVE_REFUNDS = ("succeeded", "pending", "requires_action")


class PaymentGateway:
    """Creates, confirms and cancels PaymentIntents, and refunds them."""

    def __init__(self, settings: Settings) -> None:
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        self.client = stripe.StripeClient(
            settings.stripe_secret_key, base_addresses=base, http_client=stripe.HTTPXClient(),
            max_network_retries=2,
        )

    async def create_intent(self, purchase_id: str, amount_cents: int, currency: str,
                            metadata: dict[str, str], payment_method: str | None) -> Intent:
        """Create the purchase's PaymentIntent, unconfirmed.

        The idempotency key is derived from the purchase id, so a retry after a crash gets
        the same intent from Stripe. Confirming is a separate step on the recorded intent, so
        even a server that ignores idempotency keys can never charge twice.
        """
        params = {
            "amount": amount_cents, "currency": currency, "metadata": metadata,
            "payment_method_types": ["card"],
        }
        if payment_method:
            params["payment_method"] = payment_method
        created = await self.client.v1.payment_intents.create_async(
            params=params,
            options={"idempotency_key": f"picasso-purchase-{purchase_id}"},
        )
        return _intent(created)

    async def confirm(self, intent_id: str) -> Intent:
        """Confirm with the payment method given at creation; raises PaymentDeclined."""
        try:
            confirmed = await self.client.v1.payment_intents.confirm_async(intent_id)
        except stripe.CardError as exc:
            raise PaymentDeclined(decline_reason(
                exc.user_message or str(exc), exc.code,
                getattr(exc.error, "decline_code", None))) from None
        except stripe.InvalidRequestError as exc:
            if "status of succeeded" in str(exc) or "already succeeded" in str(exc):
                return await self.retrieve(intent_id)  # confirmed before a crash: fine
            raise PaymentDeclined(exc.user_message or str(exc)) from None
        if confirmed.status in ("requires_payment_method", "canceled"):
            error = confirmed.last_payment_error
            raise PaymentDeclined(decline_reason(
                (error and error.message) or "the card was declined",
                error and error.code, error and getattr(error, "decline_code", None)))
        return _intent(confirmed)

    async def retrieve(self, intent_id: str) -> Intent:
        return _intent(await self.client.v1.payment_intents.retrieve_async(intent_id))

    async def cancel(self, intent_id: str) -> Intent:
        """Cancel an intent that has not been paid, so that it can no longer be.

        Returns the intent as Stripe holds it afterwards: ``canceled``, or, when Stripe
        refused because the intent has moved on (succeeded, processing, canceled before),
        its current state, which the caller judges. Other refusals raise.
        """
        try:
            return _intent(await self.client.v1.payment_intents.cancel_async(intent_id))
        except stripe.InvalidRequestError:
            current = await self.retrieve(intent_id)
            if current.status in ("canceled", "succeeded", "processing"):
                return current
            raise

    async def refund(self, intent_id: str, purchase_id: str, amount_cents: int) -> RefundResult:
        """Give a purchase's payment back, in full, once.

        The idempotency key derives from the purchase id, so a retried call gets the same
        Refund from Stripe. Refunds already made on the intent (an earlier try, or one from
        Stripe's dashboard) are counted first and only what is missing is refunded: that
        also keeps a server that ignores idempotency keys (localstripe) from refunding twice.
        """
        listed = await self.client.v1.refunds.list_async(params={"payment_intent": intent_id})
        live = [r for r in listed.data if r.status in _LIVE_REFUNDS]
        given = sum(r.amount for r in live)
        if live and given >= amount_cents:
            newest = max(live, key=lambda r: r.created)
            return RefundResult(newest.id, newest.status, given)
        created = await self.client.v1.refunds.create_async(
            params={"payment_intent": intent_id, "amount": amount_cents - given,
                    "metadata": {"purchase_id": purchase_id}},
            options={"idempotency_key": f"picasso-refund-{purchase_id}"},
        )
        return RefundResult(created.id, created.status or "pending",
                            given + (created.amount or 0))
