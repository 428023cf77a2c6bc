"""The purchases domain: a purchase from command to completion, in the MariaDB ledger.

Money moves only on Stripe's verified word: a purchase completes on a
``payment_intent.succeeded`` webhook (turned into ``PaymentSucceeded`` by the edge), never
on the client's. Free pictures complete at once, without Stripe.
"""

from __future__ import annotations

from dataclasses import dataclass

from motor.motor_asyncio import AsyncIOMotorDatabase

from agents.purchases.gateway import PaymentDeclined, PaymentGateway
from agents.purchases.ledger import AlreadyOwned, Ledger, Purchase
from agents.runtime import Rejected
from picasso.failpoints import failpoint
from picasso.mongo import PICTURES
from topics.envelope import CloudEvent, utc_now
from topics.purchases import (
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    PURCHASE_AWAITING_PAYMENT,
    PURCHASE_COMPLETED,
    PURCHASE_FAILED,
    PURCHASE_PICTURE,
)
from topics.record import Record

SOURCE = "/picasso/agents/purchases"


def _facts(p: Purchase) -> dict:
    return {
        "purchase_id": p.purchase_id, "picture_id": p.picture_id, "buyer_id": p.buyer_id,
        "seller_id": p.seller_id, "amount_cents": p.amount_cents, "currency": p.currency,
    }


@dataclass
class Purchases:
    """The purchases agent's logic over the ledger, Stripe and the pictures read model."""

    db: AsyncIOMotorDatabase
    ledger: Ledger
    gateway: PaymentGateway

    async def handle(self, record: Record, message: CloudEvent) -> list[CloudEvent]:
        if record is PURCHASE_PICTURE:
            return await self.purchase(message)
        if record is PAYMENT_SUCCEEDED:
            return await self.paid(message)
        if record is PAYMENT_FAILED:
            return await self.payment_failed(message)
        raise Rejected(f"the purchases agent does not handle {record.type}")

    async def purchase(self, command: CloudEvent) -> list[CloudEvent]:
        d = command.data
        picture = await self.db[PICTURES].find_one({"_id": d["picture_id"]})
        if picture is None:
            raise Rejected(f"picture {d['picture_id']} does not exist")
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
        if purchase.purchase_id != d["purchase_id"] or purchase.status != "pending":
            return []  # the same purchase, asked for again: nothing more to do
        refusal = None
        if picture["status"] != "published":
            refusal = f"picture is {picture['status']} and cannot be bought"
        elif picture["owner_id"] == d["buyer_id"]:
            refusal = "nobody can buy their own picture"
        if refusal:
            return await self._failed(purchase, refusal, f"refused-{command.id}")
        title = picture["title"]
        if purchase.amount_cents == 0:
            return await self._completed(purchase, f"free-{purchase.purchase_id}", title)
        intent = await self.gateway.create_intent(
            purchase.purchase_id, purchase.amount_cents, purchase.currency,
            {"purchase_id": purchase.purchase_id, "picture_id": purchase.picture_id,
             "buyer_id": purchase.buyer_id},
            d.get("payment_method"),
        )
        failpoint("purchases.after_create_intent")
        await self.ledger.attach_payment_intent(
            purchase.purchase_id, purchase.buyer_id, intent.id, intent.client_secret)
        awaiting = command.caused(PURCHASE_AWAITING_PAYMENT.type,
                                  {**_facts(purchase), "payment_intent_id": intent.id}, SOURCE)
        if d.get("payment_method"):
            try:
                await self.gateway.confirm(intent.id)
            except PaymentDeclined as exc:
                return [awaiting, *await self._failed(purchase, exc.reason,
                                                      f"declined-{intent.id}")]
        return [awaiting]

    async def paid(self, event: CloudEvent) -> list[CloudEvent]:
        purchase = await self._purchase_of(event)
        return await self._completed(purchase, event.id, None,
                                     amount_cents=event.data.get("amount_cents"),
                                     payment_intent_id=event.data["payment_intent_id"])

    async def payment_failed(self, event: CloudEvent) -> list[CloudEvent]:
        purchase = await self._purchase_of(event)
        return await self._failed(purchase, event.data["reason"], event.id)

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
            picture = await self.db[PICTURES].find_one({"_id": purchase.picture_id},
                                                       {"title": 1})
            title = picture["title"] if picture else purchase.picture_id
        data = {**_facts(purchase), "title": title, "completed_at": utc_now()}
        return [CloudEvent(type=PURCHASE_COMPLETED.type, subject=purchase.purchase_id,
                           data=data, source=SOURCE, id=f"completed-{purchase.purchase_id}")]

    async def _failed(self, purchase: Purchase, reason: str,
                      payment_id: str) -> list[CloudEvent]:
        await self.ledger.fail(purchase.purchase_id, purchase.buyer_id, reason, payment_id)
        return [CloudEvent(type=PURCHASE_FAILED.type, subject=purchase.purchase_id,
                           data={**_facts(purchase), "reason": reason}, source=SOURCE,
                           id=f"failed-{purchase.purchase_id}")]
